//! The SFU's pure per-packet decisions, measured next to a baseline in the
//! same run (copying a 1200-byte buffer) so that results read as ratios on
//! any machine, plus the per-subscriber costs of the forwarding path that
//! the decisions sit beside (packet clone, RTP marshal, SRTP encrypt, one
//! loopback `send_to`).
//!
//! ```text
//! cargo bench -p parley-sfu --bench decisions
//! ```
//!
//! And what a subscriber's downlink costs: numbering packets, reading the
//! transport-wide feedback, spending the estimate.

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use parley_sfu::demux::{Demux, classify};
use parley_sfu::engine::continuity::Continuity;
use parley_sfu::media::vp8;
use parley_sfu::room::{MediaKind, MemberKind, Room, RoomPolicy};
use rtc::rtp::Packet;
use rtc::rtp::header::Header;
use rtc::shared::marshal::Marshal;
use rtc::srtp::context::Context;
use rtc::srtp::protection_profile::ProtectionProfile;
use std::hint::black_box;
use std::net::{SocketAddr, UdpSocket};

const PAYLOAD: usize = 1200;
const PEERS: u16 = 100;

/// A VP8 payload of `PAYLOAD` bytes: descriptor with a 15-bit PictureID,
/// then a keyframe header.
fn vp8_payload() -> Vec<u8> {
    let mut p = vec![
        0x90, 0x80, 0x81, 0x23, 0x50, 0x2e, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00,
    ];
    p.resize(PAYLOAD, 0x55);
    p
}

fn rtp_packet(seq: u16) -> Packet {
    Packet {
        header: Header {
            version: 2,
            marker: true,
            payload_type: 96,
            sequence_number: seq,
            timestamp: u32::from(seq) * 3000,
            ssrc: 0x1234_5678,
            ..Default::default()
        },
        payload: Bytes::from(vp8_payload()),
    }
}

/// The ICE password of bench peer `ufrag`.
fn password(ufrag: &str) -> String {
    format!("{ufrag}-password-0123456789")
}

/// A binding request whose USERNAME is `<ufrag>:remote`, signed with the
/// peer's password as a client's consent check is.
fn stun_request(ufrag: &str) -> Vec<u8> {
    parley_client::stun::binding_request(&format!("{ufrag}:remote"), &password(ufrag))
}

fn addr(i: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40_000 + i))
}

fn demux_with_peers() -> Demux<u64> {
    let mut demux = Demux::default();
    for i in 0..PEERS {
        let ufrag = format!("ufrag{i:011}");
        demux.add(&ufrag, &password(&ufrag), u64::from(i));
        demux
            .route(&stun_request(&ufrag), addr(i))
            .expect("stun routes");
    }
    assert_eq!(demux.addresses(), usize::from(PEERS));
    demux
}

fn srtp(profile: ProtectionProfile) -> Context {
    let provider = rtc::crypto::default_provider().expect("crypto provider");
    let key = [0x42u8; 16];
    let salt = vec![0x17u8; profile.salt_len()];
    Context::new(&key, &salt, profile, None, None, provider.crypto()).expect("srtp context")
}

fn benches(c: &mut Criterion) {
    let source = vec![0xa5u8; PAYLOAD];
    let mut dest = vec![0u8; PAYLOAD];
    c.bench_function("baseline/copy_1200B", |b| {
        b.iter(|| {
            dest.copy_from_slice(black_box(&source));
            black_box(&mut dest);
        })
    });

    let rtp = rtp_packet(1).marshal().expect("marshal");
    let dtls = {
        let mut d = vec![22u8, 0xfe, 0xfd];
        d.resize(100, 0);
        d
    };
    c.bench_function("demux/classify_rtp", |b| {
        b.iter(|| classify(black_box(&rtp)))
    });
    let mut demux = demux_with_peers();
    let from = addr(PEERS / 2);
    c.bench_function("demux/route_rtp_100_peers", |b| {
        b.iter(|| demux.route(black_box(&rtp), black_box(from)))
    });
    c.bench_function("demux/route_dtls_100_peers", |b| {
        b.iter(|| demux.route(black_box(&dtls), black_box(from)))
    });
    // A consent check: USERNAME lookup plus the MESSAGE-INTEGRITY check.
    let check = stun_request(&format!("ufrag{:011}", PEERS / 2));
    c.bench_function("demux/route_consent_check_100_peers", |b| {
        b.iter(|| demux.route(black_box(&check), black_box(from)))
    });

    let payload = vp8_payload();
    c.bench_function("vp8/parse", |b| b.iter(|| vp8::parse(black_box(&payload))));

    let mut continuity = Continuity::new(90_000);
    let mut seq = 0u16;
    c.bench_function("continuity/rewrite", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            continuity.rewrite(
                black_box(0x1234_5678),
                black_box(seq),
                u32::from(seq) * 3000,
                u64::from(seq) * 33_333,
            )
        })
    });

    let mut room = Room::open(RoomPolicy {
        privileged: false,
        recorded: false,
        monitoring_allowed: false,
    });
    room.join(1, MemberKind::Participant).expect("join");
    for id in 2..=i64::from(PEERS) {
        room.join(id, MemberKind::Observer).expect("join");
    }
    c.bench_function("room/receivers_of_100_members", |b| {
        b.iter(|| room.receivers_of(black_box(1), MediaKind::Video).count())
    });

    // The per-subscriber work `forward` does beside the decisions.
    let packet = rtp_packet(1);
    c.bench_function("forward/rtp_packet_clone", |b| {
        b.iter(|| black_box(&packet).clone())
    });
    c.bench_function("forward/rtp_marshal_1200B", |b| {
        b.iter(|| black_box(&packet).marshal().expect("marshal"))
    });
    for (name, profile) in [
        (
            "forward/srtp_encrypt_aead_aes_128_gcm_1200B",
            ProtectionProfile::AeadAes128Gcm,
        ),
        (
            "forward/srtp_encrypt_aes128_cm_hmac_sha1_80_1200B",
            ProtectionProfile::Aes128CmHmacSha1_80,
        ),
    ] {
        let mut ctx = srtp(profile);
        let mut seq = 0u16;
        c.bench_function(name, |b| {
            b.iter(|| {
                seq = seq.wrapping_add(1);
                let mut p = packet.clone();
                p.header.sequence_number = seq;
                let raw = p.marshal().expect("marshal");
                ctx.encrypt_rtp(&raw).expect("encrypt")
            })
        });
    }

    // One datagram of a forwarded packet's size (12 B header + 1200 B +
    // 16 B tag) to a loopback socket nobody reads: the kernel's share of a
    // send. Once the receiver's buffer is full the datagram is dropped
    // after the same socket and IP work.
    let sink = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let to = sink.local_addr().expect("addr");
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let datagram = vec![0x80u8; 12 + PAYLOAD + 16];
    c.bench_function("forward/udp_send_to_1228B_loopback", |b| {
        b.iter(|| socket.send_to(black_box(&datagram), to))
    });
    // The same datagrams, 64 per sendmmsg(2) call: what batching the
    // worker's writes would save per datagram (divide the time by 64).
    c.bench_function("forward/udp_sendmmsg_64x1228B_loopback", |b| {
        b.iter(|| sendmmsg(&socket, &datagram, to, 64))
    });
}

/// Sends `count` copies of `datagram` to `to` with one sendmmsg(2) call.
fn sendmmsg(socket: &UdpSocket, datagram: &[u8], to: SocketAddr, count: usize) -> i32 {
    use std::os::fd::AsRawFd;
    let SocketAddr::V4(v4) = to else {
        return -1;
    };
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(v4.ip().octets()),
        },
        sin_zero: [0; 8],
    };
    let mut iov: Vec<libc::iovec> = (0..count)
        .map(|_| libc::iovec {
            iov_base: datagram.as_ptr() as *mut libc::c_void,
            iov_len: datagram.len(),
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = iov
        .iter_mut()
        .map(|v| {
            // SAFETY: msghdr is plain data; every field used is set below.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_name = &addr as *const libc::sockaddr_in as *mut libc::c_void;
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_hdr.msg_iov = v as *mut libc::iovec;
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect();
    // SAFETY: `headers` points at `count` valid mmsghdr whose name and iov
    // outlive the call.
    unsafe {
        libc::sendmmsg(
            socket.as_raw_fd(),
            headers.as_mut_ptr(),
            count as libc::c_uint,
            0,
        )
    }
}

/// One subscriber's downlink over one feedback interval: 20 packets
/// numbered as they leave (200 packets a second, feedback every 100 ms),
/// then the feedback that reports them read, and the estimate spent on
/// four sources.
fn downlink_benches(c: &mut Criterion) {
    use parley_sfu::egress::Downlink;
    use parley_sfu::media::video_budget::{VideoSource, allocate};
    use rtc::interceptor::Acknowledgement;
    use rtc::rtcp::transport_feedbacks::cc_feedback_report::Ecn;
    use std::time::{Duration, Instant};
    let t0 = Instant::now();
    let mut downlink = Downlink::new(t0);
    downlink.use_extension(3);
    let mut now = t0;
    let mut arrival = Duration::from_secs(1);
    let mut acks = Vec::with_capacity(20);
    c.bench_function("downlink/stamp_20_and_read_their_feedback", |b| {
        b.iter(|| {
            acks.clear();
            for _ in 0..20 {
                now += Duration::from_millis(5);
                arrival += Duration::from_millis(5);
                let seq = downlink.stamp(1_200, now);
                acks.push(Acknowledgement::received(seq, Some(arrival), Ecn::NotEct));
            }
            downlink.on_acknowledgements(now, black_box(&acks), Some(Duration::from_millis(40)));
            black_box(downlink.estimate_bps())
        })
    });
    let sources: Vec<VideoSource<usize>> = (0..4)
        .map(|i| VideoSource {
            key: i,
            lowest_bps: 150_000,
            speaking: i == 2,
            paused: false,
        })
        .collect();
    c.bench_function("video_budget/allocate_4_sources", |b| {
        b.iter(|| allocate(black_box(1_500_000), 4, black_box(&sources)))
    });
}

criterion_group!(decisions, benches, downlink_benches);
criterion_main!(decisions);
