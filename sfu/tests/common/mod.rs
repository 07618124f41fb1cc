//! Helpers of the SFU tests: a shared token key, an SFU on 127.0.0.1, and
//! joining a client straight through the SFU's control API.

#![allow(dead_code)]

use chrono::{Duration as Span, Utc};
use parley_client::Client;
use parley_client::relay::Relay;
use parley_grants::{JoinGrant, JoinTokens};
use parley_policy::{Role, SessionKind};
use parley_sfu::engine::{JoinAnswer, JoinRequest, RoomId, Sfu, SfuConfig};
use parley_sfu::room::{MemberId, RoomPolicy};
use std::sync::Arc;

/// An ordinary room: not privileged, not recorded, not monitored.
pub const ORDINARY: RoomPolicy = RoomPolicy {
    privileged: false,
    recorded: false,
    monitoring_allowed: false,
};

/// The signing key tests share with the SFU.
pub fn tokens() -> JoinTokens {
    JoinTokens::new(&[7u8; parley_grants::KEY_BYTES], 5).expect("key")
}

/// An SFU on 127.0.0.1 with two workers, checking tokens with the wall clock.
pub fn sfu() -> Arc<Sfu> {
    Arc::new(
        Sfu::start(&SfuConfig {
            ice_tcp: true,
            ..SfuConfig::new(
                "127.0.0.1:0".parse().expect("addr"),
                2,
                tokens(),
                Arc::new(Utc::now),
            )
        })
        .expect("sfu starts"),
    )
}

/// An SFU as [`sfu`] with `room` open under `policy`.
pub fn sfu_with_room(room: RoomId, policy: RoomPolicy) -> anyhow::Result<Arc<Sfu>> {
    let sfu = sfu();
    sfu.open_room(room, policy)?;
    Ok(sfu)
}

/// A join token for an ordinary session, valid for the next hour.
pub fn token(room: RoomId, member: MemberId, role: Role) -> String {
    token_for(SessionKind::CourtHearing, room, member, role)
}

/// A join token for a privileged session (a legal visit).
pub fn privileged_token(room: RoomId, member: MemberId, role: Role) -> String {
    token_for(SessionKind::LegalVisit, room, member, role)
}

fn token_for(kind: SessionKind, room: RoomId, member: MemberId, role: Role) -> String {
    let now = Utc::now();
    tokens()
        .issue(
            &JoinGrant {
                session_id: room,
                participant_id: member,
                role,
                kind,
                not_before: now - Span::minutes(1),
                expires_at: now + Span::hours(1),
            },
            now,
        )
        .expect("token")
}

/// `receiver` got the `sent` audio and video packets of `from`, all but
/// `slack` of them at the most.
pub fn assert_all_arrived(receiver: &Client, from: &str, sent: u16, slack: u64) {
    for kind in ["audio", "video"] {
        let got = receiver.got(from, kind);
        assert!(
            got + slack >= u64::from(sent) && got <= u64::from(sent),
            "{} got {got} of {sent} {kind} packets of {from}",
            receiver.name
        );
    }
}

/// The SFU's UDP address in an answer (its host candidate).
pub fn udp_candidate(sdp: &str) -> Option<std::net::SocketAddr> {
    sdp.lines().find_map(|l| {
        let fields: Vec<&str> = l.strip_prefix("a=candidate:")?.split_whitespace().collect();
        if fields.get(2)?.eq_ignore_ascii_case("udp") {
            format!("{}:{}", fields.get(4)?, fields.get(5)?)
                .parse()
                .ok()
        } else {
            None
        }
    })
}

/// Hands `offer` to the SFU (off the async threads, as the control API
/// does) and returns its answer.
pub async fn answer(
    sfu: &Arc<Sfu>,
    room: RoomId,
    token: String,
    offer: String,
    receive_slots: usize,
) -> anyhow::Result<JoinAnswer> {
    let sfu = sfu.clone();
    let answer = tokio::task::spawn_blocking(move || {
        sfu.join(JoinRequest {
            room,
            token,
            offer,
            receive_slots,
            standing: Default::default(),
        })
    })
    .await??;
    Ok(answer)
}

/// Like [`join`], with every packet between the client and the SFU
/// crossing a [`Relay`] that the test can watch and cut.
pub async fn join_through_relay(
    client: &mut Client,
    sfu: &Arc<Sfu>,
    room: RoomId,
    token: String,
    receive_slots: usize,
    seed: u64,
) -> anyhow::Result<Relay> {
    let offer = client.offer().await?;
    let answer = answer(sfu, room, token, offer, receive_slots).await?;
    let target = udp_candidate(&answer.sdp)
        .ok_or_else(|| anyhow::anyhow!("no UDP candidate in the answer"))?;
    let relay = Relay::start(target, seed).await?;
    client
        .accept(relay.rewrite_answer(&answer.sdp, target))
        .await?;
    Ok(relay)
}

/// Offers, lets the SFU answer, and waits until connected.
pub async fn join(
    client: &mut Client,
    sfu: &Arc<Sfu>,
    room: RoomId,
    token: String,
    receive_slots: usize,
) -> anyhow::Result<()> {
    let offer = client.offer().await?;
    let answer = answer(sfu, room, token, offer, receive_slots).await?;
    client.accept(answer.sdp).await
}

/// Every one of `clients` sends `count` packets of audio and video at once,
/// numbered from `first`.
pub async fn send_together(clients: &[&Client], first: u16, count: u16) -> anyhow::Result<()> {
    let sends = clients.iter().map(|c| c.send(first, count));
    for sent in futures_util::future::join_all(sends).await {
        sent?;
    }
    Ok(())
}
