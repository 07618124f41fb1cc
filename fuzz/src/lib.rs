//! What the fuzz targets share: a live call on a real SFU, for the targets
//! that feed the media port and the offer handling.
//!
//! [`LiveCall`] starts an SFU on 127.0.0.1 with one open room and two
//! webrtc-rs clients in it, one of them behind a [`Relay`]. Connected over
//! ICE and DTLS-SRTP, they have sent media; the SFU knows the relay's
//! upstream address as that client's. A fuzz input sent from there
//! ([`LiveCall::deliver`]) is what the worker takes for the live peer's own
//! traffic: its demultiplexing, STUN, DTLS, SRTP and SRTCP paths.

use chrono::{Duration as Span, Utc};
use parley_client::Client;
use parley_client::relay::Relay;
use parley_control::{JoinRequest, RoomPolicy};
use parley_grants::{JoinGrant, JoinTokens};
use parley_policy::{Role, SessionKind};
use parley_sfu::engine::{Sfu, SfuConfig, SfuError};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The room of the live call.
pub const ROOM: i64 = 1;
/// The member id [`LiveCall::offer`] joins as (and removes again).
pub const OFFERING_MEMBER: i64 = 99;
/// How long a delivered datagram may take to be answered before the call
/// is taken as gone and set up again.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

fn tokens() -> JoinTokens {
    JoinTokens::new(&[7u8; parley_grants::KEY_BYTES], 5).expect("a 32-byte key")
}

fn token(member: i64, role: Role) -> String {
    let now = Utc::now();
    tokens()
        .issue(
            &JoinGrant {
                session_id: ROOM,
                participant_id: member,
                role,
                kind: SessionKind::SocialVisit,
                not_before: now - Span::minutes(1),
                expires_at: now + Span::days(1),
            },
            now,
        )
        .expect("a token")
}

/// The clients of a call; kept so that their connections stay up.
struct Call {
    relay: Relay,
    _family: Client,
    _detainee: Client,
    /// A binding request the relayed client sent: answered by the SFU each
    /// time it is delivered again, it marks that what went before it has
    /// been taken.
    fence: Vec<u8>,
}

/// An SFU with a connected visit in it.
pub struct LiveCall {
    runtime: tokio::runtime::Runtime,
    sfu: Arc<Sfu>,
    call: Call,
    /// Calls set up again after a delivered input left no answer.
    pub restarts: u64,
}

impl LiveCall {
    /// Starts the SFU and connects the call; panics if it cannot (the
    /// target cannot run without it).
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let sfu = Arc::new(
            Sfu::start(&SfuConfig::new(
                "127.0.0.1:0".parse().expect("an address"),
                1,
                tokens(),
                Arc::new(Utc::now),
            ))
            .expect("the SFU starts"),
        );
        let ordinary = RoomPolicy {
            privileged: false,
            recorded: false,
            monitoring_allowed: false,
        };
        sfu.open_room(ROOM, ordinary).expect("the room opens");
        let call = runtime
            .block_on(connect(&sfu, 1))
            .expect("the call connects");
        Self {
            runtime,
            sfu,
            call,
            restarts: 0,
        }
    }

    /// What the relayed client sent, as captured (STUN, DTLS, SRTP, SRTCP).
    pub fn captured(&self) -> Vec<Vec<u8>> {
        self.call
            .relay
            .crossed
            .kept_from_client
            .lock()
            .map(|k| k.clone())
            .unwrap_or_default()
    }

    /// Sends `datagram` from the live peer's address and waits until the
    /// worker has taken it: the SFU has answered the binding request sent
    /// after it. If no answer comes (the input ended the peer), the call is
    /// set up again for the next input.
    pub fn deliver(&mut self, datagram: &[u8]) {
        let crossed = self.call.relay.crossed.clone();
        let before = crossed.responses_to_client.load(Ordering::Relaxed);
        self.call.relay.inject(datagram.to_vec());
        self.call.relay.inject(self.call.fence.clone());
        let deadline = Instant::now() + ANSWER_WITHIN;
        while crossed.responses_to_client.load(Ordering::Relaxed) == before {
            if Instant::now() > deadline {
                self.reconnect();
                return;
            }
            std::thread::yield_now();
        }
    }

    fn reconnect(&mut self) {
        self.restarts += 1;
        eprintln!(
            "live call: no answer {} s after an input; connecting again ({} so far)",
            ANSWER_WITHIN.as_secs(),
            self.restarts
        );
        let first = 1 + 2 * i64::try_from(self.restarts).unwrap_or(0);
        for member in [first - 2, first - 1] {
            let _ = self.sfu.remove(ROOM, member);
        }
        self.call = self
            .runtime
            .block_on(connect(&self.sfu, first))
            .expect("the call connects again");
    }

    /// Hands `offer` to the SFU as a join of [`OFFERING_MEMBER`], and
    /// removes that member again if it was admitted.
    pub fn offer(&self, offer: String) -> Result<String, SfuError> {
        let answer = self.sfu.join(JoinRequest {
            room: ROOM,
            token: token(OFFERING_MEMBER, Role::Visitor),
            offer,
            receive_slots: 1,
            standing: Default::default(),
        })?;
        self.sfu.remove(ROOM, OFFERING_MEMBER)?;
        Ok(answer.sdp)
    }

    /// Offers that real clients made: each client kind of the tests.
    pub fn real_offers(&self) -> Vec<String> {
        self.runtime.block_on(async {
            let mut offers = Vec::new();
            for client in [
                Client::new("plain", true, 1, 10).await,
                Client::new("watcher", false, 4, 20).await,
                Client::aes_cm_only("aes-cm", true, 1, 30).await,
                Client::simulcast("layers", 1, 40).await,
            ] {
                let Ok(mut client) = client else { continue };
                if let Ok(offer) = client.offer().await {
                    offers.push(offer);
                }
            }
            offers
        })
    }
}

/// Joins a family member through a relay and a detainee directly, as
/// members `first` and `first + 1`, and has both send a second of media.
async fn connect(sfu: &Arc<Sfu>, first: i64) -> Result<Call, Box<dyn std::error::Error>> {
    let mut family = Client::new("family", true, 1, 1000).await?;
    let mut detainee = Client::new("detainee", true, 1, 2000).await?;
    let offer = family.offer().await?;
    let answer = join(sfu, first, Role::Visitor, offer).await?;
    let target = answer
        .lines()
        .find_map(udp_candidate)
        .ok_or("no UDP candidate in the answer")?;
    let relay = Relay::start(target, 1).await?;
    family.accept(relay.rewrite_answer(&answer, target)).await?;
    let offer = detainee.offer().await?;
    let answer = join(sfu, first + 1, Role::Detainee, offer).await?;
    detainee.accept(answer).await?;
    family.send(1, 50).await?;
    detainee.send(1, 50).await?;
    let fence = relay
        .crossed
        .kept_from_client
        .lock()
        .ok()
        .and_then(|kept| {
            kept.iter()
                .find(|d| d.len() >= 20 && d[0] == 0 && d[1] == 1)
                .cloned()
        })
        .ok_or("the client sent no binding request")?;
    Ok(Call {
        relay,
        _family: family,
        _detainee: detainee,
        fence,
    })
}

async fn join(
    sfu: &Arc<Sfu>,
    member: i64,
    role: Role,
    offer: String,
) -> Result<String, Box<dyn std::error::Error>> {
    let sfu = sfu.clone();
    let answer = tokio::task::spawn_blocking(move || {
        sfu.join(JoinRequest {
            room: ROOM,
            token: token(member, role),
            offer,
            receive_slots: 1,
            standing: Default::default(),
        })
    })
    .await??;
    Ok(answer.sdp)
}

/// The address of a UDP host candidate line.
fn udp_candidate(line: &str) -> Option<std::net::SocketAddr> {
    let fields: Vec<&str> = line
        .trim_end()
        .strip_prefix("a=candidate:")?
        .split_whitespace()
        .collect();
    if !fields.get(2)?.eq_ignore_ascii_case("udp") {
        return None;
    }
    format!("{}:{}", fields.get(4)?, fields.get(5)?)
        .parse()
        .ok()
}
