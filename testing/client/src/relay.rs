//! A UDP relay between one WebRTC client and the SFU, on 127.0.0.1, that
//! counts what crosses it and drops what a test tells it to: the wire the
//! tests watch and cut (checks that pause, a peer that goes silent, lost
//! packets that NACKs must repair).
//!
//! The client is pointed at the relay by rewriting the SFU's answer
//! ([`Relay::rewrite_answer`]); the relay forwards each datagram from its
//! own upstream socket, so the SFU sees the relay as the client's address.
//! Loss is drawn from a seeded generator: a test is repeatable.
//!
//! The relay also keeps the first [`KEPT_FROM_CLIENT`] datagrams the client
//! sent (real captures, for the fuzzers' seed corpora) and can send a
//! datagram of the test's own to the SFU from the client's address
//! ([`Relay::inject`]): what the SFU takes for that peer's traffic.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Datagrams from the client the relay keeps, the first ones it saw.
pub const KEPT_FROM_CLIENT: usize = 512;

/// What crossed the relay, per direction and kind.
#[derive(Debug, Default)]
pub struct Crossed {
    /// STUN binding requests the SFU sent the client.
    pub requests_to_client: AtomicU64,
    /// STUN binding requests the client sent the SFU.
    pub requests_from_client: AtomicU64,
    /// RTP (not RTCP) datagrams delivered to the client.
    pub rtp_to_client: AtomicU64,
    /// RTP datagrams to the client that the relay dropped.
    pub rtp_dropped_to_client: AtomicU64,
    /// Datagrams from the client that the relay dropped.
    pub dropped_from_client: AtomicU64,
    /// RTCP datagrams to the client, by the packet type and count/format
    /// field of the first packet's header (the part SRTCP leaves in clear).
    pub rtcp_to_client: Mutex<HashMap<(u8, u8), u64>>,
    /// STUN binding success responses the SFU sent (to the client's or an
    /// injected request).
    pub responses_to_client: AtomicU64,
    /// The first [`KEPT_FROM_CLIENT`] datagrams the client sent, as sent.
    pub kept_from_client: Mutex<Vec<Vec<u8>>>,
}

impl Crossed {
    /// RTCP datagrams to the client whose first packet has type `pt` and
    /// format `fmt` (RFC 4585: 205/1 a NACK, 205/15 transport-wide
    /// feedback; RFC 3550: 201 a receiver report, with its block count).
    pub fn rtcp_to_client(&self, pt: u8, fmt: Option<u8>) -> u64 {
        self.rtcp_to_client.lock().map_or(0, |m| {
            m.iter()
                .filter(|((p, f), _)| *p == pt && fmt.is_none_or(|want| want == *f))
                .map(|(_, n)| n)
                .sum()
        })
    }
}

/// What the relay drops; changed while it runs.
#[derive(Debug, Default)]
pub struct Cuts {
    /// Every datagram from the client (a peer that has gone).
    pub client_silent: AtomicBool,
    /// STUN from the client only: its checks stop, its media goes on.
    pub client_checks: AtomicBool,
    /// Share of RTP to the client dropped, in percent (0–100).
    pub rtp_to_client_percent: AtomicU8,
    /// Share of RTP from the client dropped, in percent (0–100): a lossy
    /// uplink.
    pub rtp_from_client_percent: AtomicU8,
}

/// A running relay; stops when dropped.
pub struct Relay {
    /// Where the client sends.
    pub addr: SocketAddr,
    pub crossed: Arc<Crossed>,
    pub cuts: Arc<Cuts>,
    inject: mpsc::UnboundedSender<Vec<u8>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn is_stun(d: &[u8]) -> bool {
    d.len() >= 20 && d[0] < 4 && d[4..8] == [0x21, 0x12, 0xA4, 0x42]
}

fn is_binding_request(d: &[u8]) -> bool {
    is_stun(d) && d[0] == 0x00 && d[1] == 0x01
}

fn is_binding_response(d: &[u8]) -> bool {
    is_stun(d) && d[0] == 0x01 && d[1] == 0x01
}

/// RTP, not RTCP (RFC 5761 §4: RTCP packet types 192–223).
fn is_rtp(d: &[u8]) -> bool {
    d.len() >= 12 && (128..=191).contains(&d[0]) && !(192..=223).contains(&d[1])
}

/// RTCP (RFC 5761 §4: packet types 192–223).
fn is_rtcp(d: &[u8]) -> bool {
    d.len() >= 8 && (128..=191).contains(&d[0]) && (192..=223).contains(&d[1])
}

impl Relay {
    /// A relay in front of the SFU's UDP address `sfu`, dropping with a
    /// generator seeded by `seed`.
    pub async fn start(sfu: SocketAddr, seed: u64) -> std::io::Result<Self> {
        let front = UdpSocket::bind("127.0.0.1:0").await?;
        let back = UdpSocket::bind("127.0.0.1:0").await?;
        back.connect(sfu).await?;
        let addr = front.local_addr()?;
        let crossed = Arc::new(Crossed::default());
        let cuts = Arc::new(Cuts::default());
        let (c, k) = (crossed.clone(), cuts.clone());
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let (inject, mut injected) = mpsc::unbounded_channel::<Vec<u8>>();
        let task = tokio::spawn(async move {
            let mut rng = seed | 1;
            let mut next = move || {
                // xorshift64: enough for a drop decision, and repeatable.
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % 100
            };
            let (mut up, mut down) = (vec![0u8; 2048], vec![0u8; 2048]);
            loop {
                tokio::select! {
                    r = front.recv_from(&mut up) => {
                        let Ok((n, from)) = r else { return };
                        if let Ok(mut c) = client.lock() {
                            *c = Some(from);
                        }
                        let d = &up[..n];
                        if is_binding_request(d) {
                            c.requests_from_client.fetch_add(1, Ordering::Relaxed);
                        }
                        if let Ok(mut kept) = c.kept_from_client.lock()
                            && kept.len() < KEPT_FROM_CLIENT
                        {
                            kept.push(d.to_vec());
                        }
                        let lossy = is_rtp(d) && {
                            let percent = u64::from(k.rtp_from_client_percent.load(Ordering::Relaxed));
                            percent > 0 && next() < percent
                        };
                        let cut = lossy
                            || k.client_silent.load(Ordering::Relaxed)
                            || (is_stun(d) && k.client_checks.load(Ordering::Relaxed));
                        if cut {
                            c.dropped_from_client.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        let _ = back.send(d).await;
                    }
                    r = back.recv(&mut down) => {
                        let Ok(n) = r else { continue };
                        let d = &down[..n];
                        if is_binding_request(d) {
                            c.requests_to_client.fetch_add(1, Ordering::Relaxed);
                        }
                        if is_binding_response(d) {
                            c.responses_to_client.fetch_add(1, Ordering::Relaxed);
                        }
                        if is_rtp(d) {
                            let percent = u64::from(k.rtp_to_client_percent.load(Ordering::Relaxed));
                            if percent > 0 && next() < percent {
                                c.rtp_dropped_to_client.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            c.rtp_to_client.fetch_add(1, Ordering::Relaxed);
                        } else if is_rtcp(d)
                            && let Ok(mut m) = c.rtcp_to_client.lock()
                        {
                            *m.entry((d[1], d[0] & 0x1f)).or_default() += 1;
                        }
                        let to = client.lock().ok().and_then(|c| *c);
                        if let Some(to) = to {
                            let _ = front.send_to(d, to).await;
                        }
                    }
                    Some(d) = injected.recv() => {
                        let _ = back.send(&d).await;
                    }
                }
            }
        });
        Ok(Self {
            addr,
            crossed,
            cuts,
            inject,
            task,
        })
    }

    /// Sends `datagram` to the SFU from the relay's upstream socket, the
    /// address the SFU knows as the client's, after what the relay has
    /// already forwarded.
    pub fn inject(&self, datagram: Vec<u8>) {
        let _ = self.inject.send(datagram);
    }

    /// The SFU's answer with its UDP candidates pointed at this relay and
    /// its TCP candidates removed, so every packet crosses the relay.
    pub fn rewrite_answer(&self, sdp: &str, sfu: SocketAddr) -> String {
        point_answer_at(sdp, sfu, self.addr)
    }
}

/// `sdp` with the candidates at `sfu` moved to `relay` and TCP ones dropped.
fn point_answer_at(sdp: &str, sfu: SocketAddr, relay: SocketAddr) -> String {
    let from = format!("{} {}", sfu.ip(), sfu.port());
    let to = format!("{} {}", relay.ip(), relay.port());
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("a=candidate:") {
            if line.contains(" tcp ") || line.contains(" TCP ") {
                continue;
            }
            out.push_str(&line.replace(&from, &to));
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_what_it_counts() {
        let mut request = vec![0u8; 20];
        request[1] = 0x01;
        request[4..8].copy_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
        assert!(is_binding_request(&request));
        let mut response = request.clone();
        response[0] = 0x01;
        assert!(is_stun(&response) && !is_binding_request(&response));
        assert!(is_binding_response(&response) && !is_binding_response(&request));
        let mut rtp = vec![0x80, 96];
        rtp.resize(12, 0);
        assert!(is_rtp(&rtp));
        assert!(!is_rtcp(&rtp));
        rtp[1] = 200;
        assert!(!is_rtp(&rtp), "a sender report is RTCP");
        assert!(is_rtcp(&rtp));
    }

    #[test]
    fn the_answer_points_at_the_relay_only() {
        let sdp = "v=0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n\
                   a=candidate:2 1 tcp 1671430143 127.0.0.1 5000 typ host tcptype passive\r\n";
        let relay_addr: SocketAddr = "127.0.0.1:6000".parse().unwrap();
        let sfu: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let out = point_answer_at(sdp, sfu, relay_addr);
        assert_eq!(
            out,
            "v=0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 6000 typ host\r\n"
        );
    }
}
