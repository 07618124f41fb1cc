//! The HTTP front door of a real `parley up` under abuse: a slow-loris
//! client and a silent one are cut off at the request-head timeout, and an
//! address past its connection limit is turned away, while others are
//! served.

mod common;

use common::Server;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Set in the deployment file of these tests.
const PER_IP: usize = 4;
const HEAD_TIMEOUT: Duration = Duration::from_secs(2);

/// The demo deployment with tight limits, written to `path`.
fn write_deployment(path: &Path) {
    let demo = std::fs::read_to_string(common::demo_config()).expect("demo config");
    let jurisdictions = common::config_dir().join("jurisdictions");
    let text = demo
        .replace(
            "jurisdictions_dir = \"jurisdictions\"",
            &format!(
                "jurisdictions_dir = {:?}",
                jurisdictions.display().to_string()
            ),
        )
        .replace(
            "[server]\n",
            &format!(
                "[server]\nmax_connections_per_ip = {PER_IP}\nrequest_head_timeout_seconds = {}\n",
                HEAD_TIMEOUT.as_secs()
            ),
        );
    assert!(
        text.contains("max_connections_per_ip") && text.contains(&format!("{jurisdictions:?}")),
        "config/demo.toml no longer has the lines this test rewrites"
    );
    std::fs::write(path, text).expect("deployment written");
}

fn connect(server: &Server) -> TcpStream {
    let addr = server.url.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    stream
}

/// Reads until the server closes `stream` (end of file or reset), for at
/// most `limit`; how long that took, or `None` if it stayed open.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 512];
    while start.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

fn get(server: &Server, path: &str) -> String {
    let mut stream = connect(server);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("sent");
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply
}

#[test]
fn slow_silent_and_greedy_clients_are_cut_off_and_others_are_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("deployment.toml");
    write_deployment(&config);
    let server = Server::start_up(&config, &dir.path().join("data"));
    assert!(get(&server, "/healthz").starts_with("HTTP/1.1 200"));

    // Slow loris: a header line every half second never completes a head.
    let mut slow = connect(&server);
    write!(slow, "GET /healthz HTTP/1.1\r\n").expect("sent");
    let start = Instant::now();
    let mut cut = None;
    for i in 0..40 {
        if write!(slow, "X-Slow-{i}: y\r\n").is_err() {
            cut = Some(start.elapsed());
            break;
        }
        if let Some(after) = closed_within(&mut slow, Duration::from_millis(500)) {
            cut = Some(start.elapsed().max(after));
            break;
        }
    }
    let cut = cut.expect("a slow-loris client is cut off");
    assert!(
        cut >= HEAD_TIMEOUT - Duration::from_millis(300) && cut < HEAD_TIMEOUT * 4,
        "cut off after {cut:?}; the head timeout is {HEAD_TIMEOUT:?}"
    );

    // A client that connects and says nothing.
    let mut silent = connect(&server);
    let after = closed_within(&mut silent, HEAD_TIMEOUT * 4).expect("a silent client is cut off");
    assert!(
        after >= HEAD_TIMEOUT - Duration::from_millis(300),
        "after {after:?}"
    );

    // One address holds at most its limit; one more is closed at once.
    let mut held: Vec<TcpStream> = (0..PER_IP).map(|_| connect(&server)).collect();
    let mut extra = connect(&server);
    let turned_away = closed_within(&mut extra, Duration::from_secs(1));
    assert!(
        turned_away.is_some(),
        "connection {} of one address is refused",
        PER_IP + 1
    );
    // The held ones were served all along: each still answers.
    for stream in &mut held {
        write!(
            stream,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("sent");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        let mut reply = String::new();
        let _ = stream.read_to_string(&mut reply);
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply:?}");
    }
    drop(held);
    // Their slots are free again, and the refusal was counted.
    let metrics = (0..50)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            get(&server, "/metrics")
        })
        .find(|reply| reply.starts_with("HTTP/1.1 200"))
        .expect("the address is served again once its connections closed");
    let refused = metrics
        .lines()
        .find_map(|l| l.strip_prefix("parley_http_connections_refused_total "))
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert!(
        refused.is_some_and(|n| n >= 1),
        "refusals counted: {refused:?}"
    );
}
