//! A case system's webhook hears that a hearing's recording is ready:
//! `parley up` (signaling, SFU and recorder sharing one store), a real
//! WebRTC client publishing into a recorded demo hearing, the hearing
//! ended by staff, and an HTTP receiver started by the test.

mod common;

use common::Server;
use parley_client::Client;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP receiver on 127.0.0.1 that answers 200 to every POST and keeps
/// each JSON body: its URL and what it got.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/parley", listener.local_addr().expect("addr"));
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let into = got.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let into = into.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() < end + 4 + length {
                        continue;
                    }
                    if let Ok(v) = serde_json::from_slice(&buf[end + 4..end + 4 + length]) {
                        into.lock().expect("inbox").push(v);
                    }
                    let _ = socket
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                    return;
                }
            });
        }
    });
    (url, got)
}

/// Reads messages from `ws` until one of type `kind`.
async fn until<S>(ws: &mut S, kind: &str) -> Value
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no `{kind}` within 20 s"))
            .unwrap_or_else(|| panic!("the socket closed before `{kind}`"))
            .expect("a message");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            let v: Value = serde_json::from_str(&text).expect("JSON");
            if v["type"] == kind {
                return v;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_system_hears_that_a_hearings_recording_is_ready() {
    use futures_util::SinkExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("data"));
    let api = server.api();
    let (url, inbox) = receiver().await;
    let court = api
        .create(
            "/v1/facilities",
            &json!({"name": "Court of Records", "kind": "court", "jurisdiction": "demo"}),
        )
        .await["id"]
        .as_i64()
        .expect("court");
    api.create(
        &format!("/v1/facilities/{court}/webhooks"),
        &json!({"url": url}),
    )
    .await;
    // The judge may enter before the start.
    let now = chrono::Utc::now() + chrono::Duration::minutes(1);
    let hearing = api
        .create(
            "/v1/hearings",
            &json!({"facility_id": court, "title": "R v Records", "starts_at": now,
                    "ends_at": now + chrono::Duration::hours(1),
                    "participants": [{"name": "Judge Ames", "role": "judge"}]}),
        )
        .await;
    let id = hearing["id"].as_i64().expect("id");
    let judge = hearing["participants"][0]["id"].as_i64().expect("judge");
    let (_, token) = api
        .post(
            &format!("/v1/sessions/{id}/participants/{judge}/join-token"),
            &json!({}),
        )
        .await;
    let ws_url = format!(
        "{}/v1/sessions/{id}/ws",
        server.url.replacen("http://", "ws://", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url)
        .await
        .expect("socket");
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        json!({"type": "join", "version": 1, "token": token["token"]})
            .to_string()
            .into(),
    ))
    .await
    .expect("join");
    let welcome = until(&mut ws, "welcome").await;
    assert_eq!(welcome["state"], "admitted", "{welcome}");
    let slots = welcome["receive_slots"].as_u64().expect("slots") as usize;
    let mut client = Client::new("judge", true, slots, 5_000)
        .await
        .expect("client");
    let offer = client.offer().await.expect("offer");
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        json!({"type": "offer", "sdp": offer}).to_string().into(),
    ))
    .await
    .expect("offer");
    let answer = until(&mut ws, "answer").await;
    client
        .accept(answer["sdp"].as_str().expect("sdp").to_string())
        .await
        .expect("connected");
    client.send(0, 150).await.expect("media");

    let (status, body) = api
        .post(
            &format!("/v1/sessions/{id}/end"),
            &json!({"reason": "Adjourned"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        let found = inbox
            .lock()
            .expect("inbox")
            .iter()
            .find(|e| e["type"] == "recording.ready")
            .cloned();
        if let Some(event) = found {
            break event;
        }
        assert!(
            Instant::now() < deadline,
            "no recording.ready within 30 s: {:?}",
            inbox.lock().expect("inbox")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ready["session_id"], id, "{ready}");
    assert_eq!(ready["facility_id"], court, "{ready}");
    assert_eq!(ready["actor"], "recorder", "{ready}");
    assert_eq!(
        ready["details"]["recording_id"],
        format!("session-{id}"),
        "{ready}"
    );
    let kinds: Vec<String> = inbox
        .lock()
        .expect("inbox")
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_string))
        .collect();
    let at = |k: &str| kinds.iter().position(|x| x == k);
    assert!(
        at("session.ended") < at("recording.ready") && at("session.ended").is_some(),
        "the end first, then the recording: {kinds:?}"
    );
}
