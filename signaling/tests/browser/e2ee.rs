//! End-to-end encryption of a legal visit: the web client's SFrame against
//! another implementation (the `sframe` crate), two browsers decoding each
//! other's sealed media, and a tap on what the SFU forwards that finds
//! nothing but ciphertext.

use crate::chromium::{Browser, Page, Screen, one_at_a_time};
use crate::firefox::Firefox;
use crate::harness::*;
use crate::join_page::*;
use crate::window::Window;
use crate::ws::{join, participant, send, token, until};
use chrono::Duration;
use parley_client::Client;
use parley_codec::vp8;
use parley_media::{PT_OPUS, PT_VP8};
use serde_json::{Value, json};
use sframe::CipherSuite;
use sframe::frame::{EncryptedFrame, MediaFrame, MonotonicCounter};
use sframe::header::SframeHeader;
use sframe::key::{DecryptionKey, EncryptionKey};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration as Wait;

const BASE_KEY: [u8; 16] = *b"parley-sframe-16";
const PLAINTEXT: &[u8] = b"a frame of plaintext";
/// A keyframe's clear VP8 payload header, as the web client leaves it.
const METADATA: [u8; 10] = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];

/// The web client's `sframe.js` seals frames that the `sframe` crate opens,
/// and opens frames the crate seals: the same header encoding, key and salt
/// derivation and AAD (header, then the clear metadata) as RFC 9605, for
/// short and long KIDs and counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_clients_sframe_agrees_with_another_implementation() {
    let _one = one_at_a_time().await;
    let s = start().await;
    let browser = Browser::launch().await;
    let page = browser.page("sframe", Screen::Desktop).await;
    page.goto(&s.url("/officer")).await;
    let cases: [(u64, u64); 4] = [(3, 0), (0x1234, 7), (u64::MAX - 5, 70_000), (9, 1 << 40)];
    let sealed = page
        .eval(&format!(
            "(async () => {{
               const s = await import('/web/sframe.js');
               const base = new TextEncoder().encode('{key}');
               const out = [];
               for (const [kid, ctr] of {cases}) {{
                 const keys = await s.deriveKeys(BigInt(kid), base);
                 const frame = await s.seal(keys, Number(ctr), Uint8Array.from({meta:?}),
                   new TextEncoder().encode('{text}'));
                 out.push(Array.from(frame));
               }}
               return out;
             }})()",
            key = std::str::from_utf8(&BASE_KEY).expect("ascii"),
            text = std::str::from_utf8(PLAINTEXT).expect("ascii"),
            cases = json!(cases.map(|(k, c)| [k.to_string(), c.to_string()])),
            meta = METADATA,
        ))
        .await;
    for ((kid, ctr), frame) in cases.iter().zip(sealed.as_array().expect("frames")) {
        let bytes: Vec<u8> = serde_json::from_value(frame.clone()).expect("bytes");
        assert_eq!(
            bytes[..METADATA.len()],
            METADATA,
            "the metadata comes first, clear"
        );
        let encrypted = EncryptedFrame::try_with_meta_data(&bytes[METADATA.len()..], METADATA)
            .expect("an SFrame header after the metadata");
        assert_eq!(
            (encrypted.header().key_id(), encrypted.header().counter()),
            (*kid, *ctr)
        );
        let key =
            DecryptionKey::derive_from(CipherSuite::AesGcm128Sha256, *kid, BASE_KEY).expect("key");
        let opened = encrypted
            .decrypt(&key)
            .expect("the crate opens the web client's frame");
        assert_eq!(opened.payload(), PLAINTEXT);
    }
    // And the other way: frames the crate sealed, opened by the web client.
    for (kid, start) in cases {
        let key =
            EncryptionKey::derive_from(CipherSuite::AesGcm128Sha256, kid, BASE_KEY).expect("key");
        let mut counter = MonotonicCounter::with_start_value(start, u64::MAX);
        let frame = MediaFrame::try_with_meta_data(&mut counter, PLAINTEXT, METADATA)
            .expect("a counter")
            .encrypt(&key)
            .expect("sealed");
        let opened = page
            .eval(&format!(
                "(async () => {{
                   const s = await import('/web/sframe.js');
                   const bytes = Uint8Array.from({bytes:?});
                   const header = s.decodeHeader(bytes, {clear});
                   const keys = await s.deriveKeys(header.kid, new TextEncoder().encode('{key}'));
                   const plain = await s.open(keys, header, bytes, {clear});
                   return [header.kid.toString(), header.ctr.toString(), new TextDecoder().decode(plain)];
                 }})()",
                bytes = frame.as_ref(),
                clear = METADATA.len(),
                key = std::str::from_utf8(&BASE_KEY).expect("ascii"),
            ))
            .await;
        assert_eq!(
            opened,
            json!([
                kid.to_string(),
                start.to_string(),
                std::str::from_utf8(PLAINTEXT).expect("ascii")
            ])
        );
    }
}

/// What the tap saw of one sender's stream (by SSRC): frames, the KIDs
/// and counters in their SFrame headers, and frames without one.
#[derive(Debug, Default)]
struct Tapped {
    audio: bool,
    frames: u64,
    keyframes: u64,
    kids: BTreeSet<u64>,
    last_ctr: Option<u64>,
    counter_went_back: u64,
    without_header: u64,
}

/// Reads each frame's start as the SFU forwarded it: a VP8 frame's clear
/// payload header then an SFrame header; an Opus packet's SFrame header.
fn tap(client: &Client) -> Arc<Mutex<BTreeMap<u32, Tapped>>> {
    let seen: Arc<Mutex<BTreeMap<u32, Tapped>>> = Arc::default();
    let into = seen.clone();
    client.on_packet(Arc::new(move |packet| {
        let payload = &packet.payload[..];
        let (audio, frame) = match packet.header.payload_type {
            PT_OPUS => (true, payload),
            PT_VP8 => match vp8::parse(payload) {
                Ok(d) if d.starts_frame() => (false, d.payload(payload)),
                _ => return,
            },
            _ => return,
        };
        let mut seen = into.lock().expect("tap");
        let t = seen.entry(packet.header.ssrc).or_default();
        t.audio = audio;
        t.frames += 1;
        let clear = match (audio, vp8::is_keyframe(frame)) {
            (true, _) => 0,
            (false, true) => 10,
            (false, false) => 3,
        };
        if !audio && clear == 10 {
            t.keyframes += 1;
        }
        match frame.get(clear..).map(SframeHeader::deserialize) {
            Some(Ok(h)) => {
                t.kids.insert(h.key_id());
                if t.last_ctr.is_some_and(|last| h.counter() <= last) {
                    t.counter_went_back += 1;
                }
                t.last_ctr = Some(h.counter());
            }
            _ => t.without_header += 1,
        }
    }));
    seen
}

/// A legal visit in `jurisdiction`, three hours from now with two verified
/// counsel, and the clock moved to a minute after its start: the session
/// and the participant ids of the detainee and the two counsel.
async fn legal_visit_under_way(s: &Server, jurisdiction: &str) -> (i64, i64, i64, i64) {
    let p = prison(s, jurisdiction, 0).await;
    let mut counsel = Vec::new();
    for (name, bar) in [("Counsel A", "BAR-1"), ("Counsel B", "BAR-2")] {
        let c = contact(s, name, Some(bar)).await;
        approve(s, p.detainee, c).await;
        verify_bar(s, c, bar).await;
        counsel.push(c);
    }
    let at = s.now() + Duration::hours(3);
    let booking = s
        .create(
            &s.admin,
            "/v1/bookings",
            visit("legal_visit", &p, at, 30, &counsel),
        )
        .await;
    let id = booking["id"].as_i64().expect("id");
    let people = booking["participants"].as_array().expect("participants");
    let of = |key: &str, value: Value| {
        people
            .iter()
            .find(|x| x[key] == value)
            .and_then(|x| x["id"].as_i64())
            .unwrap_or_else(|| panic!("no participant with {key} {value}: {booking}"))
    };
    let ids = (
        id,
        of("role", json!("detainee")),
        of("contact_id", json!(counsel[0])),
        of("contact_id", json!(counsel[1])),
    );
    s.clock.advance(at - s.now() + Duration::minutes(1));
    ids
}

/// A legal visit under way in Chromium pages.
struct Visit {
    s: Server,
    browser: Browser,
    kiosk: Page,
    office: Page,
    id: i64,
    /// The second counsel, whom no page joins as.
    tap_id: i64,
}

/// A Berlin legal visit (`[e2ee] privileged = "required"`) under way: the
/// detainee's kiosk page (in `lang`) opens its link, counsel's page joins
/// after its check, `before` (if any) run on counsel's page first.
async fn berlin_visit_in_chromium(lang: &str, before: Option<&str>) -> Visit {
    let s = start().await;
    let (id, detainee, lawyer, tap_id) = legal_visit_under_way(&s, "de-berlin").await;
    let browser = Browser::launch().await;
    let kiosk = browser.page("kiosk", Screen::Tablet).await;
    let office = browser.page("counsel", Screen::Desktop).await;
    if let Some(script) = before {
        office.before_scripts(script).await;
    }
    kiosk
        .goto(&join_link(
            &s,
            lang,
            &token(&s, &s.admin, id, detainee).await,
        ))
        .await;
    join_after_check(&office, &s, &token(&s, &s.admin, id, lawyer).await).await;
    Visit {
        s,
        browser,
        kiosk,
        office,
        id,
        tap_id,
    }
}

/// The page's end-to-end state (`window.parley.e2ee()`).
async fn e2ee(page: &Page) -> Value {
    page.eval("window.parley.e2ee()").await
}

/// A Berlin legal visit (`[e2ee] privileged = "required"`) between a
/// detainee's kiosk and counsel's browser: both show the same safety code
/// and decode each other's media, every frame sealed and opened. A second
/// counsel joins with a client that holds no key, a tap on the SFU's
/// output: every audio and video frame it gets carries an SFrame header
/// under one of the two browsers' KIDs (the VP8 payload header in the
/// clear, so the SFU still finds keyframes), and nothing else. When the
/// tap leaves, nobody needs a new key (it never had one); when counsel's
/// page reloads, the kiosk's sender key changes and the call goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legal_visit_is_sealed_end_to_end_and_the_sfu_forwards_only_ciphertext() {
    let _one = one_at_a_time().await;
    let Visit {
        s,
        browser: _browser,
        kiosk,
        office,
        id,
        tap_id,
    } = berlin_visit_in_chromium("de", None).await;
    for page in [&kiosk, &office] {
        wait_for_screen(page, "call", "the call", 20).await;
        page.wait(
            "document.querySelector('#e2ee').dataset.state === 'e2ee_on'",
            "end-to-end encryption with a safety code",
            Wait::from_secs(20),
        )
        .await;
    }
    let before = [
        kiosk.wait_for_media(20, 50, Wait::from_secs(30)).await,
        office.wait_for_media(20, 50, Wait::from_secs(30)).await,
    ];
    for page in [&kiosk, &office] {
        sealing_and_opening(page).await;
    }
    let (k, o) = (e2ee(&kiosk).await, e2ee(&office).await);
    assert_eq!(k["mode"], "required");
    let codecs = office.eval("window.parley.videoCodecs()").await;
    assert!(
        codecs.as_array().is_some_and(|c| c.contains(&json!("VP8"))
            && !c
                .iter()
                .any(|x| x.as_str().is_some_and(|x| x.eq_ignore_ascii_case("H264")))),
        "a sealed call offers VP8 and no H.264: {codecs}"
    );
    assert_eq!(k["code"], o["code"], "the same safety code on both sides");
    assert!(o["code"].as_str().is_some_and(|c| c.len() == 24), "{o}");
    assert!(
        office
            .text("#e2ee")
            .await
            .contains(o["code"].as_str().expect("code"))
    );
    assert!(kiosk.text("#e2ee").await.contains("Ende-zu-Ende"));
    for (name, e) in [("kiosk", &k), ("counsel", &o)] {
        assert!(e["framesEncrypted"].as_u64() > Some(100), "[{name}] {e}");
        assert!(e["framesDecrypted"].as_u64() > Some(100), "[{name}] {e}");
        assert_eq!(e["plainReceived"], 0, "[{name}] {e}");
        assert_eq!(e["plainSent"], 0, "[{name}] {e}");
    }

    // The tap: a client with no key, receiving what the SFU forwards.
    let (mut ws, welcome) = join(&s, id, &token(&s, &s.admin, id, tap_id).await).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let e2ee_message = until(&mut ws, "e2ee").await;
    assert_eq!(e2ee_message["mode"], "required");
    let slots = welcome["receive_slots"].as_u64().expect("slots") as usize;
    let mut client = Client::new("tap", false, slots, 40_000)
        .await
        .expect("client");
    let seen = tap(&client);
    send(
        &mut ws,
        json!({"type": "offer", "sdp": client.offer().await.expect("offer")}),
    )
    .await;
    let answer = until(&mut ws, "answer").await;
    client
        .accept(answer["sdp"].as_str().expect("sdp").to_string())
        .await
        .expect("connected");
    tokio::time::sleep(Wait::from_secs(6)).await;
    let kids: BTreeSet<u64> = [&kiosk, &office]
        .iter()
        .map(|_| ())
        .zip([e2ee(&kiosk).await, e2ee(&office).await])
        .map(|(_, e)| e["kid"].as_str().and_then(|k| k.parse().ok()).expect("kid"))
        .collect();
    {
        let seen = seen.lock().expect("tap");
        let (audio, video): (Vec<_>, Vec<_>) = seen.values().partition(|t| t.audio);
        assert_eq!(
            (audio.len(), video.len()),
            (2, 2),
            "both sides' audio and video: {seen:?}"
        );
        for t in seen.values() {
            assert!(t.frames > 20, "{t:?}");
            assert_eq!(
                t.without_header, 0,
                "a frame without an SFrame header: {t:?}"
            );
            assert_eq!(t.kids.len(), 1, "{t:?}");
            assert!(
                t.kids.is_subset(&kids),
                "a KID of a browser: {t:?} {kids:?}"
            );
            assert_eq!(t.counter_went_back, 0, "{t:?}");
        }
        for t in video {
            assert!(
                t.keyframes > 0,
                "the SFU found a keyframe to start the tap on: {t:?}"
            );
        }
    }
    for page in [&kiosk, &office] {
        page.wait(
            "document.querySelector('#e2ee').dataset.state === 'e2ee_waiting'",
            "someone without a key",
            Wait::from_secs(10),
        )
        .await;
    }

    // The tap leaves: new sender keys it never gets, and the call goes on.
    send(&mut ws, json!({"type": "leave"})).await;
    drop(client);
    for page in [&kiosk, &office] {
        page.wait(
            "document.querySelector('#e2ee').dataset.state === 'e2ee_on'",
            "sealed for everyone again",
            Wait::from_secs(10),
        )
        .await;
    }
    let o2 = e2ee(&office).await;
    assert_eq!(
        o2["kid"], o["kid"],
        "the tap never had counsel's key: no new one"
    );

    // Counsel's page reloads (a new key pair): the kiosk's sender key,
    // which the old page held, is replaced, and the call goes on.
    office
        .try_eval("setTimeout(() => location.reload(), 0)")
        .await;
    tokio::time::sleep(Wait::from_secs(1)).await;
    office
        .wait(
            "!document.querySelector('#join').disabled",
            "the pre-call check again",
            Wait::from_secs(15),
        )
        .await;
    office.click("#join").await;
    for page in [&kiosk, &office] {
        page.wait(
            "document.querySelector('#e2ee').dataset.state === 'e2ee_on'",
            "sealed for everyone after the reload",
            Wait::from_secs(20),
        )
        .await;
    }
    let k2 = e2ee(&kiosk).await;
    assert_ne!(k2["kid"], k["kid"], "the kiosk's new sender key");
    assert_eq!(
        e2ee(&office).await["code"],
        k2["code"],
        "a new safety code, the same on both"
    );
    assert_ne!(k2["code"], k["code"]);
    let back = office.wait_for_media(20, 50, Wait::from_secs(30)).await;
    let kiosk_now = kiosk
        .wait_for_media(before[0].0 + 30, before[0].1 + 50, Wait::from_secs(30))
        .await;
    assert!(back.0 > 20 && kiosk_now.0 > before[0].0);
    for (name, e) in [
        ("kiosk", e2ee(&kiosk).await),
        ("counsel", e2ee(&office).await),
    ] {
        assert_eq!(e["decryptFailures"], 0, "[{name}] {e}");
        assert_eq!(e["plainReceived"], 0, "[{name}] {e}");
    }
    kiosk.screenshot("e2ee-kiosk").await;
    office.screenshot("e2ee-counsel").await;
}

/// Waits until `page`'s worker has sealed and opened over 100 frames.
async fn sealing_and_opening(page: &impl Window) {
    page.wait(
        "window.parley.e2ee().then((e) => e.framesEncrypted > 100 && e.framesDecrypted > 100)",
        "over 100 frames sealed and opened",
        Wait::from_secs(30),
    )
    .await;
}

/// Waits until `page` shows the end-to-end state `state` (the `data-state`
/// of `#e2ee`: `e2ee_on`, `e2ee_waiting`, `e2ee_off_peer`…).
async fn shows(page: &impl Window, state: &str, what: &str) {
    page.wait(
        &format!("document.querySelector('#e2ee').dataset.state === '{state}'"),
        what,
        Wait::from_secs(20),
    )
    .await;
}

/// Firefox's counsel and Chromium's kiosk, in a demo legal visit
/// (`[e2ee] privileged = "offered"`): two WebRTC stacks and two
/// encoded-transform implementations seal and open each other's media
/// under the same safety code, for a minute without a freeze (Firefox
/// checking ICE consent at RFC 7675's 5 s pace). When a second counsel joins with a client
/// that cannot encrypt, both fall back to the SFU's encryption and say so;
/// when it leaves, both seal again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firefox_counsel_and_a_chromium_kiosk_seal_a_legal_visit_and_fall_back_when_offered() {
    let _one = one_at_a_time().await;
    let s = start().await;
    let (id, detainee, lawyer, second) = legal_visit_under_way(&s, "demo").await;
    let chromium = Browser::launch().await;
    let kiosk = chromium.page("kiosk", Screen::Tablet).await;
    let office = Firefox::launch("counsel-firefox").await;
    office
        .goto(&join_link(&s, "en", &token(&s, &s.admin, id, lawyer).await))
        .await;
    office
        .wait(
            "!document.querySelector('#join').disabled",
            "Firefox's pre-call check to pass",
            Wait::from_secs(20),
        )
        .await;
    office.click("#join").await;
    kiosk
        .goto(&join_link(
            &s,
            "en",
            &token(&s, &s.admin, id, detainee).await,
        ))
        .await;
    shows(&office, "e2ee_on", "Firefox sealing end to end").await;
    shows(&kiosk, "e2ee_on", "Chromium sealing end to end").await;
    office.wait_for_media(30, 50, Wait::from_secs(30)).await;
    kiosk.wait_for_media(30, 50, Wait::from_secs(30)).await;
    sealing_and_opening(&kiosk).await;
    sealing_and_opening(&office).await;
    let (k, o) = (
        kiosk.eval("window.parley.e2ee()").await,
        office.eval("window.parley.e2ee()").await,
    );
    assert_eq!(o["mode"], "offered");
    assert_eq!(k["code"], o["code"], "one safety code in both browsers");
    for (name, e) in [("Chromium", &k), ("Firefox", &o)] {
        assert!(e["framesDecrypted"].as_u64() > Some(100), "[{name}] {e}");
        assert_eq!(e["decryptFailures"], 0, "[{name}] {e}");
        assert_eq!(e["plainReceived"], 0, "[{name}] {e}");
    }
    office.screenshot("e2ee-firefox-counsel").await;
    // A minute of sealed media, read every second: both sides decode new
    // frames each time, nothing fails to open, nothing freezes.
    let first = (office.media().await, kiosk.media().await);
    let mut last = first;
    for second in 1..=60 {
        tokio::time::sleep(Wait::from_secs(1)).await;
        let now = (office.media().await, kiosk.media().await);
        assert!(
            now.0.frames_decoded > last.0.frames_decoded
                && now.1.frames_decoded > last.1.frames_decoded,
            "second {second}: frames decoded, Firefox {} -> {}, Chromium {} -> {}",
            last.0.frames_decoded,
            now.0.frames_decoded,
            last.1.frames_decoded,
            now.1.frames_decoded
        );
        last = now;
    }
    for (name, before, after) in [("Firefox", first.0, last.0), ("Chromium", first.1, last.1)] {
        assert_eq!(
            after.freezes, before.freezes,
            "{name}: {before:?} -> {after:?}"
        );
        assert!(
            after.samples > before.samples + 60 * 40_000,
            "{name} kept playing audio (48 kHz): {before:?} -> {after:?}"
        );
    }
    for (name, e) in [
        ("Firefox", office.eval("window.parley.e2ee()").await),
        ("Chromium", kiosk.eval("window.parley.e2ee()").await),
    ] {
        assert_eq!(e["decryptFailures"], 0, "[{name}] after a minute: {e}");
        assert_eq!(e["plainReceived"], 0, "[{name}] after a minute: {e}");
    }

    // A second counsel whose client sends no key: under `offered` both
    // browsers stop sealing (everyone must be able to open) and say so.
    let (mut ws, _) = join(&s, id, &token(&s, &s.admin, id, second).await).await;
    until(&mut ws, "e2ee").await;
    shows(&office, "e2ee_off_peer", "Firefox saying it is not sealed").await;
    shows(&kiosk, "e2ee_off_peer", "Chromium saying it is not sealed").await;
    let plain = kiosk.eval("window.parley.e2ee()").await;
    tokio::time::sleep(Wait::from_secs(2)).await;
    let later = kiosk.eval("window.parley.e2ee()").await;
    assert!(
        later["plainSent"].as_u64() > plain["plainSent"].as_u64(),
        "the kiosk sends unsealed frames now: {plain} then {later}"
    );
    assert_eq!(
        later["framesEncrypted"], plain["framesEncrypted"],
        "{later}"
    );
    send(&mut ws, json!({"type": "leave"})).await;
    shows(&office, "e2ee_on", "Firefox sealing again").await;
    shows(&kiosk, "e2ee_on", "Chromium sealing again").await;
    let before = office.received().await;
    let sealed = kiosk.eval("window.parley.e2ee()").await;
    office
        .wait_for_media(before.0 + 30, before.1 + 50, Wait::from_secs(20))
        .await;
    let after = kiosk.eval("window.parley.e2ee()").await;
    assert!(
        after["framesEncrypted"].as_u64() > sealed["framesEncrypted"].as_u64(),
        "{sealed} then {after}"
    );
}

/// Where end-to-end encryption is required (de-berlin), a browser that
/// cannot do it (here, Chromium with `RTCRtpScriptTransform` taken away) is
/// told so plainly and sends no media; the other side waits for its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_cannot_encrypt_gets_no_media_where_encryption_is_required() {
    let _one = one_at_a_time().await;
    // Every part kept to the end: the server and the browser too.
    let Visit {
        s: _server,
        browser: _browser,
        kiosk,
        office,
        ..
    } = berlin_visit_in_chromium("en", Some("delete window.RTCRtpScriptTransform;")).await;
    wait_for_screen(&office, "error", "the error screen", 20).await;
    assert!(
        office
            .text("#error-text")
            .await
            .contains("must be encrypted end to end"),
        "{}",
        office.text("#error-text").await
    );
    office.screenshot("e2ee-unsupported").await;
    shows(
        &kiosk,
        "e2ee_waiting",
        "the kiosk waiting for counsel's key",
    )
    .await;
    tokio::time::sleep(Wait::from_secs(3)).await;
    assert_eq!(office.eval("window.parley.connectionState()").await, "none");
    let kiosk_got = kiosk.received().await;
    assert_eq!(kiosk_got.0, 0, "no video reached the kiosk: {kiosk_got:?}");
}

/// A demo hearing: the judge sends the defendant and counsel into a
/// consultation; for as long as it lasts their two pages seal their media
/// for each other (the judge's page is not covered and gets nothing from
/// them), and when the judge recalls them they stop sealing and the judge
/// sees and hears them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consultation_is_sealed_end_to_end_while_it_lasts() {
    let _one = one_at_a_time().await;
    let s = start().await;
    let hearing = hearing(
        &s,
        "Demo Crown Court",
        s.now() + Duration::minutes(5),
        &[
            ("Judge Okafor", "judge"),
            ("D. Reyes", "defendant"),
            ("K. Adeyemi", "counsel"),
        ],
    )
    .await;
    let id = hearing["id"].as_i64().expect("id");
    let defendant_id = participant(&hearing, "defendant");
    let browser = Browser::launch().await;
    let bench = browser.page("judge", Screen::Desktop).await;
    let dock = browser.page("defendant", Screen::Tablet).await;
    let bar = browser.page("counsel", Screen::Desktop).await;
    join_after_check(
        &bench,
        &s,
        &token(&s, &s.admin, id, participant(&hearing, "judge")).await,
    )
    .await;
    for (page, role) in [(&dock, "defendant"), (&bar, "counsel")] {
        join_after_check(
            page,
            &s,
            &token(&s, &s.admin, id, participant(&hearing, role)).await,
        )
        .await;
        wait_for_screen(page, "waiting", "the lobby", 10).await;
        let pid = participant(&hearing, role);
        let admit =
            format!("#staff [data-list=lobby] [data-participant='{pid}'] [data-action=admit]");
        bench
            .wait(
                &format!("document.querySelector(\"{admit}\")"),
                "the lobby list",
                Wait::from_secs(10),
            )
            .await;
        bench.click(&admit).await;
        wait_for_screen(page, "call", "admitted", 10).await;
    }
    for page in [&bench, &dock, &bar] {
        page.wait_for_media(20, 50, Wait::from_secs(30)).await;
        assert_eq!(
            page.eval("document.querySelector('#e2ee').hidden").await,
            true
        );
    }

    let consult = format!("#consult-{defendant_id}");
    bench
        .wait(
            &format!("document.querySelector('{consult}')"),
            "the consult button",
            Wait::from_secs(10),
        )
        .await;
    bench.click(&consult).await;
    shows(&dock, "e2ee_on", "the defendant sealing for counsel").await;
    shows(&bar, "e2ee_on", "counsel sealing for the defendant").await;
    assert_eq!(
        dock.eval("window.parley.e2ee()").await["code"],
        bar.eval("window.parley.e2ee()").await["code"]
    );
    assert_eq!(
        bench.eval("document.querySelector('#e2ee').hidden").await,
        true
    );
    let (d0, b0) = (
        dock.eval("window.parley.e2ee()").await,
        bar.eval("window.parley.e2ee()").await,
    );
    let judge_before = bench.received().await;
    tokio::time::sleep(Wait::from_secs(3)).await;
    for (name, page, before) in [("defendant", &dock, &d0), ("counsel", &bar, &b0)] {
        let now = page.eval("window.parley.e2ee()").await;
        assert!(
            now["framesDecrypted"].as_u64() > before["framesDecrypted"].as_u64().map(|n| n + 50),
            "[{name}] opens the other's sealed frames: {before} then {now}"
        );
        assert_eq!(now["decryptFailures"], 0, "[{name}] {now}");
    }
    let judge_during = bench.received().await;
    assert!(
        judge_during.0 <= judge_before.0 + 5,
        "the judge gets no video from the consultation: {judge_before:?} then {judge_during:?}"
    );

    let recall = format!("#recall-{defendant_id}");
    bench
        .wait(
            &format!("document.querySelector('{recall}')"),
            "the recall button",
            Wait::from_secs(10),
        )
        .await;
    bench.click(&recall).await;
    for page in [&dock, &bar] {
        page.wait(
            "document.querySelector('#e2ee').hidden",
            "the notice gone after the consultation",
            Wait::from_secs(10),
        )
        .await;
    }
    let judge_back = bench
        .wait_for_media(
            judge_during.0 + 30,
            judge_during.1 + 50,
            Wait::from_secs(20),
        )
        .await;
    assert!(judge_back.0 > judge_during.0);
    let sealed = dock.eval("window.parley.e2ee()").await;
    tokio::time::sleep(Wait::from_secs(2)).await;
    let after = dock.eval("window.parley.e2ee()").await;
    assert!(
        after["plainSent"].as_u64() > sealed["plainSent"].as_u64(),
        "back in the hearing the defendant's media is not sealed: {sealed} then {after}"
    );
}
