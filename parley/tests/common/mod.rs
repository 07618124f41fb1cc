//! Helpers shared by the `parley` binary's integration tests: running the
//! real binary (always killed at the end, even when a test fails), talking to
//! its HTTP API, and picking visit times the `demo` jurisdiction accepts.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod netns;

use chrono::{DateTime, Duration as TimeDelta, SecondsFormat, Timelike, Utc};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_parley");

/// How long `parley up` may take to say it is running.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a one-shot subcommand (`config check`, `audit verify`, ...) may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// The repository's demo deployment file.
pub fn demo_config() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/demo.toml"))
}

/// The repository's `config/` directory.
pub fn config_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../config"))
}

/// The URL after `label` in the demo's output.
/// Writes `text` to the file `name` in `dir`: its path.
pub fn write_in(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

pub fn demo_link(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{out}"))
}

/// A child process whose stdout and stderr are read to their end on
/// threads.
struct Drained {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

/// Spawns `command` with `RUST_LOG=warn` and no stdin, reading its stdout
/// (each line also sent to `lines`, if given) and stderr on threads;
/// panics with `expect` if it cannot start.
fn spawn_drained(
    command: &mut Command,
    lines: Option<mpsc::Sender<String>>,
    expect: &str,
) -> Drained {
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(expect);
    let stdout = Arc::new(Mutex::new(String::new()));
    let stderr = Arc::new(Mutex::new(String::new()));
    let readers = vec![
        drain(child.stdout.take().unwrap(), stdout.clone(), lines),
        drain(child.stderr.take().unwrap(), stderr.clone(), None),
    ];
    Drained {
        child,
        stdout,
        stderr,
        readers,
    }
}

/// Reads a pipe to its end on a thread, appending to `sink` and sending each
/// line to `lines` (if given).
fn drain<R: Read + Send + 'static>(
    pipe: R,
    sink: Arc<Mutex<String>>,
    lines: Option<mpsc::Sender<String>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    sink.lock().unwrap().push_str(&line);
                    if let Some(tx) = &lines {
                        let _ = tx.send(line.trim_end().to_string());
                    }
                }
            }
        }
    })
}

/// A running `parley up`. Dropping it kills the process (SIGKILL) and waits
/// for it, so no test leaves a server behind, whatever happens.
pub struct Server {
    child: Option<Child>,
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    pub data: PathBuf,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Server {
    /// Starts `parley up --config config/demo.toml --http 127.0.0.1:0 --data DATA`
    /// and waits (bounded) until it prints that it is running.
    pub fn start(data: &Path) -> Server {
        Self::start_up(&demo_config(), data)
    }

    /// Starts `parley up` with deployment file `config` on 127.0.0.1:0.
    pub fn start_up(config: &Path, data: &Path) -> Server {
        Self::start_command_with("up", config, data)
    }

    /// Like [`Server::start`] with another subcommand that serves, e.g. `demo`.
    pub fn start_command(subcommand: &str, data: &Path) -> Server {
        Self::start_command_with(subcommand, &demo_config(), data)
    }

    /// Like [`Server::start_command`] with deployment file `config`.
    pub fn start_command_with(subcommand: &str, config: &Path, data: &Path) -> Server {
        Self::start_command_at(subcommand, config, "127.0.0.1:0", data)
    }

    /// Like [`Server::start_command_with`], serving HTTP on `http` (to come
    /// back on the same address after a restart).
    pub fn start_command_at(subcommand: &str, config: &Path, http: &str, data: &Path) -> Server {
        let args: Vec<std::ffi::OsString> = vec![
            subcommand.into(),
            "--config".into(),
            config.into(),
            "--http".into(),
            http.into(),
            "--data".into(),
            data.into(),
        ];
        Self::launch(&args, "Open:", data)
    }

    /// Runs `parley ARGS` (a subcommand that serves and prints `Open:`).
    pub fn start_args(args: &[&std::ffi::OsStr], data: &Path) -> Server {
        let args: Vec<std::ffi::OsString> = args.iter().map(|a| a.into()).collect();
        Self::launch(&args, "Open:", data)
    }

    /// Starts `parley sfu --config CONFIG`; `url` is its control API.
    pub fn start_sfu(config: &Path, data: &Path) -> Server {
        let args: Vec<std::ffi::OsString> = vec!["sfu".into(), "--config".into(), config.into()];
        Self::launch(&args, "Control API:", data)
    }

    /// Runs the binary with `args` until it says "Press Ctrl-C to stop.";
    /// the URL is the first word after `url_label` on a line.
    fn launch(args: &[std::ffi::OsString], url_label: &str, data: &Path) -> Server {
        let mut command = Command::new(BIN);
        command.args(args);
        Self::spawn(command, url_label, data, "http://127.0.0.1:")
    }

    /// Starts `parley recorder --config CONFIG --data DATA --listen LISTEN`
    /// (an address on 127.0.0.1); `url` is its QUIC address.
    pub fn start_recorder(config: &Path, data: &Path, listen: std::net::SocketAddr) -> Server {
        let mut command = Command::new(BIN);
        command
            .arg("recorder")
            .arg("--config")
            .arg(config)
            .arg("--data")
            .arg(data)
            .arg("--listen")
            .arg(listen.to_string());
        Self::spawn(command, "Recorder:", data, "127.0.0.1:")
    }

    /// Starts `parley SUBCOMMAND --config CONFIG --http HTTP --data DATA`
    /// inside network namespace `ns` (`ip netns exec`), `HTTP` being an
    /// address there.
    pub fn start_in_netns(
        ns: &str,
        subcommand: &str,
        config: &Path,
        http: std::net::SocketAddr,
        data: &Path,
    ) -> Server {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", ns, BIN, subcommand, "--config"])
            .arg(config)
            .arg("--http")
            .arg(http.to_string())
            .arg("--data")
            .arg(data);
        Self::spawn(command, "Open:", data, &format!("http://{}:", http.ip()))
    }

    /// Runs `command` until it says "Press Ctrl-C to stop."; the URL is the
    /// first word after `url_label` on a line and must start with
    /// `url_prefix`.
    fn spawn(mut command: Command, url_label: &str, data: &Path, url_prefix: &str) -> Server {
        let args = format!("{command:?}");
        let (tx, rx) = mpsc::channel();
        let Drained {
            child,
            stdout,
            stderr,
            readers,
        } = spawn_drained(&mut command, Some(tx), "spawn parley up");
        let mut server = Server {
            child: Some(child),
            url: String::new(),
            data: data.to_path_buf(),
            stdout,
            stderr,
            readers,
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut open = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.trim_start().strip_prefix(url_label) {
                        open = rest
                            .split_whitespace()
                            .next()
                            .map(|u| u.trim_end_matches('/').to_string());
                    }
                    if line.contains("Press Ctrl-C to stop.") {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let (out, err) = server.stop();
                    panic!(
                        "{args} did not say it was running within {STARTUP_TIMEOUT:?}\n--- stdout\n{out}\n--- stderr\n{err}"
                    );
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let (out, err) = server.stop();
                    panic!("{args} exited during startup\n--- stdout\n{out}\n--- stderr\n{err}");
                }
            }
        }
        match open {
            Some(url) if url.starts_with(url_prefix) && !url.ends_with(":0") => server.url = url,
            other => {
                let (out, err) = server.stop();
                panic!(
                    "no usable `Open:` URL (got {other:?})\n--- stdout\n{out}\n--- stderr\n{err}"
                );
            }
        }
        server
    }

    /// Everything the server printed to stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// The first administrator's token, from `DATA/admin-token`.
    pub fn admin_token(&self) -> String {
        read_admin_token(&self.data)
    }

    pub fn api(&self) -> Api {
        Api::new(&self.url, &self.admin_token())
    }

    /// Kills the process with SIGKILL (no chance to clean up), waits for it,
    /// and returns what it printed (stdout, stderr).
    pub fn kill9(mut self) -> (String, String) {
        let child = self.child.as_mut().expect("server already stopped");
        if let Ok(Some(status)) = child.try_wait() {
            let (out, err) = self.stop();
            panic!(
                "the server had already exited ({status}) before kill -9\n--- stdout\n{out}\n--- stderr\n{err}"
            );
        }
        let status = self.kill_and_wait().expect("server already stopped");
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                status.signal(),
                Some(9),
                "the server was not ended by SIGKILL: {status}"
            );
        }
        #[cfg(not(unix))]
        let _ = status;
        self.collect()
    }

    fn kill_and_wait(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }

    /// Kills (if still running) and returns the captured output.
    fn stop(&mut self) -> (String, String) {
        self.kill_and_wait();
        self.collect()
    }

    fn collect(&mut self) -> (String, String) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        (
            self.stdout.lock().unwrap().clone(),
            self.stderr.lock().unwrap().clone(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_and_wait();
    }
}

pub fn read_admin_token(data: &Path) -> String {
    let path = data.join("admin-token");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// The result of a one-shot `parley` subcommand.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.status.success(),
            "expected success, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts a plain failure: non-zero exit, not a crash (panic or signal).
    pub fn assert_failure(&self) -> &Self {
        assert!(
            !self.status.success(),
            "expected failure, got success\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.status.code().is_some() && self.status.code() != Some(101),
            "expected a clean error exit, got {} (panic or signal)\n--- stderr\n{}",
            self.status,
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "the command panicked:\n{}",
            self.stderr
        );
        self
    }

    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert_stream_contains(("stderr", &self.stderr), ("stdout", &self.stdout), needle);
        self
    }

    pub fn assert_stdout_contains(&self, needle: &str) -> &Self {
        assert_stream_contains(("stdout", &self.stdout), ("stderr", &self.stderr), needle);
        self
    }
}

/// Asserts that the named stream `(name, text)` contains `needle`, showing
/// both it and the `other` stream if not.
fn assert_stream_contains((name, text): (&str, &str), other: (&str, &str), needle: &str) {
    assert!(
        text.contains(needle),
        "{name} does not contain {needle:?}\n--- {name}\n{text}\n--- {}\n{}",
        other.0,
        other.1
    );
}

/// Runs `parley ARGS` to completion, killing it if it takes longer than
/// [`COMMAND_TIMEOUT`].
pub fn parley<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().into()).collect();
    let Drained {
        mut child,
        stdout,
        stderr,
        readers,
    } = spawn_drained(Command::new(BIN).args(&args), None, "spawn parley");
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        match child.try_wait().expect("wait for parley") {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                for r in readers {
                    let _ = r.join();
                }
                panic!(
                    "parley {args:?} did not finish within {COMMAND_TIMEOUT:?}\n--- stdout\n{}\n--- stderr\n{}",
                    stdout.lock().unwrap(),
                    stderr.lock().unwrap()
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    for r in readers {
        let _ = r.join();
    }
    let stdout = stdout.lock().unwrap().clone();
    let stderr = stderr.lock().unwrap().clone();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// The number of the first `entry N` that `text` mentions: the entry an
/// audit error names as the first broken one.
pub fn first_entry_named(text: &str) -> Option<i64> {
    text.match_indices("entry ").find_map(|(i, m)| {
        let digits: String = text[i + m.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

/// `parley audit verify --data DATA`; on success returns (entries, head hash).
pub fn audit_verify(data: &Path) -> Output {
    parley([
        std::ffi::OsStr::new("audit"),
        "verify".as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
    ])
}

/// `parley config check --config CONFIG`.
pub fn config_check(config: &Path) -> Output {
    parley([
        std::ffi::OsStr::new("config"),
        "check".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ])
}

/// Parses "audit log intact: N entries; head HASH".
pub fn parse_intact(out: &Output) -> (i64, String) {
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("audit log intact: "))
        .unwrap_or_else(|| panic!("no `audit log intact` line in:\n{}", out.stdout));
    let rest = line.trim_start_matches("audit log intact: ");
    let (n, head) = rest
        .split_once(" entries; head ")
        .unwrap_or_else(|| panic!("unexpected verify output: {line}"));
    (
        n.parse().unwrap_or_else(|_| panic!("bad count in: {line}")),
        head.trim().to_string(),
    )
}

/// A small client for the HTTP API, authenticated as one caller.
pub struct Api {
    client: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Api {
        Api {
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("http client"),
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> (u16, Value) {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        self.send(self.client.get(&url), &format!("GET {path}"))
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        self.send(self.client.post(&url).json(body), &format!("POST {path}"))
            .await
    }

    /// GET that must answer 200.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// POST that must answer 201 Created; returns the body.
    pub async fn create(&self, path: &str, body: &Value) -> Value {
        let (status, resp) = self.post(path, body).await;
        assert_eq!(status, 201, "POST {path} {body}: {resp}");
        resp
    }

    /// The whole audit log as the API lists it (at most 500 entries).
    pub async fn audit(&self) -> Vec<Value> {
        match self.get_ok("/v1/audit?limit=500").await {
            Value::Array(entries) => entries,
            other => panic!("GET /v1/audit: not a list: {other}"),
        }
    }

    pub async fn facility(&self, name: &str) -> i64 {
        let f = self
            .create(
                "/v1/facilities",
                &json!({"name": name, "kind": "prison", "jurisdiction": "demo"}),
            )
            .await;
        id(&f)
    }

    pub async fn device(&self, facility: i64, name: &str) -> i64 {
        let d = self
            .create(
                &format!("/v1/facilities/{facility}/devices"),
                &json!({"name": name, "kind": "kiosk"}),
            )
            .await;
        id(&d)
    }

    pub async fn detainee(&self, facility: i64, name: &str, number: &str) -> i64 {
        let d = self
            .create(
                "/v1/detainees",
                &json!({"facility_id": facility, "name": name, "number": number}),
            )
            .await;
        id(&d)
    }

    pub async fn contact(&self, name: &str) -> i64 {
        id(&self.create("/v1/contacts", &json!({"name": name})).await)
    }

    pub async fn approve(&self, detainee: i64, contact: i64, relationship: &str) {
        self.create(
            &format!("/v1/detainees/{detainee}/contacts"),
            &json!({"contact_id": contact, "relationship": relationship}),
        )
        .await;
    }

    /// The booking request for a social visit with one consenting visitor.
    pub fn visit_request(
        detainee: i64,
        device: i64,
        contact: i64,
        starts_at: DateTime<Utc>,
        minutes: i64,
    ) -> Value {
        json!({
            "kind": "social_visit",
            "detainee_id": detainee,
            "device_id": device,
            "starts_at": rfc3339(starts_at),
            "ends_at": rfc3339(starts_at + TimeDelta::minutes(minutes)),
            "visitors": [{"contact_id": contact, "consents_to_recording": true}],
        })
    }

    /// Books a social visit that must be accepted; returns the session.
    pub async fn book(
        &self,
        detainee: i64,
        device: i64,
        contact: i64,
        starts_at: DateTime<Utc>,
        minutes: i64,
    ) -> Value {
        self.create(
            "/v1/bookings",
            &Self::visit_request(detainee, device, contact, starts_at, minutes),
        )
        .await
    }
}

pub fn id(v: &Value) -> i64 {
    v["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no numeric `id` in {v}"))
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A start time about an hour from now, on a whole 5 minutes (the `demo`
/// jurisdiction is open around the clock, so any span fits).
pub fn visit_slot() -> DateTime<Utc> {
    let soon = Utc::now() + TimeDelta::minutes(60);
    let soon = soon + TimeDelta::minutes(i64::from(5 - soon.minute() % 5));
    soon.with_second(0).unwrap().with_nanosecond(0).unwrap()
}
