//! The deployment file (`config/demo.toml` and friends): where to listen,
//! where data lives, where the jurisdiction files are.

use parley_policy::{ConfigError, Jurisdictions, load_dir};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Default deployment file, relative to the working directory.
pub const DEFAULT_CONFIG: &str = "config/demo.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentFile {
    pub server: ServerSection,
    #[serde(default)]
    pub storage: StorageSection,
    /// `[store]`: the signaling store in PostgreSQL; absent, SQLite in the
    /// data directory.
    pub store: Option<StoreSection>,
    pub policy: PolicySection,
    #[serde(default)]
    pub tokens: TokenSection,
    pub sfu: Option<SfuSection>,
    pub recorder: Option<RecorderSection>,
}

/// `[recorder]`: the QUIC endpoint the SFU sends recorded rooms to, and
/// where recordings, keys and certificates live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecorderSection {
    /// UDP address of the recorder's QUIC endpoint (port 0: any free port).
    pub listen: SocketAddr,
    /// Target segment length in seconds (1..=600).
    #[serde(default = "default_segment_seconds")]
    pub segment_seconds: u64,
    /// Recordings, relative to the data directory.
    #[serde(default = "default_recordings_dir")]
    pub recordings_dir: PathBuf,
    /// Jurisdiction keys and the manifest signing key, relative to the data directory.
    #[serde(default = "default_recorder_keys_dir")]
    pub keys_dir: PathBuf,
    /// CA, recorder and SFU certificates, relative to the data directory.
    #[serde(default = "default_recorder_tls_dir")]
    pub tls_dir: PathBuf,
    /// Minutes between automatic retention sweeps (one at start); 0: none
    /// (then run `parley recorder sweep` from a scheduler).
    #[serde(default = "default_sweep_interval_minutes")]
    pub sweep_interval_minutes: u64,
}

fn default_sweep_interval_minutes() -> u64 {
    60
}

fn default_segment_seconds() -> u64 {
    10
}
fn default_recordings_dir() -> PathBuf {
    PathBuf::from("recordings")
}
fn default_recorder_keys_dir() -> PathBuf {
    PathBuf::from("keys/recorder")
}
fn default_recorder_tls_dir() -> PathBuf {
    PathBuf::from("tls/recorder")
}

impl RecorderSection {
    /// The defaults, for commands run on a deployment without `[recorder]`.
    pub fn default_with(listen: SocketAddr) -> Self {
        Self {
            listen,
            segment_seconds: default_segment_seconds(),
            recordings_dir: default_recordings_dir(),
            keys_dir: default_recorder_keys_dir(),
            tls_dir: default_recorder_tls_dir(),
            sweep_interval_minutes: default_sweep_interval_minutes(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SfuSection {
    /// First media worker's UDP address of the SFU in this process; worker
    /// `i` uses `port + i` (port 0: each worker takes any free port).
    pub listen: Option<SocketAddr>,
    /// Instead of `listen`: the control API of an SFU running as its own
    /// process (`parley sfu`), e.g. `http://10.0.0.5:7801`.
    pub remote: Option<String>,
    /// Address written into ICE candidates when behind a 1:1 NAT.
    pub advertised_ip: Option<std::net::IpAddr>,
    /// Media worker threads; 0 means one per core.
    #[serde(default)]
    pub workers: usize,
    /// Also accept ICE over TCP on each worker's port number (for networks
    /// that block UDP).
    #[serde(default = "yes")]
    pub ice_tcp: bool,
    /// How long, in µs, a busy media worker gathers packets before its
    /// next turn (at most 5000; 0: a turn on every wake-up).
    #[serde(default)]
    pub coalesce_us: parley_sfu::engine::coalescing::Coalescing,
}

fn yes() -> bool {
    true
}

impl SfuSection {
    /// Which SFU signaling uses (checked by [`Deployment::load`]: exactly
    /// one of `listen` and `remote`): its launcher, and for an SFU in this
    /// process the slot where it is found once started.
    pub fn media_server(
        &self,
    ) -> (
        parley_control::LaunchMedia,
        Option<parley_sfu::plane::Launched>,
    ) {
        match (&self.remote, self.listen) {
            (Some(url), _) => (parley_sfu::control::RemoteSfu::launcher(url.clone()), None),
            (None, listen) => {
                let (launch, launched) = parley_sfu::plane::InProcessPlane::launcher(
                    parley_sfu::plane::InProcessSettings {
                        listen: listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0))),
                        advertised_ip: self.advertised_ip,
                        workers: self.workers,
                        ice_tcp: self.ice_tcp,
                        coalescing: self.coalesce_us,
                    },
                );
                (launch, Some(launched))
            }
        }
    }

    fn check(&self) -> Result<(), String> {
        match (&self.listen, &self.remote) {
            (Some(_), Some(_)) => Err("sfu: give either `listen` (an SFU in this process) or `remote` (an SFU started with `parley sfu`), not both".into()),
            (None, None) => Err("sfu: give `listen` (an SFU in this process) or `remote` (the control URL of `parley sfu`)".into()),
            (None, Some(url)) if !(url.starts_with("http://") || url.starts_with("https://")) => Err(format!(
                "sfu.remote is `{url}`; it must be the control API's URL, starting with http:// or https://"
            )),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Address the HTTP API and WebSocket listen on.
    pub http: SocketAddr,
    /// URL people open, when behind a proxy; default `http://{http}`.
    pub public_url: Option<String>,
    /// Connections open at once from one IP address (1 to 65 535).
    #[serde(default = "default_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// Seconds a client may take to send a whole request head (1 to 300).
    #[serde(default = "default_request_head_timeout")]
    pub request_head_timeout_seconds: u64,
}

fn default_connections_per_ip() -> usize {
    parley_signaling::http_server::ConnectionLimits::default().per_ip
}

fn default_request_head_timeout() -> u64 {
    parley_signaling::http_server::ConnectionLimits::default()
        .head_timeout
        .as_secs()
}

impl ServerSection {
    /// The limits of one client's share of the HTTP service.
    pub fn connection_limits(&self) -> parley_signaling::http_server::ConnectionLimits {
        parley_signaling::http_server::ConnectionLimits {
            per_ip: self.max_connections_per_ip,
            head_timeout: std::time::Duration::from_secs(self.request_head_timeout_seconds),
        }
    }

    fn check(&self) -> Result<(), String> {
        if !(1..=65_535).contains(&self.max_connections_per_ip) {
            return Err(format!(
                "server.max_connections_per_ip is {}; give 1 to 65535",
                self.max_connections_per_ip
            ));
        }
        if !(1..=300).contains(&self.request_head_timeout_seconds) {
            return Err(format!(
                "server.request_head_timeout_seconds is {}; give 1 to 300",
                self.request_head_timeout_seconds
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// Directory of the SQLite database and keys, relative to the working directory.
    pub data_dir: PathBuf,
}

impl Default for StorageSection {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `postgres://user@host/database` (add `?host=/run/postgresql` for a
    /// Unix socket; a password is better kept in `~/.pgpass` than here).
    pub url: String,
}

impl StoreSection {
    /// The url's scheme is one the store speaks (its own rule,
    /// `StoreLocation::from_config`).
    fn check(&self) -> Result<(), String> {
        parley_signaling::store::StoreLocation::from_config(
            Some(&self.url),
            std::path::Path::new(""),
        )
        .map(drop)
        .map_err(|e| format!("store.url: {e}"))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// Directory of jurisdiction files, relative to the deployment file.
    pub jurisdictions_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSection {
    /// Accepted clock skew for join tokens, in seconds (0..=300).
    pub join_token_leeway_seconds: u64,
}

impl Default for TokenSection {
    fn default() -> Self {
        Self {
            join_token_leeway_seconds: 30,
        }
    }
}

/// A loaded and validated deployment.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub file: DeploymentFile,
    pub path: PathBuf,
    pub jurisdictions: Jurisdictions,
}

#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    #[error("cannot read {path}: {source} (give another file with --config)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(transparent)]
    Jurisdiction(#[from] ConfigError),
}

impl Deployment {
    pub fn load(path: &Path) -> Result<Self, DeploymentError> {
        let text = std::fs::read_to_string(path).map_err(|source| DeploymentError::Read {
            path: path.into(),
            source,
        })?;
        let file: DeploymentFile = toml::from_str(&text).map_err(|e| DeploymentError::Invalid {
            path: path.into(),
            message: e.to_string().trim_end().to_string(),
        })?;
        if file.tokens.join_token_leeway_seconds > parley_grants::MAX_LEEWAY_SECONDS {
            return Err(DeploymentError::Invalid {
                path: path.into(),
                message: format!(
                    "tokens.join_token_leeway_seconds is {}; at most {} seconds of clock skew are accepted",
                    file.tokens.join_token_leeway_seconds,
                    parley_grants::MAX_LEEWAY_SECONDS
                ),
            });
        }
        file.server
            .check()
            .map_err(|message| DeploymentError::Invalid {
                path: path.into(),
                message,
            })?;
        if let Some(sfu) = &file.sfu {
            sfu.check().map_err(|message| DeploymentError::Invalid {
                path: path.into(),
                message,
            })?;
        }
        if let Some(store) = &file.store {
            store.check().map_err(|message| DeploymentError::Invalid {
                path: path.into(),
                message,
            })?;
        }
        if let Some(r) = &file.recorder
            && r.sweep_interval_minutes > 10_080
        {
            return Err(DeploymentError::Invalid {
                path: path.into(),
                message: format!(
                    "recorder.sweep_interval_minutes is {}; give 0 (no automatic sweep) to 10080 (a week)",
                    r.sweep_interval_minutes
                ),
            });
        }
        if let Some(r) = &file.recorder
            && !(1..=600).contains(&r.segment_seconds)
        {
            return Err(DeploymentError::Invalid {
                path: path.into(),
                message: format!(
                    "recorder.segment_seconds is {}; give 1 to 600 seconds",
                    r.segment_seconds
                ),
            });
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let dir = base.join(&file.policy.jurisdictions_dir);
        let jurisdictions = load_dir(&dir)?;
        Ok(Self {
            file,
            path: path.into(),
            jurisdictions,
        })
    }
}
