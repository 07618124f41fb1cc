//! What the SFU tells a publisher about its uplink: NACKs for what did not
//! arrive, receiver reports (loss, jitter, the round trip of its sender
//! reports) and transport-wide feedback for its own bandwidth estimate.
//!
//! Every RTP packet passes through here once, whichever path decrypted it:
//! the connection's (a stream's first packets, RTX, ICE-TCP) or the SFU's
//! own (`super::opening`). The NACKs and receiver reports come from the
//! same [`SequenceWindow`] that refuses replays and counts the uplink's
//! loss, so nothing is counted twice; the transport-wide feedback, whose
//! packet format is intricate, is rtc's own TWCC-receiver interceptor,
//! called directly. What comes out is RTCP for the engine to send through
//! the connection, which encrypts it (SRTCP).
//!
//! rtc's NACK-generator and receiver-report interceptors did this inside
//! the connection until the SFU began decrypting packets itself; run in a
//! chain of its own they cost the SFU 19 % of its worker time in a 1:1
//! visit (docs/benchmarks.md), most of it in moving each packet between
//! their queues.
//!
//! Pure: every instant is handed in.

use super::sequence::{Arrival, SequenceWindow};
use rtc::interceptor::{
    AttributedPacket, Interceptor, Packet as Carried, RTCPFeedback, RTPHeaderExtension, StreamInfo,
    TaggedPacket, TwccReceiverBuilder, TwccReceiverInterceptor,
};
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    TransportLayerNack, nack_pairs_from_sequence_numbers,
};
use rtc::rtp::Packet;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpHeaderExtensionParameters};
use rtc::sansio::Protocol;
use rtc::shared::TransportContext;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How often missing packets are asked for again (rtc's and libwebrtc's
/// pace).
pub const NACK_EVERY: Duration = Duration::from_millis(100);
/// How often each stream is reported on (RFC 3550 allows 5 s; browsers
/// report about once a second, and so does rtc).
pub const REPORT_EVERY: Duration = Duration::from_secs(1);
/// How far back, in sequence numbers, a missing packet is still asked
/// for (rtc's receive log).
pub const NACK_HORIZON: u64 = 512;
/// Times one missing packet is asked for before it is given up.
pub const NACKS_PER_PACKET: u8 = 10;
/// Sequence numbers one NACK round names at most; a longer gap is a lost
/// connection, not losses a resend can repair.
const NACKS_PER_ROUND: usize = 256;

/// One stream the publisher sends.
#[derive(Debug)]
struct Stream {
    ssrc: u32,
    /// RTP clock, Hz (for the jitter).
    clock_rate: u32,
    /// The stream negotiated generic NACK.
    nack: bool,
    /// The stream is audio.
    audio: bool,
    window: SequenceWindow,
    /// Missing extended sequence numbers, with the NACKs sent for each.
    missing: BTreeMap<u64, u8>,
    /// Interarrival jitter, RTP clock units (RFC 3550 §6.4.1).
    jitter: f64,
    /// The last packet's arrival and RTP timestamp.
    last_arrival: Option<(Instant, u32)>,
    /// Expected and received at the last report (RFC 3550 §A.3).
    reported: (u64, u64),
    /// The middle 32 bits of the last sender report's NTP time, and when it
    /// arrived.
    sender_report: Option<(u32, Instant)>,
}

impl Stream {
    fn new(ssrc: u32, clock_rate: u32, nack: bool) -> Self {
        Self {
            ssrc,
            clock_rate,
            nack,
            audio: false,
            window: SequenceWindow::default(),
            missing: BTreeMap::new(),
            jitter: 0.0,
            last_arrival: None,
            reported: (0, 0),
            sender_report: None,
        }
    }

    /// Takes one packet; records what it skipped as missing and what it
    /// repairs as found.
    fn on_packet(&mut self, received: Instant, seq: u16, timestamp: u32) -> Arrival {
        let before = self.window.highest();
        let n = self.window.extended(seq);
        let arrival = self.window.on_packet(seq);
        if arrival != Arrival::New {
            return arrival;
        }
        match before {
            Some(highest) if n > highest && self.nack => {
                let from = (highest + 1).max(n.saturating_sub(NACK_HORIZON));
                for skipped in from..n {
                    self.missing.insert(skipped, 0);
                }
            }
            Some(highest) if n < highest => {
                self.missing.remove(&n);
            }
            Some(_) => {}
            None => {}
        }
        if let Some((at, ts)) = self.last_arrival {
            let elapsed = received.saturating_duration_since(at).as_secs_f64();
            let d =
                elapsed * f64::from(self.clock_rate) - f64::from(timestamp.wrapping_sub(ts) as i32);
            self.jitter += (d.abs() - self.jitter) / 16.0;
        }
        self.last_arrival = Some((received, timestamp));
        arrival
    }

    /// The sequence numbers to ask for now: each missing one within the
    /// horizon, at most [`NACKS_PER_PACKET`] times.
    fn due_nacks(&mut self) -> Vec<u16> {
        let Some(highest) = self.window.highest() else {
            return Vec::new();
        };
        let horizon = highest.saturating_sub(NACK_HORIZON);
        self.missing
            .retain(|n, asked| *n >= horizon && *asked < NACKS_PER_PACKET);
        let mut due = Vec::new();
        for (n, asked) in self.missing.iter_mut().take(NACKS_PER_ROUND) {
            *asked += 1;
            due.push(*n as u16);
        }
        due
    }

    /// The report block; `floor` raises the fraction lost it carries (the
    /// loss further down, for audio).
    fn report(&mut self, now: Instant, floor: u8) -> Option<ReceptionReport> {
        let highest = self.window.highest()?;
        let (expected, received) = (self.window.expected(), self.window.received());
        let expected_interval = expected.saturating_sub(self.reported.0);
        let received_interval = received.saturating_sub(self.reported.1);
        let lost_interval = expected_interval.saturating_sub(received_interval);
        self.reported = (expected, received);
        let fraction_lost = (lost_interval << 8)
            .checked_div(expected_interval)
            .map_or(0, |f| f.min(255) as u8)
            .max(if self.audio { floor } else { 0 });
        let (last_sender_report, delay) = self.sender_report.map_or((0, 0), |(lsr, at)| {
            let dlsr = now.saturating_duration_since(at).as_secs_f64() * 65_536.0;
            (lsr, dlsr as u32)
        });
        Some(ReceptionReport {
            ssrc: self.ssrc,
            fraction_lost,
            total_lost: self.window.lost().min(0x7f_ffff) as u32,
            last_sequence_number: highest as u32,
            jitter: self.jitter as u32,
            last_sender_report,
            delay,
        })
    }
}

/// One peer connection's uplink feedback.
pub struct UplinkFeedback {
    /// The SSRC our RTCP is sent from.
    sender_ssrc: u32,
    /// Few per connection (audio, video, simulcast layers): a scan beats a
    /// hash.
    streams: Vec<Stream>,
    twcc: TwccReceiverInterceptor,
    next_nacks: Option<Instant>,
    next_report: Option<Instant>,
    /// The worst fraction lost (of 256) of this publisher's audio on the
    /// way to a subscriber, reported on its audio streams when higher than
    /// their own.
    audio_loss_downstream: u8,
    /// NACK packets written so far (each may name several sequence numbers).
    nacks: u64,
}

impl std::fmt::Debug for UplinkFeedback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UplinkFeedback")
            .field("streams", &self.streams.len())
            .field("nacks", &self.nacks)
            .finish_non_exhaustive()
    }
}

impl Default for UplinkFeedback {
    fn default() -> Self {
        Self {
            sender_ssrc: rand::random(),
            streams: Vec::new(),
            twcc: TwccReceiverBuilder::new().build(),
            next_nacks: None,
            next_report: None,
            audio_loss_downstream: 0,
            nacks: 0,
        }
    }
}

/// Describes an incoming stream: its codec (clock rate and the feedback it
/// negotiated, `nack` among them) and the header extensions of its m-line
/// (the transport-wide sequence number among them).
pub fn stream_info(
    ssrc: u32,
    payload_type: u8,
    codec: &RTCRtpCodec,
    extensions: &[RTCRtpHeaderExtensionParameters],
) -> StreamInfo {
    StreamInfo {
        ssrc,
        payload_type,
        rtp_header_extensions: extensions
            .iter()
            .map(|e| RTPHeaderExtension {
                uri: e.uri.clone(),
                id: e.id,
            })
            .collect(),
        mime_type: codec.mime_type.clone(),
        clock_rate: codec.clock_rate,
        channels: codec.channels,
        sdp_fmtp_line: codec.sdp_fmtp_line.clone(),
        rtcp_feedback: codec
            .rtcp_feedback
            .iter()
            .map(|f| RTCPFeedback {
                typ: f.typ.clone(),
                parameter: f.parameter.clone(),
            })
            .collect(),
        ..Default::default()
    }
}

fn tagged(now: Instant, packet: Carried) -> TaggedPacket {
    TaggedPacket {
        now,
        transport: TransportContext::default(),
        message: AttributedPacket::new(packet),
    }
}

impl UplinkFeedback {
    /// Starts reporting on a stream the publisher opened.
    pub fn bind(&mut self, info: &StreamInfo) {
        let nack = info
            .rtcp_feedback
            .iter()
            .any(|f| f.typ == "nack" && f.parameter.is_empty());
        let clock_rate = if info.clock_rate == 0 {
            90_000
        } else {
            info.clock_rate
        };
        let audio = info.mime_type.to_ascii_lowercase().starts_with("audio/");
        let at = match self.streams.iter().position(|s| s.ssrc == info.ssrc) {
            Some(at) => at,
            None => {
                self.streams.push(Stream::new(info.ssrc, clock_rate, nack));
                self.streams.len() - 1
            }
        };
        let stream = &mut self.streams[at];
        stream.clock_rate = clock_rate;
        stream.nack = nack;
        stream.audio = audio;
        self.twcc.bind_remote_stream(info);
    }

    /// What `seq` of stream `ssrc` would be, without taking it (a stream
    /// not bound yet takes anything).
    pub fn check(&self, ssrc: u32, seq: u16) -> Arrival {
        self.streams
            .iter()
            .find(|s| s.ssrc == ssrc)
            .map_or(Arrival::New, |s| s.window.check(seq))
    }

    /// Takes one RTP packet that arrived at `received`, records it for the
    /// feedback and hands it back; `None` for a packet already taken or
    /// older than the replay window, which the caller drops.
    pub fn on_rtp(&mut self, received: Instant, packet: Packet) -> Option<Packet> {
        let (ssrc, seq, ts) = (
            packet.header.ssrc,
            packet.header.sequence_number,
            packet.header.timestamp,
        );
        let index = match self.streams.iter().position(|s| s.ssrc == ssrc) {
            Some(i) => i,
            None => {
                self.streams.push(Stream::new(ssrc, 90_000, false));
                self.streams.len() - 1
            }
        };
        if self.streams[index].on_packet(received, seq, ts) != Arrival::New {
            return None;
        }
        self.next_nacks.get_or_insert(received + NACK_EVERY);
        self.next_report.get_or_insert(received + REPORT_EVERY);
        if let Err(e) = self
            .twcc
            .handle_read(tagged(received, Carried::Rtp(packet)))
        {
            tracing::debug!(error = %e, "transport-wide feedback refused a packet");
        }
        // rtc's TWCC receiver passes every packet straight through.
        match self.twcc.poll_read().map(|t| t.message.packet) {
            Some(Carried::Rtp(packet)) => Some(packet),
            _ => None,
        }
    }

    /// Notes the publisher's sender report, which the receiver reports
    /// answer (their LSR and DLSR give the publisher its round trip).
    pub fn on_sender_report(&mut self, received: Instant, report: &SenderReport) {
        if let Some(s) = self.streams.iter_mut().find(|s| s.ssrc == report.ssrc) {
            s.sender_report = Some(((report.ntp_time >> 16) as u32, received));
        }
    }

    /// Whether a packet has set the NACK and report timers yet.
    pub fn armed(&self) -> bool {
        self.next_nacks.is_some()
    }

    /// When [`UplinkFeedback::on_timeout`] is next due.
    pub fn next_timeout(&mut self) -> Option<Instant> {
        [self.next_nacks, self.next_report, self.twcc.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The RTCP due by `now` goes into `out`, one entry per datagram.
    pub fn on_timeout(&mut self, now: Instant, out: &mut Vec<Vec<Box<dyn rtc::rtcp::Packet>>>) {
        if self.next_nacks.is_some_and(|at| now >= at) {
            self.next_nacks = Some(now + NACK_EVERY);
            for s in &mut self.streams {
                let due = s.due_nacks();
                if due.is_empty() {
                    continue;
                }
                self.nacks += 1;
                out.push(vec![Box::new(TransportLayerNack {
                    sender_ssrc: self.sender_ssrc,
                    media_ssrc: s.ssrc,
                    nacks: nack_pairs_from_sequence_numbers(&due),
                })]);
            }
        }
        if self.next_report.is_some_and(|at| now >= at) {
            self.next_report = Some(now + REPORT_EVERY);
            let floor = self.audio_loss_downstream;
            let reports: Vec<ReceptionReport> = self
                .streams
                .iter_mut()
                .filter_map(|s| s.report(now, floor))
                .collect();
            // A report holds at most 31 blocks (its 5-bit count).
            for blocks in reports.chunks(31) {
                out.push(vec![Box::new(ReceiverReport {
                    ssrc: self.sender_ssrc,
                    reports: blocks.to_vec(),
                    ..Default::default()
                })]);
            }
        }
        if let Err(e) = self.twcc.handle_timeout(now) {
            tracing::debug!(error = %e, "transport-wide feedback timer failed");
        }
        while let Some(written) = self.twcc.poll_write() {
            if let Carried::Rtcp(packets) = written.message.packet {
                out.push(packets);
            }
        }
    }

    /// The worst fraction lost (of 256) of this publisher's audio on the
    /// way to its subscribers: its audio streams' receiver reports carry
    /// it when it is higher than their own.
    pub fn set_audio_loss_downstream(&mut self, fraction: u8) {
        self.audio_loss_downstream = fraction;
    }

    /// NACK packets written so far.
    pub fn nacks(&self) -> u64 {
        self.nacks
    }

    /// Packets of all streams expected and never taken.
    pub fn lost(&self) -> u64 {
        self.streams.iter().map(|s| s.window.lost()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::rtp;
    use bytes::Bytes;
    use rtc::rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc;
    use rtc::rtp_transceiver::rtp_sender::RTCPFeedback as CodecFeedback;

    const TWCC_ID: u16 = 5;

    fn video_stream(ssrc: u32) -> StreamInfo {
        let codec = RTCRtpCodec {
            mime_type: "video/VP8".to_owned(),
            clock_rate: 90_000,
            rtcp_feedback: vec![
                CodecFeedback {
                    typ: "nack".to_owned(),
                    parameter: String::new(),
                },
                CodecFeedback {
                    typ: "transport-cc".to_owned(),
                    parameter: String::new(),
                },
            ],
            ..Default::default()
        };
        let extensions = [RTCRtpHeaderExtensionParameters {
            uri: rtc::sdp::extmap::TRANSPORT_CC_URI.to_owned(),
            id: TWCC_ID,
            ..Default::default()
        }];
        stream_info(ssrc, 96, &codec, &extensions)
    }

    fn packet(ssrc: u32, seq: u16, transport_seq: u16) -> Packet {
        let mut p = rtp(ssrc, seq, 96, 100, 0);
        p.header
            .set_extension(
                TWCC_ID as u8,
                Bytes::copy_from_slice(&transport_seq.to_be_bytes()),
            )
            .unwrap();
        p
    }

    /// Runs the timers from `start` until `end`, collecting the RTCP.
    fn run(
        f: &mut UplinkFeedback,
        start: Instant,
        end: Instant,
    ) -> Vec<Box<dyn rtc::rtcp::Packet>> {
        let mut out = Vec::new();
        let mut now = start;
        while let Some(at) = f.next_timeout() {
            now = at.max(now + Duration::from_millis(1));
            if now > end {
                break;
            }
            f.on_timeout(now, &mut out);
        }
        out.into_iter().flatten().collect()
    }

    fn nacked(out: &[Box<dyn rtc::rtcp::Packet>]) -> Vec<u16> {
        out.iter()
            .filter_map(|p| p.as_any().downcast_ref::<TransportLayerNack>())
            .flat_map(|n| n.nacks.iter().flat_map(|pair| pair.packet_list()))
            .collect()
    }

    fn blocks(out: &[Box<dyn rtc::rtcp::Packet>]) -> Vec<ReceptionReport> {
        out.iter()
            .filter_map(|p| p.as_any().downcast_ref::<ReceiverReport>())
            .flat_map(|r| r.reports.iter().cloned())
            .collect()
    }

    /// A stream with a gap: the packets come back unchanged, the publisher
    /// is sent a NACK naming the missing one, transport-wide feedback for
    /// what arrived, and a receiver report that counts the loss.
    #[test]
    fn a_gap_is_nacked_reported_and_every_arrival_acknowledged() {
        let mut f = UplinkFeedback::default();
        f.bind(&video_stream(0xabc));
        let start = Instant::now();
        for (i, seq) in [100u16, 101, 102, 104, 105, 106].into_iter().enumerate() {
            let sent = packet(0xabc, seq, seq);
            let at = start + Duration::from_millis(5 * i as u64);
            let back = f.on_rtp(at, sent.clone());
            assert_eq!(back, Some(sent), "new, and handed back unchanged");
        }
        let out = run(&mut f, start, start + Duration::from_millis(1_500));
        let missing = nacked(&out);
        assert!(missing.contains(&103), "NACKs name 103: {missing:?}");
        assert!(!missing.contains(&104));
        assert!(f.nacks() >= 1);
        let feedback: Vec<&TransportLayerCc> = out
            .iter()
            .filter_map(|p| p.as_any().downcast_ref::<TransportLayerCc>())
            .collect();
        assert!(!feedback.is_empty(), "transport-wide feedback was sent");
        assert_eq!(feedback[0].base_sequence_number, 100);
        let report = blocks(&out)
            .into_iter()
            .find(|r| r.ssrc == 0xabc)
            .expect("a receiver report on the stream");
        assert_eq!(report.total_lost, 1);
        assert_eq!(report.last_sequence_number, 106);
        // One lost of the seven expected: 256 / 7.
        assert_eq!(report.fraction_lost, 36);
        assert_eq!(f.lost(), 1);
    }

    /// A missing packet is asked for every round until it arrives, and not
    /// after; one that never comes is given up after ten rounds.
    #[test]
    fn a_missing_packet_is_asked_for_until_it_comes_or_ten_times() {
        let mut f = UplinkFeedback::default();
        f.bind(&video_stream(7));
        let start = Instant::now();
        for seq in [1u16, 2, 4, 6] {
            f.on_rtp(start, packet(7, seq, seq));
        }
        let first = run(&mut f, start, start + Duration::from_millis(350));
        let asked = nacked(&first);
        assert_eq!(asked.iter().filter(|s| **s == 3).count(), 3, "{asked:?}");
        assert_eq!(asked.iter().filter(|s| **s == 5).count(), 3, "{asked:?}");
        // 3 is resent and arrives; 5 never does.
        let resent = f.on_rtp(start + Duration::from_millis(360), packet(7, 3, 9));
        assert!(resent.is_some(), "the resend is new");
        let later = run(
            &mut f,
            start + Duration::from_millis(350),
            start + Duration::from_secs(3),
        );
        let asked = nacked(&later);
        assert!(!asked.contains(&3), "{asked:?}");
        assert_eq!(
            asked.iter().filter(|s| **s == 5).count(),
            usize::from(NACKS_PER_PACKET) - 3,
            "{asked:?}"
        );
        assert_eq!(f.lost(), 1);
    }

    /// A packet already taken comes back as a duplicate and changes
    /// nothing; an audio stream (no NACK negotiated) is reported on but
    /// never NACKed.
    #[test]
    fn duplicates_are_refused_and_streams_without_nack_are_not_nacked() {
        let mut f = UplinkFeedback::default();
        let start = Instant::now();
        assert!(f.on_rtp(start, packet(9, 10, 1)).is_some());
        assert_eq!(f.check(9, 10), Arrival::Duplicate);
        assert!(f.on_rtp(start, packet(9, 10, 2)).is_none(), "a duplicate");
        assert!(f.on_rtp(start, packet(9, 12, 3)).is_some());
        let out = run(&mut f, start, start + Duration::from_millis(1_500));
        assert!(nacked(&out).is_empty());
        let report = blocks(&out).into_iter().find(|r| r.ssrc == 9).unwrap();
        assert_eq!((report.total_lost, report.last_sequence_number), (1, 12));
    }

    /// A subscriber's loss on the publisher's audio is reported upstream
    /// on the audio stream (so the publisher's Opus adds FEC), not on the
    /// video, whose reports keep the uplink's own loss.
    #[test]
    fn audio_reports_carry_the_worst_loss_downstream() {
        let mut f = UplinkFeedback::default();
        let audio = stream_info(
            1,
            111,
            &RTCRtpCodec {
                mime_type: "audio/opus".to_owned(),
                clock_rate: 48_000,
                channels: 2,
                ..Default::default()
            },
            &[],
        );
        f.bind(&audio);
        f.bind(&video_stream(2));
        let start = Instant::now();
        for seq in 0..50u16 {
            f.on_rtp(start, packet(1, seq, seq));
            f.on_rtp(start, packet(2, seq, seq + 100));
        }
        f.set_audio_loss_downstream(13);
        let out = run(&mut f, start, start + Duration::from_millis(1_100));
        let loss = |ssrc| {
            blocks(&out)
                .into_iter()
                .find(|r| r.ssrc == ssrc)
                .map(|r| (r.fraction_lost, r.total_lost))
        };
        assert_eq!(loss(1), Some((13, 0)), "audio: the loss downstream");
        assert_eq!(loss(2), Some((0, 0)), "video: its own");
    }

    /// After the publisher's sender report, each receiver report carries
    /// its NTP middle bits and how long since it came, in 1/65 536 s: the
    /// publisher's round trip.
    #[test]
    fn a_sender_report_is_answered_with_its_time_and_the_delay_since() {
        let mut f = UplinkFeedback::default();
        f.bind(&video_stream(5));
        let start = Instant::now();
        f.on_rtp(start, packet(5, 1, 1));
        let sr = SenderReport {
            ssrc: 5,
            ntp_time: 0x0123_4567_89ab_cdef,
            ..Default::default()
        };
        f.on_sender_report(start + Duration::from_millis(500), &sr);
        let out = run(&mut f, start, start + Duration::from_millis(1_100));
        let report = blocks(&out).into_iter().find(|r| r.ssrc == 5).unwrap();
        assert_eq!(report.last_sender_report, 0x4567_89ab);
        // Sent at start + 1 s, 0.5 s after the sender report.
        assert!(
            (32_700..=32_840).contains(&report.delay),
            "{}",
            report.delay
        );
    }
}
