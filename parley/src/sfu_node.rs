//! `parley sfu`: the SFU alone, controlled over its network API by a
//! signaling service elsewhere (`[sfu] remote = …` in that service's
//! deployment file). The node file (`config/sfu.toml`) names the control
//! address, the media sockets, the join-token key it shares with
//! signaling, and, to record, the recorder it sends recorded rooms to.

use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Default node file, relative to the working directory.
pub const DEFAULT_NODE_CONFIG: &str = "config/sfu.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SfuNodeFile {
    pub control: ControlSection,
    pub tokens: NodeTokenSection,
    pub media: NodeMediaSection,
    /// The recorder recorded rooms go to; without it, this node refuses
    /// to record (`no_recorder`) and signaling logs it.
    pub recorder: Option<NodeRecorderSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeRecorderSection {
    /// The recorder's QUIC address (`parley recorder` prints it).
    pub address: SocketAddr,
    /// A copy of the recorder's TLS directory (`ca.pem`, `sfu.pem`,
    /// `sfu.key`), relative to the working directory.
    pub tls_dir: PathBuf,
    /// The spoken notices, `<dir>/<jurisdiction>/<language>.wav`; without
    /// it the banner alone tells people a session is recorded.
    pub announcements: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSection {
    /// Address of the HTTP control API (and `/metrics`, `/healthz`).
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeTokenSection {
    /// Signaling's join-token key (hex), relative to the working directory:
    /// a copy of `join-token.key` from signaling's data directory.
    pub key_file: PathBuf,
    /// Accepted clock skew for join tokens, in seconds (0..=300).
    #[serde(default = "default_leeway")]
    pub join_token_leeway_seconds: u64,
}

fn default_leeway() -> u64 {
    30
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeMediaSection {
    /// First worker's UDP address; worker `i` uses `port + i` (0: any).
    pub listen: SocketAddr,
    /// Address written into ICE candidates when behind a 1:1 NAT.
    pub advertised_ip: Option<IpAddr>,
    /// Worker threads; 0 means one per core.
    #[serde(default)]
    pub workers: usize,
    /// Also accept ICE over TCP on each worker's port number.
    #[serde(default = "yes")]
    pub ice_tcp: bool,
    /// How long, in µs, a busy worker gathers packets before its next turn
    /// (at most 5000; 0: a turn on every wake-up).
    #[serde(default)]
    pub coalesce_us: parley_sfu::engine::coalescing::Coalescing,
}

fn yes() -> bool {
    true
}

/// Reads and checks the node file and the key it names.
fn load(path: &Path) -> Result<(SfuNodeFile, Vec<u8>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read {}: {e} (give another file with --config)",
            path.display()
        )
    })?;
    let file: SfuNodeFile = toml::from_str(&text)
        .map_err(|e| format!("{}: {}", path.display(), e.to_string().trim_end()))?;
    if file.tokens.join_token_leeway_seconds > parley_grants::MAX_LEEWAY_SECONDS {
        return Err(format!(
            "{}: tokens.join_token_leeway_seconds is {}; at most {} seconds of clock skew are accepted",
            path.display(),
            file.tokens.join_token_leeway_seconds,
            parley_grants::MAX_LEEWAY_SECONDS
        ));
    }
    let key_path = &file.tokens.key_file;
    let key_text = std::fs::read_to_string(key_path).map_err(|e| {
        format!(
            "cannot read the join-token key {}: {e}; copy join-token.key from signaling's data directory there",
            key_path.display()
        )
    })?;
    let key = hex::decode(key_text.trim())
        .ok()
        .filter(|k| k.len() == parley_grants::KEY_BYTES)
        .ok_or_else(|| {
            format!(
                "{} is not a join-token key: expected {} bytes in hex",
                key_path.display(),
                parley_grants::KEY_BYTES
            )
        })?;
    Ok((file, key))
}

/// Runs the SFU and its control API until Ctrl-C or SIGTERM.
pub async fn run(config: PathBuf) -> Result<(), String> {
    let (file, key) = load(&config)?;
    let tokens = parley_grants::JoinTokens::new(&key, file.tokens.join_token_leeway_seconds)
        .map_err(|e| format!("the join-token key cannot be used: {e}"))?;
    let sfu = parley_sfu::engine::Sfu::start(&parley_sfu::engine::SfuConfig {
        advertised_ip: file.media.advertised_ip,
        ice_tcp: file.media.ice_tcp,
        coalescing: file.media.coalesce_us,
        ..parley_sfu::engine::SfuConfig::new(
            file.media.listen,
            file.media.workers,
            tokens,
            Arc::new(chrono::Utc::now),
        )
    })
    .map_err(|e| e.to_string())?;
    let plane = Arc::new(parley_sfu::plane::InProcessPlane::new(Arc::new(sfu)));
    if let Some(recorder) = &file.recorder {
        let tls = parley_recorder::tls::TlsFiles::in_dir(&recorder.tls_dir);
        for needed in [&tls.ca_cert, &tls.client_cert, &tls.client_key] {
            if !needed.is_file() {
                return Err(format!(
                    "{}: recorder.tls_dir has no {}; copy the recorder's TLS directory there",
                    config.display(),
                    needed.display()
                ));
            }
        }
        plane.set_recorder(parley_sfu::plane::recording::RecorderAddress {
            addr: recorder.address,
            tls,
            announcements: recorder.announcements.clone(),
        });
    }
    let udp: Vec<String> = plane
        .sfu()
        .udp_addrs()
        .iter()
        .map(|a| a.to_string())
        .collect();
    let listener = tokio::net::TcpListener::bind(file.control.listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {} for the control API: {e}",
                file.control.listen
            )
        })?;
    let control = listener
        .local_addr()
        .map_err(|e| format!("control socket: {e}"))?;
    let app = parley_sfu::control::server::router(plane, parley_grants::control_secret(&key));
    println!("Parley SFU is running.");
    println!("  Control API:   http://{control}/ (signaling: [sfu] remote = \"http://{control}\")");
    println!("  Media (UDP):   {}", udp.join(", "));
    match &file.recorder {
        Some(r) => println!("  Recorder:      {} (QUIC, mutual TLS)", r.address),
        None => {
            println!("  Recorder:      none ([recorder] not set: recorded sessions are refused)")
        }
    }
    println!("  Metrics:       http://{control}/metrics");
    println!("Press Ctrl-C to stop.");
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::shutdown_signal())
        .await
        .map_err(|e| format!("the control API stopped: {e}"))?;
    eprintln!("parley sfu: stopping");
    Ok(())
}
