//! Loopback measurement of the SFU's CPU cost per forwarded packet, for a
//! fan-out of one publisher to N receive-only subscribers (real webrtc-rs
//! clients: ICE, DTLS, SRTP) on 127.0.0.1.
//!
//! The SFU runs in-process with ONE worker thread (`sfu-worker-0`). Its CPU
//! time is read from `/proc/self/task/<tid>/schedstat` (first field: ns on
//! CPU), so the clients sharing the machine do not inflate the figure the
//! way wall time would; they still compete for caches and cores.
//!
//! ```text
//! cargo bench -p parley-sfu --bench fanout
//! FANOUT_N=1,10 FANOUT_RATE=200 FANOUT_SECS=10 cargo bench -p parley-sfu --bench fanout
//! ```
//!
//! Environment: `FANOUT_N` (comma-separated fan-outs, default `1,10,100`),
//! `FANOUT_RATE` (video packets per second from the publisher, default 100),
//! `FANOUT_SECS` (length of the measured send phase, default 10),
//! `FANOUT_PAYLOAD` (RTP payload bytes, default 1200), `FANOUT_IDLE_SECS`
//! (idle window measured before sending, default 3), `FANOUT_SEND`
//! (`batched`, `per_datagram` or both comma-separated, default both: the
//! per-datagram rows are the baseline of the same run), `FANOUT_WRITE`
//! (`sealed`, `direct`, `checked`, comma-separated and repeatable so that
//! paths alternate in one process, default `sealed,direct`: how forwarded
//! packets reach the subscriber, see `WritePath`; `sealed-remb`,
//! `direct-remb`: the same without numbering packets for transport-wide
//! feedback, see `DownlinkEstimation`; a `-rtcread` suffix reads the
//! publisher's packets through its connection instead of opening them in
//! the worker, see `ReadPath`).

/// The allocator `parley` runs the SFU with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bytes::Bytes;
use chrono::{Duration as Span, Utc};
use parley_client::Client;
use parley_grants::{JoinGrant, JoinTokens};
use parley_media::PT_VP8;
use parley_policy::{Role, SessionKind};
use parley_sfu::engine::batch_io::SendMode;
use parley_sfu::engine::{
    DownlinkEstimation, JoinRequest, ReadPath, RoomId, Sfu, SfuConfig, SfuStats, WritePath,
};
use parley_sfu::room::{MemberId, RoomPolicy};
use rtc::rtp::Packet;
use rtc::rtp::header::Header;
use std::sync::Arc;
use std::time::{Duration, Instant};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::StatsSelector;

const ROOM: RoomId = 1;
const PUBLISHER: MemberId = 1;
/// Subscribers connected at once.
const CONNECT_BATCH: usize = 10;
/// Packets per frame in the synthetic video stream.
const PACKETS_PER_FRAME: u32 = 4;
/// A keyframe every this many frames.
const KEYFRAME_EVERY: u32 = 50;

fn tokens() -> JoinTokens {
    JoinTokens::new(&[7u8; parley_grants::KEY_BYTES], 5).expect("key")
}

fn token(member: MemberId, role: Role) -> String {
    let now = Utc::now();
    tokens()
        .issue(
            &JoinGrant {
                session_id: ROOM,
                participant_id: member,
                role,
                kind: SessionKind::CourtHearing,
                not_before: now - Span::minutes(1),
                expires_at: now + Span::hours(1),
            },
            now,
        )
        .expect("token")
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// ns on CPU of every thread of this process named `name`.
fn thread_cpu_ns(name: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == name)
        })
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// ns on CPU of the whole process (SFU worker, clients, runtime), from
/// utime + stime in `/proc/self/stat` (clock ticks, assumed 100 Hz).
fn process_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime
            // are fields 14 and 15 of the whole line.
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) * 10_000_000)
        })
        .unwrap_or(0)
}

async fn join(client: &mut Client, sfu: &Arc<Sfu>, token: String) -> anyhow::Result<()> {
    let offer = client.offer().await?;
    let sfu = sfu.clone();
    let answer = tokio::task::spawn_blocking(move || {
        sfu.join(JoinRequest {
            room: ROOM,
            token,
            offer,
            receive_slots: 1,
            standing: Default::default(),
        })
    })
    .await??;
    client.accept(answer.sdp).await
}

/// A VP8 packet of `size` payload bytes; the descriptor marks frame starts
/// and keyframes the way a real stream does, the rest names the sender so
/// the client counts it (`|video|pub|`).
fn video_packet(ssrc: u32, seq: u16, index: u32, size: usize) -> Packet {
    let frame = index / PACKETS_PER_FRAME;
    let start = index.is_multiple_of(PACKETS_PER_FRAME);
    let keyframe = frame.is_multiple_of(KEYFRAME_EVERY);
    let mut p = vec![
        if start { 0x10 } else { 0x00 },
        if keyframe { 0x50 } else { 0x51 },
        0x2e,
        0x00,
        0x9d,
        0x01,
        0x2a,
        0x40,
        0x01,
        0xf0,
        0x00,
    ];
    p.extend_from_slice(format!("|video|pub|{seq}|").as_bytes());
    p.resize(size, 0x55);
    Packet {
        header: Header {
            version: 2,
            marker: index % PACKETS_PER_FRAME == PACKETS_PER_FRAME - 1,
            payload_type: PT_VP8,
            sequence_number: seq,
            timestamp: frame.wrapping_mul(3000),
            ssrc,
            ..Default::default()
        },
        payload: Bytes::from(p),
    }
}

/// Sends `count` packets at `rate` per second, starting at `first`.
async fn send(
    publisher: &Client,
    ssrc: u32,
    first: u32,
    count: u32,
    rate: u32,
    size: usize,
) -> anyhow::Result<()> {
    let video = publisher.video.as_ref().expect("publisher has video");
    let start = tokio::time::Instant::now();
    for i in 0..count {
        let due = start + Duration::from_secs_f64(f64::from(i) / f64::from(rate));
        tokio::time::sleep_until(due).await;
        let index = first + i;
        video
            .write_rtp(video_packet(ssrc, index as u16, index, size))
            .await?;
    }
    Ok(())
}

/// The write column: the path, and whether packets were numbered for
/// transport-wide feedback.
fn write_name(r: &Row) -> String {
    let path = match r.write {
        WritePath::Sealed => "sealed",
        WritePath::Direct => "direct",
        WritePath::Checked => "write_rtp",
    };
    let path = match r.estimation {
        DownlinkEstimation::FromFeedback => path.to_string(),
        DownlinkEstimation::RembOnly => format!("{path}, REMB only"),
    };
    match r.read {
        ReadPath::Opened => path,
        ReadPath::Connection => format!("{path}, read by rtc"),
    }
}

/// How a run's packets are written, estimated and read.
#[derive(Debug, Clone, Copy)]
struct Paths {
    write: WritePath,
    estimation: DownlinkEstimation,
    read: ReadPath,
}

struct Row {
    n: usize,
    mode: SendMode,
    write: WritePath,
    estimation: DownlinkEstimation,
    read: ReadPath,
    send_calls: u64,
    sent: u32,
    forwarded: u64,
    rtp_in: u64,
    datagrams_out: u64,
    errors: u64,
    received: u64,
    cpu_ns: u64,
    idle_ns: u64,
    process_ns: u64,
    wall: Duration,
    cipher: String,
}

fn received(subscribers: &[Client]) -> u64 {
    subscribers.iter().map(|c| c.got("pub", "video")).sum()
}

async fn run(
    n: usize,
    mode: SendMode,
    Paths {
        write,
        estimation,
        read,
    }: Paths,
    rate: u32,
    secs: u32,
    size: usize,
    idle_secs: u64,
) -> anyhow::Result<Row> {
    let sfu = Arc::new(Sfu::start(&SfuConfig {
        send_mode: mode,
        write_path: write,
        read_path: read,
        downlink_estimation: estimation,
        ice_tcp: true,
        ..SfuConfig::new("127.0.0.1:0".parse()?, 1, tokens(), Arc::new(Utc::now))
    })?);
    sfu.open_room(
        ROOM,
        RoomPolicy {
            privileged: false,
            recorded: false,
            monitoring_allowed: false,
        },
    )?;
    let ssrc = 100_000;
    let mut publisher = Client::new("pub", true, 1, ssrc - 1).await?;
    join(&mut publisher, &sfu, token(PUBLISHER, Role::Visitor)).await?;
    let video_ssrc = ssrc; // Client: audio = base, video = base + 1.

    let mut subscribers = Vec::with_capacity(n);
    let setup = Instant::now();
    for batch in (0..n).collect::<Vec<_>>().chunks(CONNECT_BATCH) {
        let joins = batch.iter().map(|&i| {
            let sfu = sfu.clone();
            async move {
                let mut c =
                    Client::new(&format!("sub{i}"), false, 1, 200_000 + 10 * i as u32).await?;
                join(&mut c, &sfu, token(1000 + i as MemberId, Role::Observer)).await?;
                anyhow::Ok(c)
            }
        });
        for c in futures_util::future::join_all(joins).await {
            subscribers.push(c?);
        }
    }
    eprintln!(
        "fan-out {n}: {n} subscribers connected in {:?}",
        setup.elapsed()
    );

    // Which SRTP profile did DTLS negotiate? (The SFU's own stats are not
    // public; the client's transport stats carry the same profile.)
    let report = subscribers[0]
        .pc
        .get_stats(Instant::now(), StatsSelector::None)
        .await;
    let cipher = report
        .transport()
        .map(|t| format!("{} / {}", t.srtp_cipher, t.dtls_cipher))
        .unwrap_or_else(|| "unknown".into());

    // Warm-up: one second of media, then let it drain.
    send(&publisher, video_ssrc, 0, rate, rate, size).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Idle cost of the worker with these peers (timers, RTCP, keepalives).
    let idle_start = (thread_cpu_ns("sfu-worker-0"), Instant::now());
    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let idle_ns = thread_cpu_ns("sfu-worker-0") - idle_start.0;
    let idle_wall = idle_start.1.elapsed();

    let count = rate * secs;
    let before: SfuStats = sfu.stats();
    let got_before = received(&subscribers);
    let cpu_before = thread_cpu_ns("sfu-worker-0");
    let process_before = process_cpu_ns();
    let t0 = Instant::now();
    send(&publisher, video_ssrc, rate, count, rate, size).await?;
    // Wait for the tail to be forwarded (at most 2 s).
    let expected = before.rtp_forwarded + u64::from(count) * n as u64;
    let deadline = Instant::now() + Duration::from_secs(2);
    while sfu.stats().rtp_forwarded < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let wall = t0.elapsed();
    let cpu_ns = thread_cpu_ns("sfu-worker-0") - cpu_before;
    let process_ns = process_cpu_ns() - process_before;
    let after = sfu.stats();
    // Give the clients a moment to count what is in flight.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = received(&subscribers) - got_before;
    for c in &subscribers {
        let _ = c.pc.close().await;
    }
    let _ = publisher.pc.close().await;
    drop(subscribers);
    let idle_per_s = idle_ns as f64 / idle_wall.as_secs_f64();
    Ok(Row {
        n,
        mode,
        write,
        estimation,
        read,
        send_calls: after.send_calls - before.send_calls,
        sent: count,
        forwarded: after.rtp_forwarded - before.rtp_forwarded,
        rtp_in: after.rtp_in - before.rtp_in,
        datagrams_out: after.datagrams_out - before.datagrams_out,
        errors: after.forward_errors - before.forward_errors,
        received: got,
        cpu_ns,
        idle_ns: (idle_per_s * wall.as_secs_f64()) as u64,
        process_ns,
        wall,
        cipher,
    })
}

fn main() -> anyhow::Result<()> {
    let fanouts: Vec<usize> = std::env::var("FANOUT_N")
        .unwrap_or_else(|_| "1,10,100".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let rate: u32 = env_or("FANOUT_RATE", 100);
    let secs: u32 = env_or("FANOUT_SECS", 10);
    let size: usize = env_or("FANOUT_PAYLOAD", 1200);
    let idle_secs: u64 = env_or("FANOUT_IDLE_SECS", 3);
    let modes: Vec<SendMode> = std::env::var("FANOUT_SEND")
        .unwrap_or_else(|_| "batched,per_datagram".into())
        .split(',')
        .filter_map(|m| match m.trim() {
            "batched" => Some(SendMode::Batched),
            "per_datagram" => Some(SendMode::PerDatagram),
            _ => None,
        })
        .collect();
    let writes: Vec<Paths> = std::env::var("FANOUT_WRITE")
        .unwrap_or_else(|_| "sealed,direct".into())
        .split(',')
        .filter_map(|m| {
            let (m, read) = match m.trim().strip_suffix("-rtcread") {
                Some(m) => (m, ReadPath::Connection),
                None => (m.trim(), ReadPath::Opened),
            };
            let (path, estimation) = match m.strip_suffix("-remb") {
                Some(path) => (path, DownlinkEstimation::RembOnly),
                None => (m, DownlinkEstimation::FromFeedback),
            };
            let write = match path {
                "sealed" => WritePath::Sealed,
                "direct" => WritePath::Direct,
                "checked" => WritePath::Checked,
                _ => return None,
            };
            Some(Paths {
                write,
                estimation,
                read,
            })
        })
        .collect();
    // `cargo test --benches` runs this without `--bench`: nothing to test,
    // and the measurement takes minutes, so only `cargo bench` runs it.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("fanout: run with `cargo bench -p parley-sfu --bench fanout`");
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    for &n in &fanouts {
        for &mode in &modes {
            for &write in &writes {
                match runtime.block_on(run(n, mode, write, rate, secs, size, idle_secs)) {
                    Ok(row) => rows.push(row),
                    Err(e) => eprintln!("fan-out {n} ({mode:?}, {write:?}): failed: {e:#}"),
                }
            }
        }
    }
    println!(
        "\n{size}-byte VP8 payload, {rate} packets/s for {secs} s, 1 SFU worker; CPU = sfu-worker-0 schedstat"
    );
    if let Some(r) = rows.first() {
        println!("negotiated: {}", r.cipher);
    }
    println!(
        "| N | sends | write | sent | forwarded | datagrams out | send calls | errors | received (loss) | worker CPU ms | idle share ms | µs/forwarded | µs/forwarded net of idle | µs/incoming | process CPU ms | wall s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let fwd = r.forwarded.max(1) as f64;
        let expected = u64::from(r.sent) * r.n as u64;
        let loss = 100.0 * (expected.saturating_sub(r.received)) as f64 / expected.max(1) as f64;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} ({loss:.2} %) | {:.1} | {:.1} | {:.2} | {:.2} | {:.1} | {:.0} | {:.1} |",
            r.n,
            match r.mode {
                SendMode::Batched => "sendmmsg",
                SendMode::PerDatagram => "send_to",
            },
            write_name(r),
            r.sent,
            r.forwarded,
            r.datagrams_out,
            r.send_calls,
            r.errors,
            r.received,
            r.cpu_ns as f64 / 1e6,
            r.idle_ns as f64 / 1e6,
            r.cpu_ns as f64 / 1e3 / fwd,
            r.cpu_ns.saturating_sub(r.idle_ns) as f64 / 1e3 / fwd,
            r.cpu_ns as f64 / 1e3 / r.rtp_in.max(1) as f64,
            r.process_ns as f64 / 1e6,
            r.wall.as_secs_f64(),
        );
    }
    Ok(())
}
