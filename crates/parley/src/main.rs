//! `parley`: the operator's command. `parley up` starts every service in one
//! process; the other subcommands check configuration, explain policy and
//! verify the audit log.

mod config;
mod sfu_node;

use clap::{Parser, Subcommand};
use config::{DEFAULT_CONFIG, Deployment};
use parley_policy::SessionKind;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "parley",
    version,
    about = "Secure video contact for people in custody"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start all services in one process and print the URL to open.
    Up {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// HTTP listen address (overrides the file), e.g. 127.0.0.1:8080.
        #[arg(long)]
        http: Option<SocketAddr>,
        /// Data directory for the SQLite database and keys (overrides the file).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Run the SFU alone, controlled by a signaling service elsewhere.
    Sfu {
        #[arg(long, default_value = sfu_node::DEFAULT_NODE_CONFIG)]
        config: PathBuf,
    },
    /// Start like `up`, then create a demo visit starting now and print the
    /// two join links (family and detainee kiosk) and the officer console.
    Demo {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// HTTP listen address (overrides the file), e.g. 127.0.0.1:8080.
        #[arg(long)]
        http: Option<SocketAddr>,
        /// Data directory for the SQLite database and keys (overrides the file).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Policy commands.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Audit log commands.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the deployment file and every jurisdiction file it names.
    Check {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Print the recording/monitoring decision for a kind of session, with its rule ids.
    Explain {
        #[arg(long)]
        jurisdiction: String,
        #[arg(long)]
        kind: SessionKind,
        /// Assume every participant consented to recording.
        #[arg(long)]
        consent: bool,
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the hash chain of the audit log; non-zero exit naming the first broken entry.
    Verify {
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up { config, http, data } => run_async(up(config, http, data, false)),
        Command::Demo { config, http, data } => run_async(up(config, http, data, true)),
        Command::Sfu { config } => run_async(sfu_node::run(config)),
        Command::Config {
            command: ConfigCommand::Check { config },
        } => config_check(&config),
        Command::Policy {
            command:
                PolicyCommand::Explain {
                    jurisdiction,
                    kind,
                    consent,
                    config,
                },
        } => policy_explain(&config, &jurisdiction, kind, consent),
        Command::Audit {
            command: AuditCommand::Verify { data },
        } => run_async(audit_verify(data)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("parley: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_async<F: std::future::Future<Output = Result<(), String>>>(f: F) -> Result<(), String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?
        .block_on(f)
}

fn config_check(path: &Path) -> Result<(), String> {
    let d = Deployment::load(path).map_err(|e| e.to_string())?;
    println!(
        "{}: ok ({} jurisdictions: {})",
        d.path.display(),
        d.jurisdictions.len(),
        d.jurisdictions.ids().join(", ")
    );
    Ok(())
}

fn policy_explain(
    path: &Path,
    jurisdiction: &str,
    kind: SessionKind,
    consent: bool,
) -> Result<(), String> {
    let d = Deployment::load(path).map_err(|e| e.to_string())?;
    let j = d.jurisdictions.get(jurisdiction).ok_or_else(|| {
        format!(
            "no jurisdiction `{jurisdiction}` in {}; loaded: {}",
            path.display(),
            d.jurisdictions.ids().join(", ")
        )
    })?;
    let participants = [parley_policy::Role::Detainee, parley_policy::Role::Visitor].map(|role| {
        parley_policy::Participant {
            role,
            consented_to_recording: consent,
        }
    });
    let decision = parley_policy::decide(j, kind, &participants, chrono::Utc::now());
    println!("{}", decision.explain());
    Ok(())
}

async fn audit_verify(data: PathBuf) -> Result<(), String> {
    use parley_signaling::store::{DB_FILE, Store, audit};
    let db = data.join(DB_FILE);
    if !db.exists() {
        return Err(format!(
            "no database at {}; give the data directory with --data",
            db.display()
        ));
    }
    let store = Store::open(&data).await.map_err(|e| e.to_string())?;
    let result = audit::verify(store.pool()).await;
    store.close().await;
    match result {
        Ok(summary) => {
            println!(
                "audit log intact: {} entries; head {}",
                summary.entries, summary.head_hash
            );
            Ok(())
        }
        Err(e) => Err(format!("{}: {e}", db.display())),
    }
}

/// `parley up`; with `demo`, also seeds a demo visit and prints its links.
async fn up(
    config: PathBuf,
    http: Option<SocketAddr>,
    data: Option<PathBuf>,
    demo: bool,
) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let d = Deployment::load(&config).map_err(|e| e.to_string())?;
    let signaling = parley_signaling::SignalingConfig {
        http: http.unwrap_or(d.file.server.http),
        public_url: d.file.server.public_url.clone(),
        data_dir: data.unwrap_or_else(|| d.file.storage.data_dir.clone()),
        jurisdictions: d.jurisdictions.clone(),
        join_token_leeway_seconds: d.file.tokens.join_token_leeway_seconds,
        media: d.file.sfu.as_ref().map(config::SfuSection::media_server),
    };
    let running = parley_signaling::start(&signaling)
        .await
        .map_err(|e| e.to_string())?;
    let url = d
        .file
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}/", running.addr));
    println!("Parley is running.");
    println!("  Open:          {url}");
    println!("  API:           {}openapi.json", with_slash(&url));
    println!(
        "  Data:          {} (SQLite)",
        running.state.store.path().display()
    );
    println!("  Jurisdictions: {}", d.jurisdictions.ids().join(", "));
    if let Some(sfu) = &running.state.media {
        let addrs: Vec<String> = sfu.udp_addrs().iter().map(|a| a.to_string()).collect();
        println!("  Media (UDP):   {}", addrs.join(", "));
    }
    if let Some(remote) = d.file.sfu.as_ref().and_then(|s| s.remote.as_ref()) {
        println!("  Media:         SFU at {remote} (parley sfu)");
    }
    match &running.bootstrap.new_admin_token {
        Some(token) => println!(
            "  Admin token:   {token}\n                 (shown once; also saved in {})",
            running.bootstrap.admin_token_file.display()
        ),
        None => println!(
            "  Admin token:   in {}",
            running.bootstrap.admin_token_file.display()
        ),
    }
    if demo {
        let admin = match &running.bootstrap.new_admin_token {
            Some(token) => token.clone(),
            None => std::fs::read_to_string(&running.bootstrap.admin_token_file)
                .map(|t| t.trim().to_string())
                .map_err(|e| {
                    format!(
                        "cannot read {}: {e}",
                        running.bootstrap.admin_token_file.display()
                    )
                })?,
        };
        let visit = parley_signaling::demo::seed(&running.state, &admin)
            .await
            .map_err(|e| e.to_string())?;
        print_demo(&visit);
    }
    println!("Press Ctrl-C to stop.");
    let state = running.state.clone();
    tokio::select! {
        r = running.task => {
            state.store.close().await;
            return match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("the HTTP server stopped: {e}")),
                Err(e) => Err(format!("the HTTP server task failed: {e}")),
            };
        }
        _ = shutdown_signal() => {}
    }
    eprintln!("parley: stopping");
    state.store.close().await;
    Ok(())
}

fn print_demo(visit: &parley_signaling::demo::DemoVisit) {
    println!(
        "Demo visit {} from {} to {} (UTC). Open each link in its own browser window:",
        visit.session_id,
        visit.starts_at.format("%H:%M:%S"),
        visit.ends_at.format("%H:%M:%S")
    );
    println!("  Family:        {}", visit.family_link);
    println!("  Detainee:      {}", visit.detainee_link);
    println!(
        "  Officer:       {}   (API token {})",
        visit.officer_console, visit.officer_token
    );
}

fn with_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
