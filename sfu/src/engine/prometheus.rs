//! The SFU's counters in Prometheus text exposition, served on `/metrics`
//! by signaling (in-process SFU) or by a standalone SFU node.

use super::handle::SfuStats;
use super::load::{LatencySnapshot, WorkerLoadSnapshot};

/// The media server's counters in Prometheus text (read at scrape time from
/// the workers' atomics).
pub fn render(stats: &SfuStats) -> String {
    let series: [(&str, &str, u64); 49] = [
        (
            "parley_sfu_datagrams_in_total",
            "UDP datagrams received by the media workers",
            stats.datagrams_in,
        ),
        (
            "parley_sfu_datagrams_unrouted_total",
            "Datagrams dropped: unknown peer, malformed, or refused by ICE/DTLS/SRTP",
            stats.datagrams_unrouted,
        ),
        (
            "parley_sfu_datagrams_out_total",
            "UDP datagrams sent by the media workers",
            stats.datagrams_out,
        ),
        (
            "parley_sfu_rtp_packets_in_total",
            "Decrypted RTP packets received from publishers",
            stats.rtp_in,
        ),
        (
            "parley_sfu_rtp_bytes_in_total",
            "RTP payload bytes received from publishers",
            stats.rtp_bytes_in,
        ),
        (
            "parley_sfu_rtp_packets_forwarded_total",
            "RTP packets written to subscribers",
            stats.rtp_forwarded,
        ),
        (
            "parley_sfu_rtp_bytes_forwarded_total",
            "RTP payload bytes written to subscribers",
            stats.rtp_bytes_forwarded,
        ),
        (
            "parley_sfu_forward_errors_total",
            "RTP packets that could not be written to a subscriber",
            stats.forward_errors,
        ),
        (
            "parley_sfu_keyframe_requests_relayed_total",
            "PLI sent to publishers on subscribers' behalf",
            stats.plis_relayed,
        ),
        (
            "parley_sfu_keyframe_requests_throttled_total",
            "Subscribers' keyframe requests held back (one per publisher per 500 ms)",
            stats.keyframe_requests_throttled,
        ),
        (
            "parley_sfu_slots_exhausted_total",
            "Publishers a subscriber had no receive slot for",
            stats.slots_exhausted,
        ),
        (
            "parley_sfu_simulcast_switches_total",
            "Subscribers moved to another simulcast layer, each on a keyframe",
            stats.simulcast_switches,
        ),
        (
            "parley_sfu_layer_pause_changes_total",
            "Times a simulcast publisher was asked to pause or resume layers nobody or somebody needs",
            stats.layer_pause_changes,
        ),
        (
            "parley_sfu_datagrams_dropped_total",
            "Datagrams the media socket refused (buffer full, unreachable)",
            stats.datagrams_dropped,
        ),
        (
            "parley_sfu_send_calls_total",
            "System calls that sent datagrams (sendmmsg batches up to 64)",
            stats.send_calls,
        ),
        (
            "parley_sfu_tcp_frames_in_total",
            "ICE-TCP frames received (RFC 4571)",
            stats.tcp_frames_in,
        ),
        (
            "parley_sfu_tcp_frames_out_total",
            "ICE-TCP frames sent",
            stats.tcp_frames_out,
        ),
        (
            "parley_sfu_packets_lost_in_total",
            "Publishers' RTP packets that never reached the SFU",
            stats.packets_lost_in,
        ),
        (
            "parley_sfu_nacks_sent_total",
            "NACKs the SFU sent to publishers",
            stats.nacks_sent,
        ),
        (
            "parley_sfu_nacks_received_total",
            "NACKs subscribers sent to the SFU",
            stats.nacks_received,
        ),
        (
            "parley_sfu_retransmissions_total",
            "RTP packets sent again in answer to NACKs",
            stats.retransmissions,
        ),
        (
            "parley_sfu_nack_misses_total",
            "Packets subscribers asked for that the SFU no longer had (older than 1 s or 1024 packets)",
            stats.nack_misses,
        ),
        (
            "parley_sfu_retransmissions_suppressed_total",
            "Resends held back: within a round trip of the last, after 3, or over half the leg's rate",
            stats.retransmissions_suppressed,
        ),
        (
            "parley_sfu_rtx_sent_total",
            "Resends sent on a subscriber's RTX repair stream (RFC 4588), where it negotiated one",
            stats.rtx_sent,
        ),
        (
            "parley_sfu_probes_total",
            "Probe clusters sent to test a subscriber's downlink before its paused video is given back",
            stats.probes,
        ),
        (
            "parley_sfu_probe_bytes_total",
            "Bytes of RTP sent in probe clusters (resends of recent video on the subscriber's RTX stream)",
            stats.probe_bytes,
        ),
        (
            "parley_sfu_sealed_packets_total",
            "RTP packets the SFU encrypted itself with the connection's proven SRTP key",
            stats.sealed_packets,
        ),
        (
            "parley_sfu_sealing_proven_total",
            "Connections whose captured SRTP key reproduced rtc's own packet exactly",
            stats.sealing_proven,
        ),
        (
            "parley_sfu_sealing_fallbacks_total",
            "Connections where no captured SRTP key did: their RTP stays on rtc's write path",
            stats.sealing_fallbacks,
        ),
        (
            "parley_sfu_opened_packets_total",
            "Publishers' RTP packets the SFU decrypted itself with the connection's proven remote SRTP key",
            stats.opened_packets,
        ),
        (
            "parley_sfu_opening_proven_total",
            "Connections whose captured remote SRTP key authenticated a publisher's packet",
            stats.opening_proven,
        ),
        (
            "parley_sfu_opening_fallbacks_total",
            "Connections where no captured key did: what they publish stays on rtc's read path",
            stats.opening_fallbacks,
        ),
        (
            "parley_sfu_rtp_refused_in_total",
            "Publishers' packets the SFU refused when decrypting: failed authentication",
            stats.rtp_refused_in,
        ),
        (
            "parley_sfu_rtcp_opened_total",
            "RTCP datagrams the SFU decrypted itself with the connection's proven remote SRTP key",
            stats.rtcp_opened,
        ),
        (
            "parley_sfu_rtcp_opening_proven_total",
            "Connections whose captured remote SRTP key authenticated their RTCP",
            stats.rtcp_opening_proven,
        ),
        (
            "parley_sfu_rtcp_opening_fallbacks_total",
            "Connections where no captured key did: their RTCP stays on rtc's read path",
            stats.rtcp_opening_fallbacks,
        ),
        (
            "parley_sfu_rtcp_refused_in_total",
            "RTCP datagrams the SFU refused when decrypting: failed authentication or a replayed index",
            stats.rtcp_refused_in,
        ),
        (
            "parley_sfu_rtp_duplicates_in_total",
            "Publishers' packets dropped as already taken (replays, duplicates) or older than the replay window",
            stats.rtp_duplicates_in,
        ),
        (
            "parley_sfu_sender_reports_total",
            "RTCP sender reports sent to subscribers (about one per leg per second)",
            stats.sender_reports,
        ),
        (
            "parley_sfu_transport_feedback_total",
            "Transport-wide congestion-control feedback packets read from subscribers",
            stats.transport_feedback,
        ),
        (
            "parley_sfu_video_pauses_total",
            "Times a source's video was paused for a subscriber whose downlink could not carry it with the audio",
            stats.video_pauses,
        ),
        (
            "parley_sfu_video_resumes_total",
            "Times such a paused video was resumed because the downlink could carry it again",
            stats.video_resumes,
        ),
        (
            "parley_sfu_remb_sent_total",
            "Receive limits (REMB) sent to single-layer video publishers, from their subscribers' downlinks",
            stats.remb_sent,
        ),
        (
            "parley_sfu_recorded_packets_total",
            "RTP packets handed to the recorder",
            stats.recorded_packets,
        ),
        (
            "parley_sfu_recorder_drops_total",
            "RTP packets the recorder link could not take (queue full or gone)",
            stats.recorder_drops,
        ),
        (
            "parley_sfu_announcement_packets_total",
            "Frames of the spoken recording notice played to members",
            stats.announcement_packets,
        ),
        (
            "parley_sfu_consent_expired_total",
            "Peers dropped because no authenticated ICE consent check came for 30 s (RFC 7675)",
            stats.consent_expired,
        ),
        (
            "parley_sfu_peers_silent_total",
            "Peers dropped because nothing at all arrived from them for 10 s",
            stats.peers_silent,
        ),
        (
            "parley_sfu_stun_forged_total",
            "Binding requests naming a peer's ufrag whose MESSAGE-INTEGRITY did not check out",
            stats.stun_forged,
        ),
    ];
    let mut out = String::new();
    for (name, help, value) in series {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        ));
    }
    histogram(
        &mut out,
        "parley_sfu_forward_latency_us",
        "Forwarding latency of RTP packets, receive to send, in microseconds",
        &stats.latency,
    );
    histogram(
        &mut out,
        "parley_sfu_peer_rtt_us",
        "Round-trip time to subscribers, from their receiver reports of the SFU's sender reports, in microseconds",
        &stats.rtt,
    );
    type Field = fn(&WorkerLoadSnapshot) -> String;
    let gauges: [(&str, &str, Field); 4] = [
        (
            "parley_sfu_worker_rooms",
            "Rooms placed on each media worker",
            |w| w.rooms.to_string(),
        ),
        (
            "parley_sfu_worker_peers",
            "Peer connections (participants) on each media worker",
            |w| w.peers.to_string(),
        ),
        (
            "parley_sfu_worker_cpu_seconds",
            "CPU time of each media worker thread, in seconds",
            |w| format!("{:.6}", w.cpu_ns as f64 / 1e9),
        ),
        (
            "parley_sfu_worker_tcp_links",
            "Open ICE-TCP connections on each media worker",
            |w| w.tcp_links.to_string(),
        ),
    ];
    for (name, help, value) in gauges {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (i, w) in stats.workers.iter().enumerate() {
            out.push_str(&format!("{name}{{worker=\"{i}\"}} {}\n", value(w)));
        }
    }
    let name = "parley_sfu_downlinks";
    out.push_str(&format!(
        "# HELP {name} Connected peers by how their downlink is estimated: from transport-wide feedback, awaiting it, from REMB, or assumed\n# TYPE {name} gauge\n"
    ));
    for (i, w) in stats.workers.iter().enumerate() {
        for state in super::downlinks::EstimateState::ALL {
            out.push_str(&format!(
                "{name}{{worker=\"{i}\",estimate=\"{}\"}} {}\n",
                state.label(),
                w.downlinks[state.index()]
            ));
        }
    }
    out
}

fn histogram(out: &mut String, name: &str, help: &str, h: &LatencySnapshot) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} histogram\n"));
    for (bound, count) in &h.cumulative {
        out.push_str(&format!("{name}_bucket{{le=\"{bound}\"}} {count}\n"));
    }
    out.push_str(&format!(
        "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}\n",
        h.count, h.sum_us, h.count
    ));
}
