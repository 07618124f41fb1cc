//! Keeps an outgoing stream continuous when its source changes: a slot that
//! carried one publisher and now carries another (or the same one after a
//! pause) must not jump in sequence number, or the receiver asks for the
//! packets in between; and its timestamp must move on as far as the wall
//! clock did, or the receiver's jitter buffer and lip sync, which map RTP
//! time to arrival and sender-report time, see a frame from the past
//! (RFC 3550 §5.1: the timestamp reflects the sampling instant).

/// The smallest timestamp step at a change of source: one frame at 30 fps,
/// in units of the clock (`clock_hz / 30`).
const MIN_SWITCH_STEP_PER_SECOND: u64 = 30;

/// Per outgoing stream: offsets from the current source's numbering.
#[derive(Debug, Clone)]
pub struct Continuity {
    /// RTP clock of the stream, Hz.
    clock_hz: u32,
    source: Option<u32>,
    seq_offset: u16,
    ts_offset: u32,
    /// The newest `(sequence number, timestamp)` sent, and when (µs).
    last: Option<(u16, u32, u64)>,
}

/// Whether `a` is after `b` in 16-bit serial arithmetic (RFC 1982).
pub fn seq_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

impl Continuity {
    /// A stream on an RTP clock of `clock_hz` (90 000 for video, 48 000
    /// for Opus).
    pub fn new(clock_hz: u32) -> Self {
        Self {
            clock_hz,
            source: None,
            seq_offset: 0,
            ts_offset: 0,
            last: None,
        }
    }

    /// The outgoing `(sequence number, timestamp)` for a packet of
    /// `source_ssrc` numbered `(seq, ts)`, sent at `now_us` (µs, any
    /// monotonic origin). At a change of source the sequence goes on from
    /// the last one sent and the timestamp by the time since it was sent
    /// (at least one frame).
    pub fn rewrite(&mut self, source_ssrc: u32, seq: u16, ts: u32, now_us: u64) -> (u16, u32) {
        if self.source != Some(source_ssrc) {
            self.source = Some(source_ssrc);
            match self.last {
                Some((last_seq, last_ts, sent_us)) => {
                    self.seq_offset = last_seq.wrapping_add(1).wrapping_sub(seq);
                    let step = self.step_for(now_us.saturating_sub(sent_us));
                    self.ts_offset = last_ts.wrapping_add(step).wrapping_sub(ts);
                }
                None => {
                    self.seq_offset = 0;
                    self.ts_offset = 0;
                }
            }
        }
        let out = (
            seq.wrapping_add(self.seq_offset),
            ts.wrapping_add(self.ts_offset),
        );
        if self
            .last
            .is_none_or(|(last_seq, _, _)| seq_newer(out.0, last_seq))
        {
            self.last = Some((out.0, out.1, now_us));
        }
        out
    }

    /// The timestamp step for `elapsed_us` of wall clock: that time on the
    /// stream's clock, at least one frame. RTP timestamps wrap, so the step
    /// does too.
    fn step_for(&self, elapsed_us: u64) -> u32 {
        let clock = u64::from(self.clock_hz);
        let step =
            (elapsed_us.saturating_mul(clock) / 1_000_000).max(clock / MIN_SWITCH_STEP_PER_SECOND);
        step as u32
    }
}

impl Continuity {
    /// The next packet continues the numbering as if from a new source:
    /// after a pause, the subscriber sees no gap to ask for.
    pub fn restart(&mut self) {
        self.source = None;
    }

    /// The outgoing timestamp for `ts` of `source_ssrc`, if that is the
    /// source this stream carries now (its sender reports translate too).
    pub fn timestamp_of(&self, source_ssrc: u32, ts: u32) -> Option<u32> {
        (self.source == Some(source_ssrc)).then(|| ts.wrapping_add(self.ts_offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIDEO_HZ: u32 = 90_000;
    /// One frame at 30 fps on the video clock.
    const FRAME: u32 = 3_000;

    #[test]
    fn first_source_passes_through() {
        let mut c = Continuity::new(VIDEO_HZ);
        assert_eq!(c.rewrite(7, 100, 5_000, 0), (100, 5_000));
        assert_eq!(c.rewrite(7, 101, 8_000, 33_000), (101, 8_000));
        assert_eq!(
            c.rewrite(7, 99, 2_000, 34_000),
            (99, 2_000),
            "late packets keep their number"
        );
    }

    #[test]
    fn a_new_source_continues_the_numbering() {
        let mut c = Continuity::new(VIDEO_HZ);
        c.rewrite(7, 65_535, 10, 0);
        c.rewrite(7, 0, 3_010, 33_000);
        // Switched within the same frame interval: one frame on.
        let (seq, ts) = c.rewrite(9, 4_000, 900_000, 40_000);
        assert_eq!(seq, 1);
        assert_eq!(ts, 3_010 + FRAME);
        assert_eq!(c.rewrite(9, 4_001, 903_000, 73_000), (2, 3_010 + 2 * FRAME));
        assert_eq!(c.timestamp_of(9, 906_000), Some(3_010 + 3 * FRAME));
        assert_eq!(c.timestamp_of(7, 6_010), None, "not the current source");
        // Back to the first source: continues again, no jump back.
        let (seq, _) = c.rewrite(7, 1, 6_010, 106_000);
        assert_eq!(seq, 3);
    }

    #[test]
    fn after_a_pause_the_timestamp_moves_on_with_the_wall_clock() {
        let mut c = Continuity::new(VIDEO_HZ);
        c.rewrite(7, 500, 1_000, 2_000_000);
        c.restart();
        // 15 s later the same source comes back 450 frames on: the sequence
        // has no gap to ask for, the timestamp is 15 s on, as the source's is.
        let (seq, ts) = c.rewrite(7, 950, 1_000 + 450 * FRAME, 17_000_000);
        assert_eq!(seq, 501);
        assert_eq!(ts, 1_000 + 15 * VIDEO_HZ);
        assert_eq!(
            c.rewrite(7, 951, 1_000 + 451 * FRAME, 17_033_000),
            (502, 1_000 + 15 * VIDEO_HZ + FRAME)
        );
    }

    #[test]
    fn audio_steps_on_its_own_clock_and_timestamps_wrap() {
        let mut c = Continuity::new(48_000);
        c.rewrite(7, 10, u32::MAX - 100, 0);
        let (_, ts) = c.rewrite(9, 0, 0, 1_000);
        assert_eq!(
            ts,
            (u32::MAX - 100).wrapping_add(48_000 / 30),
            "at least one frame"
        );
        let (_, ts) = c.rewrite(7, 11, 0, 2_001_000);
        assert_eq!(
            ts,
            (u32::MAX - 100).wrapping_add(1_600 + 96_000),
            "2 s at 48 kHz"
        );
    }

    #[test]
    fn serial_arithmetic() {
        assert!(seq_newer(1, 65_535));
        assert!(!seq_newer(65_535, 1));
        assert!(!seq_newer(5, 5));
    }
}
