//! `parley`: the operator's command. `parley up` starts every service in one
//! process; `parley sfu` and `parley recorder` run one service alone; the
//! other subcommands check configuration, explain policy,
//! verify the audit log and run, verify, export and sweep recordings.

/// mimalloc instead of glibc's malloc: a busy media worker allocates and
/// frees a packet's buffers on its own thread all day, and glibc's
/// per-thread arena grew and shrank its heap under it (`mprotect` and page
/// faults, about 3 % of a worker in 1:1 visits; docs/benchmarks.md). Every
/// service of this process uses it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod config;
mod recorder_cmd;
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

/// Where `up` and `demo` take their deployment, address and data from.
#[derive(Debug, clap::Args)]
struct Serve {
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// HTTP listen address (overrides the file), e.g. 127.0.0.1:8080.
    #[arg(long)]
    http: Option<SocketAddr>,
    /// Data directory for the SQLite database and keys (overrides the file).
    #[arg(long)]
    data: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start all services in one process and print the URL to open.
    Up(Serve),
    /// Run the SFU alone, controlled by a signaling service elsewhere.
    Sfu {
        #[arg(long, default_value = sfu_node::DEFAULT_NODE_CONFIG)]
        config: PathBuf,
    },
    /// Start like `up`, then create a demo visit starting now and print the
    /// two join links (family and detainee kiosk) and the officer console.
    Demo {
        #[command(flatten)]
        serve: Serve,
        /// Everyone in the demo visit consents to recording, so the demo
        /// jurisdiction records it (with a `[recorder]` in the deployment).
        #[arg(long)]
        recorded: bool,
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
    /// Run the recorder alone, or verify, export and sweep recordings.
    #[command(args_conflicts_with_subcommands = true)]
    Recorder {
        #[command(subcommand)]
        command: Option<RecorderCommand>,
        #[command(flatten)]
        place: RecorderPlace,
        /// QUIC listen address (overrides `[recorder] listen`), e.g. 127.0.0.1:4433.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
}

/// Which deployment and data directory the recorder commands use.
#[derive(Debug, Clone, clap::Args)]
struct RecorderPlace {
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Data directory (overrides the file): recordings, keys, audit log.
    #[arg(long)]
    data: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum RecorderCommand {
    /// Check a recording's signature, segment hashes and continuity (no key
    /// needed but the public one); non-zero exit naming what was altered.
    Verify {
        /// A recording id, or the path of a recording's directory.
        rec: String,
        /// The recorder's public key file (`manifest-signing.pub`), e.g. for
        /// verifying a copy away from the recorder.
        #[arg(long)]
        public_key: Option<PathBuf>,
        #[command(flatten)]
        place: RecorderPlace,
    },
    /// Verify, decrypt and join a recording into one playable file (audited).
    Export {
        rec: String,
        #[arg(long)]
        out: PathBuf,
        /// Who asks for the export (written to the audit log).
        #[arg(long)]
        actor: String,
        /// Why (written to the audit log).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        place: RecorderPlace,
    },
    /// Delete every recording past its retention (key first), except those
    /// on legal hold; each deletion audited.
    Sweep {
        #[arg(long, default_value = "retention-sweep")]
        actor: String,
        /// List what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        place: RecorderPlace,
    },
    /// Place a legal hold: the recording outlives its retention (audited).
    Hold {
        rec: String,
        #[arg(long)]
        actor: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        place: RecorderPlace,
    },
    /// Release a legal hold (audited).
    Release {
        rec: String,
        #[arg(long)]
        actor: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        place: RecorderPlace,
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
        /// The data directory whose SQLite database to check.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Check a PostgreSQL store instead: its `postgres://` URL (the
        /// deployment's `[store] url`).
        #[arg(long)]
        store: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(Serve { config, http, data }) => run_async(up(config, http, data, None)),
        Command::Demo {
            serve: Serve { config, http, data },
            recorded,
        } => run_async(up(config, http, data, Some(DemoOptions { recorded }))),
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
            command: AuditCommand::Verify { data, store },
        } => run_async(audit_verify(data, store)),
        Command::Recorder {
            command,
            place,
            listen,
        } => recorder(command, place, listen),
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

fn recorder(
    command: Option<RecorderCommand>,
    place: RecorderPlace,
    listen: Option<SocketAddr>,
) -> Result<(), String> {
    use recorder_cmd::RecorderPaths;
    let load = |p: &RecorderPlace| {
        Deployment::load(&p.config)
            .map(|d| {
                let paths = RecorderPaths::new(&d, p.data.clone());
                (d, paths)
            })
            .map_err(|e| e.to_string())
    };
    match command {
        None => {
            let d = Deployment::load(&place.config).map_err(|e| e.to_string())?;
            init_tracing();
            run_async(recorder_cmd::run(d, place.data, listen))
        }
        Some(RecorderCommand::Verify {
            rec,
            public_key,
            place,
        }) => {
            let paths = match load(&place) {
                Ok((_, paths)) => paths,
                // A court verifying a copy needs no deployment file.
                Err(_) if public_key.is_some() => RecorderPaths::bare(),
                Err(e) => return Err(e),
            };
            recorder_cmd::verify_cmd(&paths, &rec, public_key.as_deref())
        }
        Some(RecorderCommand::Export {
            rec,
            out,
            actor,
            reason,
            place,
        }) => {
            let (_, paths) = load(&place)?;
            run_async(recorder_cmd::export_cmd(
                &paths, &rec, &out, &actor, &reason,
            ))
        }
        Some(RecorderCommand::Sweep {
            actor,
            dry_run,
            place,
        }) => {
            let (_, paths) = load(&place)?;
            run_async(recorder_cmd::sweep_cmd(&paths, &actor, dry_run))
        }
        Some(RecorderCommand::Hold {
            rec,
            actor,
            reason,
            place,
        }) => {
            let (_, paths) = load(&place)?;
            run_async(recorder_cmd::hold_cmd(&paths, &rec, &actor, &reason, true))
        }
        Some(RecorderCommand::Release {
            rec,
            actor,
            reason,
            place,
        }) => {
            let (_, paths) = load(&place)?;
            run_async(recorder_cmd::hold_cmd(&paths, &rec, &actor, &reason, false))
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
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

async fn audit_verify(data: PathBuf, url: Option<String>) -> Result<(), String> {
    use parley_signaling::store::{DB_FILE, Store, StoreLocation};
    let location = StoreLocation::from_config(url.as_deref(), &data).map_err(|e| e.to_string())?;
    if let StoreLocation::SqliteIn(dir) = &location {
        let db = dir.join(DB_FILE);
        if !db.exists() {
            return Err(format!(
                "no database at {}; give the data directory with --data, or a PostgreSQL store with --store",
                db.display()
            ));
        }
    }
    let store = Store::open(&location).await.map_err(|e| e.to_string())?;
    let result = store.read().verify_audit_chain().await;
    let shown = store.describe();
    store.close().await;
    match result {
        Ok(summary) => {
            println!(
                "audit log intact: {} entries; head {}",
                summary.entries, summary.head_hash
            );
            Ok(())
        }
        Err(e) => Err(format!("{shown}: {e}")),
    }
}

/// What `parley demo` books.
struct DemoOptions {
    /// Everyone consents to recording.
    recorded: bool,
}

/// `parley up`; with `demo`, also seeds a demo visit and prints its links.
async fn up(
    config: PathBuf,
    http: Option<SocketAddr>,
    data: Option<PathBuf>,
    demo: Option<DemoOptions>,
) -> Result<(), String> {
    init_tracing();
    let d = Deployment::load(&config).map_err(|e| e.to_string())?;
    let (media, in_process) = match &d.file.sfu {
        Some(sfu) => {
            let (launch, launched) = sfu.media_server();
            (Some(launch), launched)
        }
        None => (None, None),
    };
    let signaling = parley_signaling::SignalingConfig {
        http: http.unwrap_or(d.file.server.http),
        public_url: d.file.server.public_url.clone(),
        data_dir: data.unwrap_or_else(|| d.file.storage.data_dir.clone()),
        store_url: d.file.store.as_ref().map(|s| s.url.clone()),
        jurisdictions: d.jurisdictions.clone(),
        join_token_leeway_seconds: d.file.tokens.join_token_leeway_seconds,
        media,
        connections: d.file.server.connection_limits(),
        webhook_retry: Default::default(),
    };
    let data_dir = signaling.data_dir.clone();
    let running = parley_signaling::start(&signaling)
        .await
        .map_err(|e| e.to_string())?;
    // The recorder runs inside `parley up` when the deployment has `[recorder]`.
    let recorder = match &d.file.recorder {
        Some(_) => {
            let paths = recorder_cmd::RecorderPaths::new(&d, Some(data_dir));
            let store = running.state.store.clone();
            let server =
                parley_recorder::server::start(paths.server_config(&d, None, store.clone()))
                    .await
                    .map_err(|e| e.to_string())?;
            let sweeper = recorder_cmd::spawn_sweeper(paths, store);
            for (name, at) in recorder_cmd::certificate_expiry(&server.tls) {
                running.state.metrics.certificate_expires(name, at);
            }
            // Sessions whose policy records them are sent to this recorder.
            let addr = if server.addr.ip().is_unspecified() {
                SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), server.addr.port())
            } else {
                server.addr
            };
            match in_process.as_ref().and_then(|slot| slot.get()) {
                Some(plane) => {
                    plane.set_recorder(parley_sfu::plane::recording::RecorderAddress {
                        addr,
                        tls: server.tls.clone(),
                        // Spoken notices: `announcements/` beside the deployment file.
                        announcements: Some(
                            d.path
                                .parent()
                                .unwrap_or(std::path::Path::new("."))
                                .join("announcements"),
                        ),
                    });
                }
                None => eprintln!(
                    "parley up: the SFU runs apart; give its node file a [recorder] section naming {addr} to record"
                ),
            }
            Some((server, sweeper))
        }
        None => None,
    };
    let url = d
        .file
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}/", running.addr));
    println!("Parley is running.");
    println!("  Open:          {url}");
    println!("  API:           {}openapi.json", with_slash(&url));
    println!("  Data:          {}", running.state.store.describe());
    println!("  Jurisdictions: {}", d.jurisdictions.ids().join(", "));
    if let Some(media) = &running.state.media {
        println!("  Media:         {}", media.describe());
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
    if let Some((r, _)) = &recorder {
        recorder_cmd::print_running(r);
    }
    if let Some(demo) = demo {
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
        let visit = parley_signaling::demo::seed(&running.state, &admin, demo.recorded)
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
    if let Some((r, sweeper)) = recorder {
        if let Some(s) = sweeper {
            s.abort();
        }
        r.shutdown().await;
    }
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
