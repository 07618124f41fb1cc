//! The signaling service: shared state, the router, and startup.

use crate::clock::{Clock, SystemClock};
use crate::live::LiveHub;
use crate::metrics::Metrics;
use crate::model::CallerRole;
use crate::store::{Store, StoreError, StoreLocation, audit, users};
use crate::{openapi, routes};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use parley_control::{LaunchMedia, MediaContext, MediaPlane};
use parley_grants::{JoinTokens, KEY_BYTES};
use parley_policy::Jurisdictions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest accepted request body, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// File in the data directory holding the join-token signing key (hex).
pub const KEY_FILE: &str = "join-token.key";
/// File in the data directory holding the first administrator's API token.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Everything the signaling service needs to start.
#[derive(Clone)]
pub struct SignalingConfig {
    pub http: SocketAddr,
    /// URL people open; defaults to `http://{http}`.
    pub public_url: Option<String>,
    /// Keys and, without `store_url`, the SQLite database.
    pub data_dir: PathBuf,
    /// A `postgres://` URL of the store; `None`: SQLite in `data_dir`.
    pub store_url: Option<String>,
    pub jurisdictions: Jurisdictions,
    /// Accepted clock skew for join tokens, in seconds.
    pub join_token_leeway_seconds: u64,
    /// Starts the media server once the join-token key and clock are
    /// ready: the SFU in this process, or a client of one running apart
    /// (the binary that composes the services chooses). `None` runs
    /// signaling alone (offers are then refused).
    pub media: Option<LaunchMedia>,
    /// What one client may hold of the HTTP service.
    pub connections: crate::http_server::ConnectionLimits,
    /// How webhook deliveries are retried before a dead letter.
    pub webhook_retry: crate::webhooks::retry::RetryPolicy,
}

impl std::fmt::Debug for SignalingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalingConfig")
            .field("http", &self.http)
            .field("public_url", &self.public_url)
            .field("data_dir", &self.data_dir)
            .field("jurisdictions", &self.jurisdictions.ids())
            .field("join_token_leeway_seconds", &self.join_token_leeway_seconds)
            .field("media", &self.media.is_some())
            .field("connections", &self.connections)
            .finish()
    }
}

/// State shared by every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub jurisdictions: Arc<Jurisdictions>,
    pub tokens: JoinTokens,
    pub clock: Arc<dyn Clock>,
    pub metrics: Metrics,
    pub live: LiveHub,
    /// The media server, if there is one (metrics, where media flows).
    pub media: Option<Arc<dyn MediaPlane>>,
    pub public_url: String,
    /// How many refused joins per session are still audited this minute.
    pub refusals: Arc<std::sync::Mutex<crate::live::refusals::RefusalBudget>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read or write {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} does not hold a valid {KEY_BYTES}-byte hex key; delete it to make a new one (join tokens already issued stop working)"
    )]
    BadKey { path: PathBuf },
    #[error(
        "cannot listen on {addr}: {source} (is another Parley running? choose another address with --http)"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("store error at startup: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("cannot start the media server: {0}")]
    Media(String),
}

/// What startup created that the operator needs to know.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// Set when this start created the first administrator.
    pub new_admin_token: Option<String>,
    pub admin_token_file: PathBuf,
}

fn write_private(path: &Path, contents: &str) -> Result<(), StartError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|source| StartError::File {
        path: path.into(),
        source,
    })?;
    f.write_all(contents.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|source| StartError::File {
            path: path.into(),
            source,
        })
}

fn load_or_create_key(data_dir: &Path) -> Result<Vec<u8>, StartError> {
    let path = data_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key =
                hex::decode(text.trim()).map_err(|_| StartError::BadKey { path: path.clone() })?;
            if key.len() != KEY_BYTES {
                return Err(StartError::BadKey { path });
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = JoinTokens::generate_key();
            write_private(&path, &hex::encode(key))?;
            Ok(key.to_vec())
        }
        Err(source) => Err(StartError::File { path, source }),
    }
}

impl AppState {
    /// Opens the store, loads or creates keys, and makes the first
    /// administrator if there is none.
    pub async fn open(
        config: &SignalingConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<(Self, Bootstrap), StartError> {
        let location = StoreLocation::from_config(config.store_url.as_deref(), &config.data_dir)?;
        let store = Store::open(&location).await?;
        let key = load_or_create_key(&config.data_dir)?;
        let tokens = JoinTokens::new(&key, config.join_token_leeway_seconds).map_err(|_| {
            StartError::BadKey {
                path: config.data_dir.join(KEY_FILE),
            }
        })?;
        let admin_token_file = config.data_dir.join(ADMIN_TOKEN_FILE);
        let mut new_admin_token = None;
        if !store.read().any_admin().await? {
            let token = users::new_token();
            let now = clock.now();
            let mut w = store.write().await?;
            let user = w
                .insert_user(
                    "administrator",
                    CallerRole::Admin,
                    None,
                    None,
                    &token,
                    now.timestamp(),
                )
                .await?;
            w.append_audit(&audit::AuditRecord::new("system", "user.create", "created")
                    .details(serde_json::json!({"user_id": user.id, "role": "admin", "reason": "first start"})),
                now,
            )
            .await?;
            if admin_token_file.exists() {
                std::fs::remove_file(&admin_token_file).map_err(|source| StartError::File {
                    path: admin_token_file.clone(),
                    source,
                })?;
            }
            write_private(&admin_token_file, &token)?;
            w.commit().await?;
            new_admin_token = Some(token);
        }
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.http));
        let metrics = Metrics::new();
        let media = match &config.media {
            None => None,
            Some(launch) => {
                let wall = clock.clone();
                let context = MediaContext {
                    tokens: tokens.clone(),
                    control_secret: parley_grants::control_secret(&key),
                    clock: Arc::new(move || wall.now()),
                };
                Some(launch(context).map_err(StartError::Media)?)
            }
        };
        if let Some(collector) = media.as_ref().and_then(|m| m.collector())
            && let Err(e) = metrics.register(collector)
        {
            tracing::error!(error = %e, "the media server's series cannot be served on /metrics");
        }
        let live = LiveHub::new(
            store.clone(),
            clock.clone(),
            metrics.clone(),
            media.clone(),
            tokens.clone(),
        );
        if let Some(media) = &media {
            crate::live::media_plane::follow_events(media.as_ref(), live.clone());
        }
        let state = Self {
            live,
            media,
            store,
            jurisdictions: Arc::new(config.jurisdictions.clone()),
            tokens,
            clock,
            metrics,
            public_url,
            refusals: Arc::default(),
        };
        Ok((
            state,
            Bootstrap {
                new_admin_token,
                admin_token_file,
            },
        ))
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Appends to the audit log inside the caller's write transaction.
    pub async fn audit(
        &self,
        w: &mut dyn crate::store::Write,
        record: &audit::AuditRecord,
    ) -> Result<i64, sqlx::Error> {
        let appended = w.append_audit(record, self.now()).await;
        self.metrics.audited(record.action.as_str(), appended)
    }

    /// Appends `record` in a write transaction of its own: for a decision
    /// that changes nothing else (a refusal, a token handed out).
    pub async fn audit_alone(&self, record: &audit::AuditRecord) -> Result<i64, sqlx::Error> {
        let mut w = self.store.write().await?;
        let seq = self.audit(w.as_mut(), record).await?;
        if let Err(e) = w.commit().await {
            self.metrics.audit_write_failures.inc();
            return Err(e);
        }
        Ok(seq)
    }

    /// The jurisdiction a stored record names; an error if it was removed
    /// from the configuration since.
    pub fn jurisdiction(
        &self,
        id: &str,
    ) -> Result<&parley_policy::Jurisdiction, crate::error::ApiError> {
        self.jurisdictions.get(id).ok_or_else(|| {
            crate::error::ApiError::Conflict(format!(
                "jurisdiction `{id}` is not in the loaded configuration; restore its file or move the facility"
            ))
        })
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    routes::router()
        .merge(openapi::router())
        .merge(crate::web::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track_requests,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// A running signaling service.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    pub bootstrap: Bootstrap,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts the service on `config.http` with the system clock.
pub async fn start(config: &SignalingConfig) -> Result<Running, StartError> {
    start_with_clock(config, Arc::new(SystemClock)).await
}

/// Starts the service with the given clock (tests move time with it).
pub async fn start_with_clock(
    config: &SignalingConfig,
    clock: Arc<dyn Clock>,
) -> Result<Running, StartError> {
    let (state, bootstrap) = AppState::open(config, clock).await?;
    let listener = tokio::net::TcpListener::bind(config.http)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.http,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.http,
        source,
    })?;
    let mut state = state;
    if config.public_url.is_none() {
        state.public_url = format!("http://{addr}");
    }
    state.live.close_overdue().await;
    let app = router(state.clone());
    let refused = state.metrics.http_connections_refused.clone();
    let limits = config.connections;
    let server = crate::http_server::serve(listener, app, limits, refused);
    let deliverer = crate::webhooks::delivery::Deliverer::new(
        state.store.clone(),
        state.clock.clone(),
        state.metrics.clone(),
        config.webhook_retry,
    );
    // The webhooks' sender lives and dies with the HTTP service.
    let task = tokio::spawn(async move {
        tokio::select! {
            served = server => served,
            () = deliverer.run() => Ok(()),
        }
    });
    Ok(Running {
        addr,
        state,
        bootstrap,
        task,
    })
}
