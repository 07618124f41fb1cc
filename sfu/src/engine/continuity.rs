//! Keeps an outgoing stream continuous when its source changes: a slot that
//! carried one publisher and now carries another must not jump in sequence
//! number or timestamp, or the receiver's jitter buffer discards it.

/// Timestamp step inserted at a change of source (90 kHz video: one frame
/// at 30 fps; for 48 kHz audio it is 62.5 ms, harmless after a switch).
pub const SWITCH_TS_STEP: u32 = 3_000;

/// Per outgoing stream: offsets from the current source's numbering.
#[derive(Debug, Clone, Default)]
pub struct Continuity {
    source: Option<u32>,
    seq_offset: u16,
    ts_offset: u32,
    last: Option<(u16, u32)>,
}

/// Whether `a` is after `b` in 16-bit serial arithmetic (RFC 1982).
pub fn seq_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

impl Continuity {
    /// The outgoing `(sequence number, timestamp)` for a packet of
    /// `source_ssrc` numbered `(seq, ts)`.
    pub fn rewrite(&mut self, source_ssrc: u32, seq: u16, ts: u32) -> (u16, u32) {
        if self.source != Some(source_ssrc) {
            self.source = Some(source_ssrc);
            match self.last {
                Some((last_seq, last_ts)) => {
                    self.seq_offset = last_seq.wrapping_add(1).wrapping_sub(seq);
                    self.ts_offset = last_ts.wrapping_add(SWITCH_TS_STEP).wrapping_sub(ts);
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
            .is_none_or(|(last_seq, _)| seq_newer(out.0, last_seq))
        {
            self.last = Some(out);
        }
        out
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

    #[test]
    fn first_source_passes_through() {
        let mut c = Continuity::default();
        assert_eq!(c.rewrite(7, 100, 5_000), (100, 5_000));
        assert_eq!(c.rewrite(7, 101, 8_000), (101, 8_000));
        assert_eq!(
            c.rewrite(7, 99, 2_000),
            (99, 2_000),
            "late packets keep their number"
        );
    }

    #[test]
    fn a_new_source_continues_the_numbering() {
        let mut c = Continuity::default();
        c.rewrite(7, 65_535, 10);
        c.rewrite(7, 0, 3_010);
        let (seq, ts) = c.rewrite(9, 4_000, 900_000);
        assert_eq!(seq, 1);
        assert_eq!(ts, 3_010 + SWITCH_TS_STEP);
        assert_eq!(
            c.rewrite(9, 4_001, 903_000),
            (2, 3_010 + SWITCH_TS_STEP + 3_000)
        );
        assert_eq!(
            c.timestamp_of(9, 906_000),
            Some(3_010 + SWITCH_TS_STEP + 6_000)
        );
        assert_eq!(c.timestamp_of(7, 6_010), None, "not the current source");
        // Back to the first source: continues again, no jump back.
        let (seq, _) = c.rewrite(7, 1, 6_010);
        assert_eq!(seq, 3);
    }

    #[test]
    fn serial_arithmetic() {
        assert!(seq_newer(1, 65_535));
        assert!(!seq_newer(65_535, 1));
        assert!(!seq_newer(5, 5));
    }
}
