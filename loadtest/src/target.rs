//! The Parley under test: one this harness starts in-process (temporary data
//! directory, SFU in the same process) or a running one at an address.
//! Plus the REST calls that book what a scenario needs.

use chrono::{DateTime, DurationRound, Utc};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use thiserror::Error;

/// Why the Parley under test could not be started or used.
#[derive(Debug, Error)]
pub enum TargetError {
    #[error("cannot load the jurisdictions from {dir}: {message}")]
    Jurisdictions { dir: String, message: String },
    #[error("cannot create a temporary data directory: {0}")]
    TempDir(std::io::Error),
    #[error("the in-process Parley did not start: {0}")]
    Start(String),
    #[error("the in-process Parley created no admin token (is the data directory fresh?)")]
    NoAdmin,
    #[error("{method} {url}: cannot reach Parley: {source} (is it running at --target?)")]
    Unreachable {
        method: &'static str,
        url: String,
        source: reqwest::Error,
    },
    #[error(
        "{method} {url} answered {status}: {body} (check --admin-token and that the `demo` jurisdiction is loaded)"
    )]
    Refused {
        method: &'static str,
        url: String,
        status: u16,
        body: String,
    },
    #[error("{what}: the answer has no `{field}`: {body}")]
    Missing {
        what: &'static str,
        field: &'static str,
        body: String,
    },
}

/// The jurisdiction every booking uses: no lead time, any hour.
pub const JURISDICTION: &str = "demo";

/// A Parley started by the harness; dropping it stops it.
pub struct InProcess {
    _data: tempfile::TempDir,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The Parley under test and how to call it.
pub struct Parley {
    /// `http://host:port`, no trailing slash.
    pub base: String,
    pub admin: String,
    pub http: reqwest::Client,
    /// Set when the harness started it (the SFU then runs in this process).
    pub in_process: Option<InProcess>,
}

impl Parley {
    /// Starts signaling with an in-process SFU of `workers` worker threads
    /// on 127.0.0.1, a fresh temporary data directory, the system clock and
    /// the jurisdictions in `jurisdictions_dir`.
    pub async fn start(
        jurisdictions_dir: &Path,
        workers: usize,
        coalescing: parley_sfu::engine::coalescing::Coalescing,
    ) -> Result<Self, TargetError> {
        let jurisdictions =
            parley_policy::load_dir(jurisdictions_dir).map_err(|e| TargetError::Jurisdictions {
                dir: jurisdictions_dir.display().to_string(),
                message: e.to_string(),
            })?;
        let data = tempfile::tempdir().map_err(TargetError::TempDir)?;
        let loopback = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let config = parley_signaling::SignalingConfig {
            http: loopback(0),
            public_url: None,
            data_dir: data.path().to_path_buf(),
            store_url: None,
            jurisdictions,
            join_token_leeway_seconds: 5,
            // Every simulated participant connects from 127.0.0.1.
            connections: parley_signaling::http_server::ConnectionLimits {
                per_ip: 65_535,
                ..Default::default()
            },
            webhook_retry: Default::default(),
            media: Some(
                parley_sfu::plane::InProcessPlane::launcher(parley_sfu::plane::InProcessSettings {
                    listen: loopback(0),
                    advertised_ip: None,
                    workers,
                    ice_tcp: false,
                    coalescing,
                })
                .0,
            ),
        };
        let running = parley_signaling::start_with_clock(
            &config,
            Arc::new(parley_signaling::clock::SystemClock),
        )
        .await
        .map_err(|e| TargetError::Start(e.to_string()))?;
        let admin = running
            .bootstrap
            .new_admin_token
            .clone()
            .ok_or(TargetError::NoAdmin)?;
        Ok(Self {
            base: format!("http://{}", running.addr),
            admin,
            http: reqwest::Client::new(),
            in_process: Some(InProcess {
                _data: data,
                task: running.task,
            }),
        })
    }

    /// A running Parley at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn remote(base: &str, admin: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            admin: admin.to_string(),
            http: reqwest::Client::new(),
            in_process: None,
        }
    }

    /// The WebSocket URL of a session.
    pub fn ws_url(&self, session: i64) -> String {
        let host = self
            .base
            .trim_start_matches("http://")
            .trim_start_matches("https://");
        format!("ws://{host}/v1/sessions/{session}/ws")
    }

    /// POST as the administrator; the JSON answer of a 2xx.
    pub async fn post(&self, path: &str, body: Value) -> Result<Value, TargetError> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .map_err(|source| TargetError::Unreachable {
                method: "POST",
                url: url.clone(),
                source,
            })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(TargetError::Refused {
                method: "POST",
                url,
                status: status.as_u16(),
                body: text,
            });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The service's clock (`/v1/time`), or this machine's if it fails.
    pub async fn now(&self) -> DateTime<Utc> {
        let url = format!("{}/v1/time", self.base);
        let remote = async {
            let v: Value = self.http.get(&url).send().await.ok()?.json().await.ok()?;
            v["now"].as_str()?.parse::<DateTime<Utc>>().ok()
        };
        remote.await.unwrap_or_else(Utc::now)
    }

    /// A join token for a participant of a session.
    pub async fn join_token(&self, session: i64, participant: i64) -> Result<String, TargetError> {
        let v = self
            .post(
                &format!("/v1/sessions/{session}/participants/{participant}/join-token"),
                json!({}),
            )
            .await?;
        field_str(&v, "token", "join token")
    }
}

fn field_i64(v: &Value, field: &'static str, what: &'static str) -> Result<i64, TargetError> {
    v[field].as_i64().ok_or_else(|| TargetError::Missing {
        what,
        field,
        body: v.to_string(),
    })
}

fn field_str(v: &Value, field: &'static str, what: &'static str) -> Result<String, TargetError> {
    v[field]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| TargetError::Missing {
            what,
            field,
            body: v.to_string(),
        })
}

/// A booked session and its participants' ids by role order.
#[derive(Debug, Clone)]
pub struct Booked {
    pub session: i64,
    /// When it starts (its participants are admitted from then on).
    pub starts_at: DateTime<Utc>,
    /// (participant id, role, display name), in booking order.
    pub participants: Vec<(i64, String, String)>,
}

impl Booked {
    fn from_session(v: &Value, starts_at: DateTime<Utc>) -> Result<Self, TargetError> {
        let session = field_i64(v, "id", "session")?;
        let participants = v["participants"]
            .as_array()
            .ok_or_else(|| TargetError::Missing {
                what: "session",
                field: "participants",
                body: v.to_string(),
            })?
            .iter()
            .map(|p| {
                Ok((
                    field_i64(p, "id", "participant")?,
                    field_str(p, "role", "participant")?,
                    p["name"].as_str().unwrap_or("").to_string(),
                ))
            })
            .collect::<Result<_, TargetError>>()?;
        Ok(Self {
            session,
            starts_at,
            participants,
        })
    }

    /// The id of the first participant with `role`.
    pub fn id_of(&self, role: &str) -> Option<i64> {
        self.participants
            .iter()
            .find(|(_, r, _)| r == role)
            .map(|(id, _, _)| *id)
    }
}

/// When sessions booked now start: the next whole second plus 2 s, so the
/// start is never in the past when the booking arrives.
pub async fn start_soon(p: &Parley) -> DateTime<Utc> {
    let now = p.now().await;
    now.duration_trunc(chrono::Duration::seconds(1))
        .unwrap_or(now)
        + chrono::Duration::seconds(2)
}

/// A prison facility in the demo jurisdiction; its id.
pub async fn prison(p: &Parley, run: &str) -> Result<i64, TargetError> {
    let v = p
        .post(
            "/v1/facilities",
            json!({"name": format!("HMP Loadtest {run}"), "kind": "prison", "jurisdiction": JURISDICTION}),
        )
        .await?;
    field_i64(&v, "id", "facility")
}

/// Books a social visit `i` at `facility` for `minutes`, starting just
/// after the booking: its own kiosk, detainee and approved visitor.
pub async fn book_visit(
    p: &Parley,
    facility: i64,
    run: &str,
    i: u32,
    minutes: i64,
) -> Result<Booked, TargetError> {
    let kiosk = p
        .post(
            &format!("/v1/facilities/{facility}/devices"),
            json!({"name": format!("Kiosk {i}"), "kind": "kiosk"}),
        )
        .await?;
    let detainee = p
        .post(
            "/v1/detainees",
            json!({"facility_id": facility, "name": format!("Detainee {i}"), "number": format!("LT-{run}-{i}")}),
        )
        .await?;
    let detainee = field_i64(&detainee, "id", "detainee")?;
    let contact = p
        .post("/v1/contacts", json!({"name": format!("Visitor {i}")}))
        .await?;
    let contact = field_i64(&contact, "id", "contact")?;
    p.post(
        &format!("/v1/detainees/{detainee}/contacts"),
        json!({"contact_id": contact, "relationship": "family"}),
    )
    .await?;
    let starts_at = start_soon(p).await;
    let v = p
        .post(
            "/v1/bookings",
            json!({"kind": "social_visit", "detainee_id": detainee,
                   "device_id": field_i64(&kiosk, "id", "kiosk")?,
                   "starts_at": starts_at, "ends_at": starts_at + chrono::Duration::minutes(minutes),
                   "visitors": [{"contact_id": contact, "consents_to_recording": false}],
                   "detainee_consents_to_recording": false}),
        )
        .await?;
    Booked::from_session(&v, starts_at)
}

/// Roles of a hearing's publishing participants after the judge, in turn.
const HEARING_ROLES: [&str; 5] = ["prosecutor", "counsel", "witness", "interpreter", "clerk"];

/// Books a hearing at a new court, starting just after the booking: a
/// judge, `participants - 1` others and `observers` public observers.
pub async fn book_hearing(
    p: &Parley,
    run: &str,
    participants: u32,
    observers: u32,
    minutes: i64,
) -> Result<Booked, TargetError> {
    let court = p
        .post(
            "/v1/facilities",
            json!({"name": format!("Loadtest Court {run}"), "kind": "court", "jurisdiction": JURISDICTION}),
        )
        .await?;
    let court = field_i64(&court, "id", "court")?;
    let mut people = vec![json!({"name": "Judge", "role": "judge"})];
    for i in 1..participants {
        let role = HEARING_ROLES[(i as usize - 1) % HEARING_ROLES.len()];
        people.push(json!({"name": format!("P{i} {role}"), "role": role}));
    }
    for i in 0..observers {
        people.push(json!({"name": format!("Observer {i}"), "role": "observer"}));
    }
    let starts_at = start_soon(p).await;
    let v = p
        .post(
            "/v1/hearings",
            json!({"facility_id": court, "title": format!("Loadtest {run}"), "starts_at": starts_at,
                   "ends_at": starts_at + chrono::Duration::minutes(minutes), "participants": people}),
        )
        .await?;
    Booked::from_session(&v, starts_at)
}
