//! A signaling service on 127.0.0.1:0 with a fresh data directory and a clock
//! set to Monday 4 March 2030, 10:00 in London, which tests can move forward.

#[path = "../../../testing/postgres.rs"]
pub mod postgres;

use chrono::{DateTime, Duration, TimeZone, Utc};
use parley_signaling::clock::OffsetClock;
use parley_signaling::{SignalingConfig, start_with_clock};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

pub struct Server {
    pub addr: SocketAddr,
    pub clock: OffsetClock,
    pub admin: String,
    pub http: reqwest::Client,
    pub _data: tempfile::TempDir,
    /// The SFU: in this process, or the one behind the control API that
    /// signaling reaches over the network (to attach a recorder, read its
    /// counters).
    pub sfu: Arc<parley_sfu::plane::InProcessPlane>,
    /// Signaling reaches the SFU over its control API.
    pub remote_sfu: bool,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// A standalone SFU's control API, when the test uses one.
    sfu_task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// What a standalone SFU is started from, to start it again.
    standalone: Option<Standalone>,
}

/// The key, clock and control address of a standalone SFU.
struct Standalone {
    key: Vec<u8>,
    clock: OffsetClock,
    control: SocketAddr,
}

/// Starts an SFU with the key and clock, serving its control API on
/// `control`: the plane and the control API's task.
async fn standalone_sfu(
    key: &[u8],
    clock: &OffsetClock,
    control: SocketAddr,
) -> (
    Arc<parley_sfu::plane::InProcessPlane>,
    tokio::task::JoinHandle<std::io::Result<()>>,
    SocketAddr,
) {
    let wall = clock.clone();
    let sfu = parley_sfu::engine::Sfu::start(&parley_sfu::engine::SfuConfig {
        ice_tcp: true,
        ..parley_sfu::engine::SfuConfig::new(
            "127.0.0.1:0".parse().expect("addr"),
            1,
            parley_grants::JoinTokens::new(key, 5).expect("key"),
            Arc::new(move || parley_signaling::clock::Clock::now(&wall)),
        )
    })
    .expect("sfu starts");
    let listener = tokio::net::TcpListener::bind(control)
        .await
        .expect("control port");
    let control = listener.local_addr().expect("addr");
    let plane = Arc::new(parley_sfu::plane::InProcessPlane::new(Arc::new(sfu)));
    let app =
        parley_sfu::control::server::router(plane.clone(), parley_grants::control_secret(key));
    (
        plane,
        tokio::spawn(serve_until_killed(listener, app)),
        control,
    )
}

/// Serves `app` on `listener` until the task is aborted, which closes
/// every connection at once, as a killed process's would.
async fn serve_until_killed(
    listener: tokio::net::TcpListener,
    app: axum::Router,
) -> std::io::Result<()> {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, _) = listener.accept().await?;
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        connections.spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(t) = &self.sfu_task {
            t.abort();
        }
    }
}

impl Server {
    /// Kills the standalone SFU as a crash would (its control API's
    /// connections close at once; the peer connections of `rooms` end) and
    /// starts a new one on the same control address: a new process, with
    /// no room.
    pub async fn restart_sfu(&mut self, rooms: &[i64]) {
        let standalone = self.standalone.as_ref().expect("a standalone SFU");
        if let Some(task) = self.sfu_task.take() {
            task.abort();
            let _ = task.await;
        }
        for room in rooms {
            let _ = parley_control::MediaPlane::close_room(self.sfu.as_ref(), *room).await;
        }
        let (plane, task, _) =
            standalone_sfu(&standalone.key, &standalone.clock, standalone.control).await;
        self.sfu = plane;
        self.sfu_task = Some(task);
    }
}

/// Monday 4 March 2030, 10:00 Europe/London (GMT, so 10:00 UTC).
pub fn base_instant() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 3, 4, 10, 0, 0)
        .single()
        .expect("valid")
}

pub fn jurisdictions() -> parley_policy::Jurisdictions {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/jurisdictions");
    parley_policy::load_dir(&dir).expect("example jurisdictions load")
}

/// Signaling with an SFU in the same process.
pub async fn start() -> Server {
    start_with(false, None).await
}

/// Signaling with an SFU that it reaches over the SFU's network control API
/// (as with `parley sfu`), sharing the join-token key and the test clock.
pub async fn start_with_remote_sfu() -> Server {
    start_with(true, None).await
}

/// Signaling with an SFU in the same process whose rooms take `stall` to
/// open and whose joins take `stall` to answer, as when a media worker
/// hangs until its control timeout.
pub async fn start_with_stalling_sfu(stall: std::time::Duration) -> Server {
    start_with(false, Some(stall)).await
}

/// The real media plane, with its room openings and joins held up.
struct Stalling {
    inner: Arc<dyn parley_control::MediaPlane>,
    stall: std::time::Duration,
}

#[async_trait::async_trait]
impl parley_control::MediaPlane for Stalling {
    async fn open_room(
        &self,
        room: parley_control::RoomId,
        policy: parley_control::RoomPolicy,
    ) -> Result<(), parley_control::MediaFailure> {
        tokio::time::sleep(self.stall).await;
        self.inner.open_room(room, policy).await
    }
    async fn join(
        &self,
        request: parley_control::JoinRequest,
    ) -> Result<String, parley_control::MediaFailure> {
        tokio::time::sleep(self.stall).await;
        self.inner.join(request).await
    }
    async fn remove(
        &self,
        room: parley_control::RoomId,
        member: parley_control::MemberId,
    ) -> Result<(), parley_control::MediaFailure> {
        self.inner.remove(room, member).await
    }
    async fn set_muted(
        &self,
        room: parley_control::RoomId,
        member: parley_control::MemberId,
        media: parley_control::MediaKind,
        muted: bool,
    ) -> Result<(), parley_control::MediaFailure> {
        self.inner.set_muted(room, member, media, muted).await
    }
    async fn change_hearing(
        &self,
        room: parley_control::RoomId,
        change: parley_control::HearingChange,
    ) -> Result<(), parley_control::MediaFailure> {
        self.inner.change_hearing(room, change).await
    }
    async fn start_recording(
        &self,
        order: parley_control::RecordingOrder,
    ) -> Result<(), parley_control::MediaFailure> {
        self.inner.start_recording(order).await
    }
    async fn stop_recording(
        &self,
        room: parley_control::RoomId,
        reason: &str,
    ) -> Result<(), parley_control::MediaFailure> {
        self.inner.stop_recording(room, reason).await
    }
    async fn downlinks(
        &self,
        room: parley_control::RoomId,
    ) -> Result<Vec<parley_control::Downlink>, parley_control::MediaFailure> {
        self.inner.downlinks(room).await
    }
    async fn close_room(
        &self,
        room: parley_control::RoomId,
    ) -> Result<(), parley_control::MediaFailure> {
        self.inner.close_room(room).await
    }
    fn events(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<parley_control::MediaEvent>> {
        self.inner.events()
    }
    fn collector(&self) -> Option<Box<dyn prometheus::core::Collector>> {
        self.inner.collector()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

async fn start_with(remote_sfu: bool, stall: Option<std::time::Duration>) -> Server {
    let data = tempfile::tempdir().expect("temp dir");
    let clock = OffsetClock::default();
    clock.advance(base_instant() - Utc::now());
    let mut standalone = None;
    let (media, launched, sfu_task) = if remote_sfu {
        let key = parley_grants::JoinTokens::generate_key();
        std::fs::write(
            data.path().join(parley_signaling::app::KEY_FILE),
            hex::encode(key),
        )
        .expect("key written");
        let (plane, task, control) =
            standalone_sfu(&key, &clock, "127.0.0.1:0".parse().expect("addr")).await;
        let control_url = format!("http://{control}");
        let launched: parley_sfu::plane::Launched = Arc::new(std::sync::OnceLock::new());
        let _ = launched.set(plane);
        standalone = Some(Standalone {
            key: key.to_vec(),
            clock: clock.clone(),
            control,
        });
        (
            parley_sfu::control::RemoteSfu::launcher(control_url),
            launched,
            Some(task),
        )
    } else {
        let (launch, launched) =
            parley_sfu::plane::InProcessPlane::launcher(parley_sfu::plane::InProcessSettings {
                listen: "127.0.0.1:0".parse().expect("addr"),
                advertised_ip: None,
                workers: 1,
                ice_tcp: true,
                coalescing: Default::default(),
            });
        (launch, launched, None)
    };
    let media: parley_control::LaunchMedia = match stall {
        None => media,
        Some(stall) => Arc::new(move |context| {
            let inner = media(context)?;
            Ok(Arc::new(Stalling { inner, stall }) as Arc<dyn parley_control::MediaPlane>)
        }),
    };
    let config = SignalingConfig {
        http: "127.0.0.1:0".parse().expect("addr"),
        public_url: None,
        data_dir: data.path().to_path_buf(),
        store_url: postgres::store_url().await,
        jurisdictions: jurisdictions(),
        join_token_leeway_seconds: 5,
        media: Some(media),
        connections: Default::default(),
        // Webhook retries in tenths of a second: a dead letter within the test.
        webhook_retry: parley_signaling::webhooks::retry::RetryPolicy {
            first_wait_ms: 100,
            max_wait_ms: 400,
            attempts: 4,
        },
    };
    let running = start_with_clock(&config, Arc::new(clock.clone()))
        .await
        .expect("signaling starts");
    let admin = running
        .bootstrap
        .new_admin_token
        .clone()
        .expect("first start creates an admin");
    Server {
        addr: running.addr,
        clock,
        admin,
        http: reqwest::Client::new(),
        _data: data,
        sfu: launched.get().expect("the SFU started").clone(),
        remote_sfu,
        task: running.task,
        sfu_task,
        standalone,
    }
}

/// A response: status and JSON body (Null when empty or not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
    pub fn id(&self) -> i64 {
        self.body["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no id in {} {}", self.status, self.body))
    }
    pub fn refusal_codes(&self) -> Vec<String> {
        self.body["refusals"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["code"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn now(&self) -> DateTime<Utc> {
        use parley_signaling::clock::Clock;
        self.clock.now()
    }

    /// GET `path` with no credentials; the response as it comes.
    pub async fn fetch(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("sent")
    }

    /// Signaling's `/metrics` (Prometheus text).
    pub async fn metrics(&self) -> String {
        self.fetch("/metrics").await.text().await.expect("text")
    }

    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self
            .http
            .request(method.clone(), self.url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let json = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        if json {
            crate::openapi_check::check(&method, path, status, &body);
        }
        Reply { status, body }
    }

    pub async fn get(&self, token: &str, path: &str) -> Reply {
        self.call(token, Method::GET, path, None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Reply {
        self.call(token, Method::POST, path, Some(body)).await
    }

    /// POST that must answer 201; returns the body.
    pub async fn create(&self, token: &str, path: &str, body: Value) -> Value {
        let r = self.post(token, path, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "POST {path}: {}", r.body);
        r.body
    }

    pub async fn user(
        &self,
        role: &str,
        facility_id: Option<i64>,
        contact_id: Option<i64>,
    ) -> String {
        let body = self
            .create(
                &self.admin,
                "/v1/users",
                json!({"name": format!("{role} user"), "role": role, "facility_id": facility_id, "contact_id": contact_id}),
            )
            .await;
        body["token"].as_str().expect("token").to_string()
    }

    pub async fn audit_count(&self) -> usize {
        let r = self.get(&self.admin, "/v1/audit?limit=500").await;
        r.body.as_array().map(Vec::len).unwrap_or(0)
    }

    /// The actions of the audit entries about `session`, oldest first, as
    /// `token` reads them.
    pub async fn audited_actions(&self, token: &str, session: i64) -> Vec<String> {
        let audit = self
            .get(token, &format!("/v1/audit?session_id={session}"))
            .await
            .body;
        audit
            .as_array()
            .expect("entries")
            .iter()
            .filter_map(|e| e["action"].as_str().map(str::to_string))
            .collect()
    }

    /// The administrator cancels `session` for `reason`, which must succeed.
    pub async fn cancel(&self, session: i64, reason: &str) {
        let c = self
            .post(
                &self.admin,
                &format!("/v1/sessions/{session}/cancel"),
                json!({"reason": reason}),
            )
            .await;
        assert_eq!(c.status, StatusCode::NO_CONTENT, "{}", c.body);
    }

    pub async fn session_count(&self) -> usize {
        self.sessions_listed_to(&self.admin).await.unwrap_or(0)
    }

    /// How many sessions `/v1/sessions` lists to `token` (`None`: no list).
    pub async fn sessions_listed_to(&self, token: &str) -> Option<usize> {
        let r = self.get(token, "/v1/sessions").await;
        r.body.as_array().map(Vec::len)
    }
}

/// A facility with a kiosk, a detainee and approved contacts.
pub struct Prison {
    pub facility: i64,
    pub kiosk: i64,
    pub second_kiosk: i64,
    pub detainee: i64,
    pub contacts: Vec<i64>,
}

pub async fn prison(s: &Server, jurisdiction: &str, approved: usize) -> Prison {
    let facility = facility(s, &format!("HMP {jurisdiction}"), "prison", jurisdiction).await;
    let kiosk = device(s, facility, "Wing A kiosk", "kiosk").await;
    let second_kiosk = device(s, facility, "Wing B kiosk", "kiosk").await;
    let detainee = new_detainee(s, facility, "A1234BC").await;
    let mut contacts = Vec::new();
    for i in 0..approved {
        let c = contact(s, &format!("Visitor {i}"), None).await;
        approve(s, detainee, c).await;
        contacts.push(c);
    }
    Prison {
        facility,
        kiosk,
        second_kiosk,
        detainee,
        contacts,
    }
}

/// A facility of `kind` ("prison" or "court") under `jurisdiction`; its id.
pub async fn facility(s: &Server, name: &str, kind: &str, jurisdiction: &str) -> i64 {
    s.create(
        &s.admin,
        "/v1/facilities",
        json!({"name": name, "kind": kind, "jurisdiction": jurisdiction}),
    )
    .await["id"]
        .as_i64()
        .expect("id")
}

/// A device of `kind` (e.g. "kiosk") at `facility`; its id.
pub async fn device(s: &Server, facility: i64, name: &str, kind: &str) -> i64 {
    s.create(
        &s.admin,
        &format!("/v1/facilities/{facility}/devices"),
        json!({"name": name, "kind": kind}),
    )
    .await["id"]
        .as_i64()
        .expect("id")
}

/// A one-hour hearing at a new demo court named `court`, starting at `at`,
/// with `participants` as (name, role); the created session.
pub async fn hearing(
    s: &Server,
    court: &str,
    at: DateTime<Utc>,
    participants: &[(&str, &str)],
) -> Value {
    let court = facility(s, court, "court", "demo").await;
    let participants: Vec<Value> = participants
        .iter()
        .map(|(name, role)| json!({"name": name, "role": role}))
        .collect();
    s.create(
        &s.admin,
        "/v1/hearings",
        json!({"facility_id": court, "title": "Hearing", "starts_at": at,
               "ends_at": at + Duration::hours(1), "participants": participants}),
    )
    .await
}

pub async fn new_detainee(s: &Server, facility: i64, number: &str) -> i64 {
    s.create(
        &s.admin,
        "/v1/detainees",
        json!({"facility_id": facility, "name": format!("Detainee {number}"), "number": number}),
    )
    .await["id"]
        .as_i64()
        .expect("id")
}

pub async fn contact(s: &Server, name: &str, bar: Option<&str>) -> i64 {
    s.create(
        &s.admin,
        "/v1/contacts",
        json!({"name": name, "bar_number": bar}),
    )
    .await["id"]
        .as_i64()
        .expect("id")
}

/// The administrator records that `contact`'s bar number `bar` was
/// checked; the reply.
pub async fn verify_bar(s: &Server, contact: i64, bar: &str) -> Reply {
    s.post(
        &s.admin,
        &format!("/v1/contacts/{contact}/verify-bar"),
        json!({"bar_number": bar}),
    )
    .await
}

pub async fn approve(s: &Server, detainee: i64, contact: i64) {
    s.create(
        &s.admin,
        &format!("/v1/detainees/{detainee}/contacts"),
        json!({"contact_id": contact, "relationship": "family"}),
    )
    .await;
}

/// A booking request body.
pub fn visit(
    kind: &str,
    p: &Prison,
    start: DateTime<Utc>,
    minutes: i64,
    visitors: &[i64],
) -> Value {
    json!({
        "kind": kind,
        "detainee_id": p.detainee,
        "device_id": p.kiosk,
        "starts_at": start,
        "ends_at": start + Duration::minutes(minutes),
        "visitors": visitors.iter().map(|c| json!({"contact_id": c, "consents_to_recording": true})).collect::<Vec<_>>(),
        "detainee_consents_to_recording": true,
    })
}

/// A request for a social visit to `p`'s detainee by all of its approved
/// contacts on its first kiosk.
/// A 30-minute legal visit of `p`'s detainee at `start` with a counsel
/// ("Counsel", bar number verified, approved): the booking and the
/// counsel's contact id.
pub async fn book_legal_visit(s: &Server, p: &Prison, start: DateTime<Utc>) -> (Value, i64) {
    let counsel = contact(s, "Counsel", Some("BAR-9")).await;
    approve(s, p.detainee, counsel).await;
    verify_bar(s, counsel, "BAR-9").await;
    let legal = s
        .create(
            &s.admin,
            "/v1/bookings",
            visit("legal_visit", p, start, 30, &[counsel]),
        )
        .await;
    (legal, counsel)
}

pub fn social_visit(p: &Prison, start: DateTime<Utc>, minutes: i64) -> Value {
    visit("social_visit", p, start, minutes, &p.contacts)
}

/// A [`social_visit`] booked by the administrator; the created session.
pub async fn book_social_visit(
    s: &Server,
    p: &Prison,
    start: DateTime<Utc>,
    minutes: i64,
) -> Value {
    s.create(&s.admin, "/v1/bookings", social_visit(p, start, minutes))
        .await
}

/// `days` days after the base Monday at `hour`:00 London time (GMT in March before DST).
pub fn day_at(days: i64, hour: u32) -> DateTime<Utc> {
    let d = base_instant() + Duration::days(days);
    Utc.with_ymd_and_hms(
        chrono::Datelike::year(&d),
        chrono::Datelike::month(&d),
        chrono::Datelike::day(&d),
        hour,
        0,
        0,
    )
    .single()
    .expect("valid")
}
