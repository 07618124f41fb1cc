//! Token and access attacks, as a checklist: each is refused, and each is
//! audited (refused joins as `join.refused`, refused monitoring as
//! `session.monitor` denied).
//!
//! | attack | refused with |
//! |---|---|
//! | `alg: none` | `invalid_token` |
//! | HS/RS confusion (`alg: RS256`, signed with the HMAC key) | `invalid_token` |
//! | a tampered claim (another participant in `sub`) | `invalid_token` |
//! | expired | `invalid_token` |
//! | not yet valid | `invalid_token` |
//! | another session's token | `wrong_session` |
//! | another participant's (a genuine token naming someone not on it) | `invalid_token` |
//! | another role's (a genuine token with the wrong role) | `invalid_token` |
//! | replay after removal | `forbidden` |
//! | replay after the session is over | `session_over` |
//! | a monitor token for a legal visit | 403 |
//! | an officer of another facility | 404 (the session is not revealed) |
//! | an observer trying to publish | every m-line it offered answered `inactive` or `sendonly` |

use crate::harness::*;
use crate::ws::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Duration;
use parley_client::Client;
use parley_grants::{JoinGrant, JoinTokens};
use parley_policy::{Role, SessionKind};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The code a join with `token` at `session` is refused with.
async fn refused_with(s: &Server, session: i64, token: &str) -> String {
    let (_, answer) = join(s, session, token).await;
    assert_eq!(answer["type"], "error", "expected a refusal: {answer}");
    answer["code"].as_str().expect("code").to_string()
}

/// The server's join-token signing key, as an attacker who stole it would
/// hold it: to make genuine tokens with chosen claims.
fn stolen_key(s: &Server) -> Vec<u8> {
    let hex = std::fs::read_to_string(s._data.path().join("join-token.key")).expect("key file");
    hex::decode(hex.trim()).expect("hex key")
}

/// A genuine token with these claims.
fn genuine(s: &Server, grant: &JoinGrant) -> String {
    JoinTokens::new(&stolen_key(s), 0)
        .expect("key")
        .issue(grant, s.now())
        .expect("token")
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let inner: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(message.iter().copied())
        .collect();
    let inner = Sha256::digest(&inner);
    let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).chain(inner).collect();
    Sha256::digest(&outer).to_vec()
}

/// `token` with its header replaced by `header` and signed as `signature`
/// says (`None`: no signature at all).
fn reheaded(token: &str, header: Value, key: Option<&[u8]>) -> String {
    let payload = token.split('.').nth(1).expect("payload");
    let signed = format!("{}.{payload}", B64.encode(header.to_string()));
    match key {
        Some(k) => format!("{signed}.{}", B64.encode(hmac_sha256(k, signed.as_bytes()))),
        None => format!("{signed}."),
    }
}

/// `token` with one claim changed and its original signature kept.
fn tampered(token: &str, claim: &str, value: Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&B64.decode(parts[1]).expect("b64")).expect("claims");
    claims[claim] = value;
    format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims.to_string()),
        parts[2]
    )
}

/// `(actor, decision)` of the session's `action` audit entries, oldest first.
async fn audited(s: &Server, session: i64, action: &str) -> Vec<(String, String)> {
    let r = s
        .get(
            &s.admin,
            &format!("/v1/audit?session_id={session}&limit=500"),
        )
        .await;
    r.body
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == action)
        .map(|e| {
            (
                e["actor"].as_str().unwrap_or("").to_string(),
                e["decision"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn forged_stale_borrowed_and_replayed_join_tokens_are_refused_and_audited() {
    let s = start().await;
    let visit = booked_visit(&s, 5, 30).await;
    let other = booked_visit(&s, 10, 30).await;
    let id = visit.id;
    let visitor = participant(&visit.booking, "visitor");
    let detainee = participant(&visit.booking, "detainee");
    let stranger = participant(&other.booking, "visitor");
    let key = stolen_key(&s);
    let grant = |participant_id, role, not_before, expires_at| JoinGrant {
        session_id: id,
        participant_id,
        role,
        kind: SessionKind::SocialVisit,
        not_before,
        expires_at,
    };
    let now = s.now();

    let attempts = [
        (
            "alg: none",
            reheaded(
                &visit.family_token,
                json!({"alg": "none", "typ": "JWT"}),
                None,
            ),
            "invalid_token",
        ),
        (
            "HS/RS confusion",
            reheaded(
                &visit.family_token,
                json!({"alg": "RS256", "typ": "JWT"}),
                Some(&key),
            ),
            "invalid_token",
        ),
        (
            "a tampered claim",
            tampered(&visit.family_token, "sub", json!(detainee.to_string())),
            "invalid_token",
        ),
        (
            "expired",
            genuine(
                &s,
                &grant(
                    visitor,
                    Role::Visitor,
                    now - Duration::hours(2),
                    now - Duration::hours(1),
                ),
            ),
            "invalid_token",
        ),
        (
            "not yet valid",
            genuine(
                &s,
                &grant(
                    visitor,
                    Role::Visitor,
                    now + Duration::hours(1),
                    now + Duration::hours(2),
                ),
            ),
            "invalid_token",
        ),
        (
            "another session's token",
            other.family_token.clone(),
            "wrong_session",
        ),
        (
            "another participant's",
            genuine(
                &s,
                &grant(stranger, Role::Visitor, now, now + Duration::hours(1)),
            ),
            "invalid_token",
        ),
        (
            "another role's",
            genuine(
                &s,
                &grant(visitor, Role::Officer, now, now + Duration::hours(1)),
            ),
            "invalid_token",
        ),
    ];
    let mut expected = Vec::new();
    for (what, token, code) in &attempts {
        assert_eq!(&refused_with(&s, id, token).await, code, "{what}");
        expected.push(code.to_string());
    }
    // The genuine token still works after all that.
    let (_, welcome) = join(&s, id, &visit.family_token).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");

    // Replay after the session is over.
    s.cancel(other.id, "Test over").await;
    assert_eq!(
        refused_with(&s, other.id, &other.family_token).await,
        "session_over"
    );

    let refusals = audited(&s, id, "join.refused").await;
    let decisions: Vec<String> = refusals.iter().map(|(_, d)| d.clone()).collect();
    assert_eq!(
        decisions, expected,
        "every refused join is audited: {refusals:?}"
    );
    // Forged or stale tokens name nobody; genuine ones name whom they name.
    let actors: Vec<&str> = refusals.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actors,
        [
            "unverified-token",
            "unverified-token",
            "unverified-token",
            "unverified-token",
            "unverified-token",
            "unverified-token",
            &format!("participant:{stranger}"),
            &format!("participant:{visitor}"),
        ]
    );
    assert_eq!(
        audited(&s, other.id, "join.refused").await,
        [(
            format!("participant:{}", participant(&other.booking, "visitor")),
            "session_over".to_string()
        )]
    );
}

#[tokio::test]
async fn a_removed_participant_cannot_come_back_with_the_same_token() {
    let s = start().await;
    let at = s.now() + Duration::minutes(5);
    let h = hearing(
        &s,
        "Court",
        at,
        &[("Judge J", "judge"), ("Witness W", "witness")],
    )
    .await;
    let id = h["id"].as_i64().expect("id");
    let witness = participant(&h, "witness");
    let witness_token = token(&s, &s.admin, id, witness).await;
    let (mut judge, _) = join_as(&s, &h, "judge").await;
    let (mut w, _) = join(&s, id, &witness_token).await;
    send(
        &mut judge,
        json!({"type": "admit", "participant_id": witness}),
    )
    .await;
    until(&mut w, "admitted").await;
    send(
        &mut judge,
        json!({"type": "remove", "participant_id": witness, "reason": "Disrupting the hearing"}),
    )
    .await;
    assert_eq!(until(&mut w, "ended").await["reason"], "removed");
    assert_eq!(refused_with(&s, id, &witness_token).await, "forbidden");
    assert_eq!(
        audited(&s, id, "join.refused").await,
        [(format!("participant:{witness}"), "forbidden".to_string())]
    );
}

#[tokio::test]
async fn officers_cannot_monitor_a_legal_visit_or_another_facilitys_visit() {
    let s = start().await;
    let p = prison(&s, "demo", 1).await;
    let at = s.now() + Duration::minutes(5);
    let (legal, _) = book_legal_visit(&s, &p, at).await;
    let legal_id = legal["id"].as_i64().expect("id");
    let social = book_social_visit(&s, &p, at + Duration::minutes(40), 30).await;
    let social_id = social["id"].as_i64().expect("id");
    s.clock.advance(Duration::minutes(5));

    let officer = s.user("officer", Some(p.facility), None).await;
    let m = s
        .post(
            &officer,
            &format!("/v1/sessions/{legal_id}/monitor"),
            json!({}),
        )
        .await;
    assert_eq!(m.status, StatusCode::FORBIDDEN, "{}", m.body);
    assert_eq!(
        audited(&s, legal_id, "session.monitor")
            .await
            .last()
            .map(|(_, d)| d.as_str()),
        Some("denied")
    );

    let elsewhere = facility(&s, "Elsewhere", "prison", "demo").await;
    let stranger = s.user("officer", Some(elsewhere), None).await;
    let m = s
        .post(
            &stranger,
            &format!("/v1/sessions/{social_id}/monitor"),
            json!({}),
        )
        .await;
    assert_eq!(m.status, StatusCode::NOT_FOUND, "{}", m.body);
    let denied = audited(&s, social_id, "session.monitor").await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0].1, "denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_who_offers_to_send_is_answered_that_nothing_is_taken() {
    let s = start().await;
    let at = s.now() + Duration::minutes(5);
    let h = hearing(
        &s,
        "Court",
        at,
        &[("Judge J", "judge"), ("Press P", "observer")],
    )
    .await;
    let (mut judge, _) = join_as(&s, &h, "judge").await;
    let (mut ws, welcome) = join_as(&s, &h, "observer").await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["state"], "lobby", "{welcome}");
    let observer = participant(&h, "observer");
    send(
        &mut judge,
        json!({"type": "admit", "participant_id": observer}),
    )
    .await;
    until(&mut ws, "admitted").await;
    // A page that opened its camera and microphone anyway.
    let mut gallery = Client::new("gallery", true, 1, 40_000)
        .await
        .expect("client");
    let offer = gallery.offer().await.expect("offer");
    send(&mut ws, json!({"type": "offer", "sdp": offer})).await;
    let answer = until(&mut ws, "answer").await;
    let directions: Vec<&str> = answer["sdp"]
        .as_str()
        .expect("sdp")
        .lines()
        .map(str::trim)
        .filter(|l| ["a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"].contains(l))
        .collect();
    assert!(!directions.is_empty(), "{answer}");
    assert!(
        directions
            .iter()
            .all(|d| *d == "a=inactive" || *d == "a=sendonly"),
        "an observer's answer takes nothing it sends: {directions:?}"
    );
}
