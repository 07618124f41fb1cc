//! What the caller of a remote SFU's control API makes of its event polls:
//! whether the media server went away, and whether the one that answers
//! again is the same process (a network break) or a new one (its rooms,
//! peer connections and recordings are gone). Pure: fed each poll's
//! outcome, it says which event to raise and where to poll from next.

use parley_control::MediaEvent;

/// One event poll's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll<'a> {
    /// The SFU answered, naming the process that answered.
    Answered { boot: &'a str },
    /// No answer: refused, reset or timed out.
    Failed,
}

/// What to do after a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The event to raise first, if any.
    pub event: Option<MediaEvent>,
    /// The answer came from a new process: drop its events and poll again
    /// from the start of its log (its numbers are not the old process's).
    pub restart_from_zero: bool,
}

/// The state of one remote SFU as its polls show it.
///
/// Invariant: [`MediaEvent::PlaneDown`] is raised at most once between two
/// answers, and [`MediaEvent::PlaneRestarted`] only for an answer whose boot
/// id differs from the last answer's.
#[derive(Debug, Clone, Default)]
pub struct PlaneWatch {
    /// The boot id of the last answer; `None` before the first.
    boot: Option<String>,
    /// A poll failed since the last answer.
    down: bool,
}

impl PlaneWatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// The boot id of the last answer.
    pub fn boot(&self) -> Option<&str> {
        self.boot.as_deref()
    }

    /// Takes a poll's outcome.
    pub fn observe(&mut self, poll: Poll<'_>) -> Verdict {
        match poll {
            Poll::Failed => {
                // Before the first answer no room can have been opened on it.
                let event = (!self.down && self.boot.is_some()).then_some(MediaEvent::PlaneDown);
                self.down = true;
                Verdict {
                    event,
                    restart_from_zero: false,
                }
            }
            Poll::Answered { boot } => {
                self.down = false;
                let restarted = self.boot.as_deref().is_some_and(|old| old != boot);
                if self.boot.as_deref() != Some(boot) {
                    self.boot = Some(boot.to_string());
                }
                Verdict {
                    event: restarted.then_some(MediaEvent::PlaneRestarted),
                    restart_from_zero: restarted,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn answered(boot: &str) -> Poll<'_> {
        Poll::Answered { boot }
    }

    #[test]
    fn a_killed_and_restarted_sfu_is_down_once_then_restarted() {
        let mut watch = PlaneWatch::new();
        assert_eq!(watch.observe(answered("a")).event, None, "first answer");
        assert_eq!(watch.observe(answered("a")).event, None);
        assert_eq!(
            watch.observe(Poll::Failed).event,
            Some(MediaEvent::PlaneDown)
        );
        assert_eq!(watch.observe(Poll::Failed).event, None, "once per outage");
        let back = watch.observe(answered("b"));
        assert_eq!(back.event, Some(MediaEvent::PlaneRestarted));
        assert!(back.restart_from_zero);
        assert_eq!(watch.observe(answered("b")).event, None);
    }

    #[test]
    fn a_network_break_is_down_but_not_restarted() {
        let mut watch = PlaneWatch::new();
        watch.observe(answered("a"));
        assert_eq!(
            watch.observe(Poll::Failed).event,
            Some(MediaEvent::PlaneDown)
        );
        let back = watch.observe(answered("a"));
        assert_eq!(back.event, None);
        assert!(!back.restart_from_zero);
    }

    #[test]
    fn a_restart_between_two_polls_is_still_seen() {
        let mut watch = PlaneWatch::new();
        watch.observe(answered("a"));
        assert_eq!(
            watch.observe(answered("b")).event,
            Some(MediaEvent::PlaneRestarted)
        );
    }

    #[test]
    fn failures_before_the_first_answer_raise_nothing() {
        let mut watch = PlaneWatch::new();
        assert_eq!(watch.observe(Poll::Failed).event, None);
        assert_eq!(watch.observe(answered("a")).event, None);
    }

    proptest! {
        /// Over any sequence of outcomes: never two `PlaneDown` without an
        /// answer between them, and `PlaneRestarted` exactly when the boot id
        /// changed from the previous answer's.
        #[test]
        fn events_follow_the_outcomes(polls in proptest::collection::vec(proptest::option::of(0u8..3), 0..60)) {
            let mut watch = PlaneWatch::new();
            let mut last_boot: Option<String> = None;
            let mut down_since_answer = false;
            for poll in polls {
                match poll {
                    None => {
                        let v = watch.observe(Poll::Failed);
                        if v.event == Some(MediaEvent::PlaneDown) {
                            prop_assert!(!down_since_answer);
                            prop_assert!(last_boot.is_some());
                            down_since_answer = true;
                        } else {
                            prop_assert_eq!(v.event, None);
                        }
                    }
                    Some(b) => {
                        let boot = b.to_string();
                        let v = watch.observe(Poll::Answered { boot: &boot });
                        let changed = last_boot.as_ref().is_some_and(|old| *old != boot);
                        prop_assert_eq!(v.event == Some(MediaEvent::PlaneRestarted), changed);
                        prop_assert_eq!(v.restart_from_zero, changed);
                        last_boot = Some(boot);
                        down_since_answer = false;
                    }
                }
            }
        }
    }
}
