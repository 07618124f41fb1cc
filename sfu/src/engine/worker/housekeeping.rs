//! What no packet triggers: due peer timers, liveness, sender reports,
//! simulcast layers, active speakers, downlinks (`downlinks.rs`), load and
//! link samples.

use super::*;

impl Worker {
    /// Runs the peer connections whose timer is due (only those).
    pub(super) fn run_timers(&mut self, now: Instant) {
        let mut failed = Vec::new();
        for key in self.timers.take_due(now) {
            let Some(peer) = self.peers.get_mut(&key) else {
                continue;
            };
            peer.touch();
            if let Err(e) = peer.pc.handle_timeout(now) {
                tracing::debug!(member = peer.member, error = %e, "peer timer failed; dropping the peer");
                failed.push((peer.room, peer.member));
                continue;
            }
            let mut feedback = Vec::new();
            peer.uplink_feedback.on_timeout(now, &mut feedback);
            for packets in feedback {
                if let Err(e) = peer.pc.handle_write(TaggedRTCMessage {
                    now,
                    message: RTCMessage::RtcpPacket(String::new(), packets),
                }) {
                    tracing::debug!(member = peer.member, error = %e, "uplink feedback not sent");
                }
            }
        }
        for (room, member) in failed {
            self.lose(room, member, now);
        }
    }

    /// What no packet triggers, every [`HOUSEKEEPING_EVERY`]: peers that
    /// lost consent or went silent are let go, due sender reports go out,
    /// and rooms' speakers and simulcast layers are looked at.
    pub(super) fn housekeeping(&mut self, now: Instant) {
        let now_us = self.micros(now);
        let wall = std::time::SystemTime::now();
        let mut lost = Vec::new();
        for peer in self.peers.values_mut() {
            if let Some(loss) = peer.liveness.loss(now) {
                tracing::debug!(member = peer.member, reason = loss.as_str(), "peer lost");
                let counter = match loss {
                    crate::liveness::Loss::ConsentExpired => &self.counters.consent_expired,
                    crate::liveness::Loss::Silent => &self.counters.peers_silent,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                lost.push((peer.room, peer.member));
                continue;
            }
            if peer.connected {
                crate::engine::feedback::send_reports(peer, now, now_us, wall, &self.counters);
            }
        }
        for (room, member) in lost {
            self.lose(room, member, now);
        }
        self.announce_speakers(now_us);
        self.tell_speakers();
        self.update_layers(now_us);
        self.spend_estimates(now, now_us);
        self.start_probes(now);
        self.tell_publishers_audio_loss();
        self.pause_unneeded_layers(now_us);
        self.limit_single_layer_publishers(now, now_us);
    }

    /// Hands subscribers' layer selectors what each simulcast publisher
    /// now sends (after each measurement window, or when a layer appears).
    pub(super) fn update_layers(&mut self, now_us: u64) {
        let mut updates: Vec<(RoomId, MemberId, Vec<LayerInfo>)> = Vec::new();
        for peer in self.peers.values_mut() {
            if let Some(layers) = peer.layer_rates.tick(now_us) {
                updates.push((peer.room, peer.member, layers));
            }
        }
        for (room, publisher, layers) in updates {
            let Some(state) = self.rooms.get_mut(&room) else {
                continue;
            };
            if let Some(recording) = state.recording.as_mut() {
                recording
                    .layers
                    .entry(publisher)
                    .or_default()
                    .set_available(&layers, now_us);
            }
            for key in state.peers.values() {
                if let Some(slot) = self.peers.get_mut(key).and_then(|p| p.slot_of(publisher)) {
                    slot.video.layers.set_available(&layers, now_us);
                }
            }
        }
    }

    /// Asks each simulcast publisher to pause the layers nobody (no
    /// subscriber, not the recorder) needs, and to resume those someone
    /// needs again.
    pub(super) fn pause_unneeded_layers(&mut self, now_us: u64) {
        let publishers: Vec<(PeerKey, RoomId, MemberId, LayerSet)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.connected && p.layer_rates.is_simulcast())
            .map(|(key, p)| (*key, p.room, p.member, p.layer_rates.offered()))
            .collect();
        for (key, room, member, offered) in publishers {
            let Some(state) = self.rooms.get(&room) else {
                continue;
            };
            let mut needed = state
                .recording
                .as_ref()
                .and_then(|r| r.layers.get(&member))
                .map(|s| s.needed_layers())
                .unwrap_or_default();
            for other in state.peers.values() {
                if let Some(slot) = self.peers.get_mut(other).and_then(|p| p.slot_of(member)) {
                    needed = needed.union(slot.video.layers.needed_layers());
                }
            }
            let Some(peer) = self.peers.get_mut(&key) else {
                continue;
            };
            if let Some(send) = peer.layer_pausing.update(offered, needed, now_us) {
                peer.layer_rates.set_paused(peer.layer_pausing.paused());
                self.counters
                    .layer_pause_changes
                    .fetch_add(1, Ordering::Relaxed);
                let _ = self.events.send(MediaEvent::PublishLayers {
                    room,
                    member,
                    rids: send.iter().map(|l| l.rid().to_string()).collect(),
                });
            }
        }
    }

    /// Tells the control plane about rooms whose active speaker changed.
    pub(super) fn announce_speakers(&mut self, now_us: u64) {
        for (room, state) in &mut self.rooms {
            let speaker = state.speakers.active_speaker(now_us);
            if speaker.is_some() && speaker != state.announced {
                state.announced = speaker;
                if let Some(member) = speaker {
                    let _ = self.events.send(MediaEvent::ActiveSpeaker {
                        room: *room,
                        member,
                    });
                }
            }
        }
    }

    /// Publishes how many rooms and peers the worker holds.
    pub(super) fn publish_gauges(&self) {
        let load = &self.counters.load;
        load.rooms.store(self.rooms.len() as u64, Ordering::Relaxed);
        load.peers.store(self.peers.len() as u64, Ordering::Relaxed);
    }

    /// Publishes rooms, peers and (about once a second) CPU time and the
    /// peers' link counters.
    pub(super) fn report_load(&mut self) {
        self.publish_gauges();
        if self.last_load_report.elapsed() >= Duration::from_secs(1) {
            self.last_load_report = Instant::now();
            self.sample_links(self.last_load_report);
            self.count_downlinks();
            if let Some(ns) = crate::engine::load::thread_cpu_ns() {
                self.counters.load.cpu_ns.store(ns, Ordering::Relaxed);
            }
        }
    }

    /// Publishes how many connected peers' downlinks are estimated each way.
    fn count_downlinks(&self) {
        use crate::engine::downlinks::EstimateState;
        let load = &self.counters.load;
        let mut counts = [0u64; 4];
        for peer in self.peers.values().filter(|p| p.connected) {
            counts[EstimateState::of(peer).index()] += 1;
        }
        for (gauge, count) in load.downlinks.iter().zip(counts) {
            gauge.store(count, Ordering::Relaxed);
        }
    }

    /// Adds what each connected peer's incoming loss and the NACKs the SFU
    /// sent it grew by since the last sample (the subscriber side, NACKs
    /// received, resends and round trips, is counted as it happens by
    /// `feedback`).
    pub(super) fn sample_links(&mut self, now: Instant) {
        let now_us = self.micros(now);
        let c = &self.counters;
        for peer in self.peers.values_mut().filter(|p| p.connected) {
            let totals = crate::engine::link_quality::LinkTotals::of(peer);
            let grew = totals.since(&peer.link);
            peer.link = totals;
            if let Some(at) = peer.link_sampled_us.replace(now_us) {
                peer.uplink =
                    crate::engine::link_quality::Uplink::of(&grew, now_us.saturating_sub(at));
            }
            c.packets_lost_in.fetch_add(grew.lost_in, Ordering::Relaxed);
            c.nacks_sent.fetch_add(grew.nacks_sent, Ordering::Relaxed);
        }
    }
}
