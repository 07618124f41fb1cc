//! `loadtest --scenario config/loadtest/<name>.toml [--client async|light] [--target URL --admin-token T] [--out DIR]`
//!
//! Exit codes: 0 every target met; 1 a target missed (one line names each);
//! 2 the run could not be carried out.

/// mimalloc instead of glibc's malloc: a busy media worker allocates and
/// frees a packet's buffers on its own thread all day, and glibc's
/// per-thread arena grew and shrank its heap under it (`mprotect` and page
/// faults, about 3 % of a worker in 1:1 visits; docs/benchmarks.md). Used by
/// the in-process SFU's workers, as in `parley`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use loadtest::run::{Options, run};
use loadtest::scenario::{ClientKind, Scenario};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Parley load test: runs a scenario and checks its targets")]
struct Args {
    /// Scenario file (TOML), e.g. config/loadtest/smoke.toml.
    #[arg(long)]
    scenario: PathBuf,
    /// A running Parley's base URL (e.g. http://127.0.0.1:8080); without
    /// it the harness starts Parley in this process.
    #[arg(long, requires = "admin_token")]
    target: Option<String>,
    /// The running Parley's admin token (with --target).
    #[arg(long)]
    admin_token: Option<String>,
    /// Output directory; default target/loadtest/<scenario>-<time>/.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Jurisdiction files for the in-process Parley.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/jurisdictions"))]
    jurisdictions: PathBuf,
    /// Overrides the scenario's `duration_s` (seconds), e.g. a short soak.
    #[arg(long)]
    duration_s: Option<f64>,
    /// The WebRTC client of the load clients, overriding the scenario's
    /// `[run] client`: `async` (webrtc-rs, a task per connection) or
    /// `light` (sans-IO `rtc` connections multiplexed on a few threads).
    #[arg(long, value_enum)]
    client: Option<ClientKind>,
    /// Overrides the scenario's `sfu_coalesce_us`: how long, in µs, a busy
    /// in-process SFU worker gathers packets before its next turn (0: off).
    #[arg(long, value_parser = coalescing)]
    sfu_coalesce_us: Option<parley_sfu::engine::coalescing::Coalescing>,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

fn coalescing(text: &str) -> Result<parley_sfu::engine::coalescing::Coalescing, String> {
    let us: u64 = text
        .parse()
        .map_err(|e| format!("not a number of µs: {e}"))?;
    parley_sfu::engine::coalescing::Coalescing::new(us).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let loaded = Scenario::load(&args.scenario).and_then(|s| match args.duration_s {
        Some(d) => s.with_duration(d, &args.scenario),
        None => Ok(s),
    });
    let scenario = match loaded {
        Ok(s) => {
            let s = match args.client {
                Some(c) => s.with_client(c),
                None => s,
            };
            match args.sfu_coalesce_us {
                Some(c) => s.with_sfu_coalescing(c),
                None => s,
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| loadtest::output::default_dir(&scenario.name));
    let opts = Options {
        scenario,
        scenario_file: args.scenario.display().to_string(),
        remote: args.target.zip(args.admin_token),
        jurisdictions: args.jurisdictions,
        progress: !args.quiet,
    };
    let report = match runtime.block_on(run(opts)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!("{}", report.table());
    if let Err(e) = loadtest::output::write(&report, &out) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    println!("report: {}/report.md and report.json", out.display());
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        for line in report.missed() {
            eprintln!("{line}");
        }
        ExitCode::from(1)
    }
}
