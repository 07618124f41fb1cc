//! Who is in the worker's rooms: commands from the handle, joins and
//! admissions, removals, hearing changes and the slots each member fills.

use super::*;

impl Worker {
    /// Handles pending commands; false on `Stop`.
    pub(super) fn drain_commands(&mut self, now: Instant) -> bool {
        loop {
            let command = match self.commands.try_recv() {
                Ok(c) => c,
                Err(mpsc::TryRecvError::Empty) => return true,
                // The handle is gone: nobody can control this worker any more.
                Err(mpsc::TryRecvError::Disconnected) => return false,
            };
            match command {
                Command::OpenRoom {
                    room,
                    policy,
                    reply,
                } => {
                    let result = match self.rooms.entry(room) {
                        std::collections::hash_map::Entry::Occupied(_) => {
                            Err(SfuError::RoomExists(room))
                        }
                        std::collections::hash_map::Entry::Vacant(slot) => {
                            slot.insert(RoomState {
                                room: Room::open(policy),
                                peers: HashMap::new(),
                                speakers: ActiveSpeaker::default(),
                                announced: None,
                                recording: None,
                                announcement: None,
                            });
                            Ok(())
                        }
                    };
                    // The gauges move before the caller hears back, so a
                    // scrape right after the answer sees the room.
                    self.publish_gauges();
                    let _ = reply.send(result);
                }
                Command::Join { request, reply } => {
                    let result = self.join(request, now);
                    self.publish_gauges();
                    let _ = reply.send(result);
                }
                Command::Remove {
                    room,
                    member,
                    reply,
                } => {
                    let result = self.remove(room, member, now);
                    self.publish_gauges();
                    let _ = reply.send(result);
                }
                Command::CloseRoom { room, reply } => {
                    let result = match self.rooms.get_mut(&room) {
                        None => Err(SfuError::UnknownRoom(room)),
                        Some(state) => {
                            state.room.close();
                            for member in state.peers.keys() {
                                self.keyframes.remove(&(room, *member));
                            }
                            let keys: Vec<PeerKey> = state.peers.drain().map(|(_, k)| k).collect();
                            for key in keys {
                                self.drop_peer(key, now);
                            }
                            self.rooms.remove(&room);
                            Ok(())
                        }
                    };
                    self.publish_gauges();
                    let _ = reply.send(result);
                }
                Command::Mute {
                    room,
                    member,
                    media,
                    muted,
                    reply,
                } => {
                    let result = match self.rooms.get_mut(&room) {
                        None => Err(SfuError::UnknownRoom(room)),
                        Some(state) => state
                            .room
                            .set_muted(member, media, muted)
                            .map_err(SfuError::from),
                    };
                    let _ = reply.send(result);
                }
                Command::Hearing {
                    room,
                    change,
                    reply,
                } => {
                    let result = match self.rooms.get_mut(&room) {
                        None => Err(SfuError::UnknownRoom(room)),
                        Some(state) => apply_hearing_change(&mut state.room, change),
                    };
                    let _ = reply.send(result);
                }
                Command::Record {
                    room,
                    tap,
                    announcement,
                    reply,
                } => {
                    let _ = reply.send(self.record(room, tap, announcement, now));
                }
                Command::Downlinks { room, reply } => {
                    let result = match self.rooms.get(&room) {
                        None => Err(SfuError::UnknownRoom(room)),
                        Some(state) => Ok(state
                            .peers
                            .values()
                            .filter_map(|k| self.peers.get(k))
                            .map(crate::engine::DownlinkReport::of)
                            .collect()),
                    };
                    let _ = reply.send(result);
                }
                Command::Stop => return false,
            }
        }
    }

    pub(super) fn join(
        &mut self,
        request: VerifiedJoin,
        now: Instant,
    ) -> Result<JoinAnswer, SfuError> {
        let state = self
            .rooms
            .get_mut(&request.room)
            .ok_or(SfuError::UnknownRoom(request.room))?;
        // The signed session kind and the room must agree: a token for a
        // privileged session never joins an ordinary room, nor the reverse.
        if state.room.policy().privileged != request.privileged {
            let name = |p: bool| if p { "privileged" } else { "not privileged" };
            return Err(SfuError::SessionMismatch {
                room: request.room,
                token: name(request.privileged),
                room_is: name(state.room.policy().privileged),
            });
        }
        // A member joining again (reconnect) replaces their old connection.
        let old = state.peers.remove(&request.member);
        if old.is_some() {
            let _ = state.room.remove(request.member);
        }
        let admitted = admit(&mut state.room, &request);
        if let Some(key) = old {
            self.forget_source(request.room, request.member);
            self.drop_peer(key, now);
        }
        admitted?;
        let (peer, sdp) = match Peer::answer(
            request.room,
            request.member,
            request.offer,
            request.receive_slots,
            request.kind.may_publish(),
            crate::engine::peer::Advertised {
                udp: self.advertised,
                tcp: self.advertised_tcp,
            },
            now,
        ) {
            Ok(p) => p,
            Err(e) => {
                if let Some(state) = self.rooms.get_mut(&request.room) {
                    let _ = state.room.remove(request.member);
                }
                return Err(e);
            }
        };
        let key = self.next_key;
        self.next_key += 1;
        self.demux.add(&peer.ufrag, &peer.ice_password, key);
        let Some(state) = self.rooms.get_mut(&request.room) else {
            return Err(SfuError::UnknownRoom(request.room));
        };
        state.peers.insert(request.member, key);
        self.peers.insert(key, peer);
        self.fill_slots(request.room);
        Ok(JoinAnswer {
            member: request.member,
            kind: request.kind,
            sdp,
        })
    }

    /// A peer's connection is gone (ICE or DTLS failed, closed, timers
    /// failing): free its slots and tell the control plane, which asks the
    /// participant to offer again.
    pub(super) fn lose(&mut self, room: RoomId, member: MemberId, now: Instant) {
        if self.remove(room, member, now).is_ok() {
            let _ = self.events.send(MediaEvent::MediaLost { room, member });
        }
    }

    pub(super) fn remove(
        &mut self,
        room: RoomId,
        member: MemberId,
        now: Instant,
    ) -> Result<(), SfuError> {
        self.keyframes.remove(&(room, member));
        if let Some(state) = self.rooms.get_mut(&room) {
            state.speakers.remove(&member);
            if state.announced == Some(member) {
                state.announced = None;
            }
        }
        let state = self
            .rooms
            .get_mut(&room)
            .ok_or(SfuError::UnknownRoom(room))?;
        state.room.remove(member)?;
        let key = state.peers.remove(&member);
        self.forget_source(room, member);
        if let Some(key) = key {
            self.drop_peer(key, now);
        }
        Ok(())
    }

    /// Frees `member`'s slot in every peer of the room.
    pub(super) fn forget_source(&mut self, room: RoomId, member: MemberId) {
        let now_us = self.micros(Instant::now());
        if let Some(state) = self.rooms.get(&room) {
            for key in state.peers.values() {
                if let Some(p) = self.peers.get_mut(key) {
                    p.release(member, now_us);
                    p.unserved.remove(&member);
                }
            }
        }
        self.fill_slots(room);
    }

    /// Gives every peer of the room a slot for each publisher it does not
    /// receive yet, while free slots last (also after a slot was freed).
    pub(super) fn fill_slots(&mut self, room: RoomId) {
        let Some(state) = self.rooms.get(&room) else {
            return;
        };
        let now_us = self.micros(Instant::now());
        let publishers: Vec<(MemberId, Vec<LayerInfo>)> = state
            .room
            .members()
            .filter(|(_, kind)| kind.may_publish())
            .map(|(id, _)| {
                let layers = state
                    .peers
                    .get(&id)
                    .and_then(|k| self.peers.get(k))
                    .map(|p| p.layer_rates.layers())
                    .unwrap_or_default();
                (id, layers)
            })
            .collect();
        for (member, key) in &state.peers {
            let Some(peer) = self.peers.get_mut(key) else {
                continue;
            };
            for (source, layers) in publishers.iter().filter(|(s, _)| s != member) {
                if peer.assign(*source, layers, now_us) {
                    peer.unserved.remove(source);
                } else if peer.unserved.insert(*source) {
                    // Counted once per publisher a peer newly cannot receive.
                    self.counters
                        .slots_exhausted
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    pub(super) fn drop_peer(&mut self, key: PeerKey, _now: Instant) {
        self.timers.remove(key);
        if let Some(mut peer) = self.peers.remove(&key) {
            let _ = peer.pc.close();
            // Its closing alerts go out now, with whatever else is queued.
            peer.collect_writes(&mut self.outbox);
            self.send_outbox();
            self.demux.remove(key);
        }
    }

    pub(super) fn close_all(&mut self, now: Instant) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            self.drop_peer(key, now);
        }
        self.rooms.clear();
    }
}

/// Lets a member into the room with what the court decided about them
/// (mutes, consultation, witness protection), all holding from their first
/// packet; on a refusal the member is not left half-admitted.
fn admit(room: &mut Room, request: &VerifiedJoin) -> Result<(), SfuError> {
    room.join(request.member, request.kind)?;
    let standing = (|| {
        for (media, muted) in [
            (MediaKind::Audio, request.standing.muted.audio),
            (MediaKind::Video, request.standing.muted.video),
        ] {
            if muted {
                room.set_muted(request.member, media, true)?;
            }
        }
        if let Some(c) = request.standing.consultation {
            room.place_in_consultation(request.member, c)?;
        }
        if let Some(hidden) = &request.standing.protected_from {
            room.set_protection(request.member, Some(hidden.iter().copied().collect()))?;
        }
        Ok::<(), crate::room::RoomError>(())
    })();
    if let Err(e) = standing {
        let _ = room.remove(request.member);
        return Err(e.into());
    }
    Ok(())
}

fn apply_hearing_change(room: &mut Room, change: HearingChange) -> Result<(), SfuError> {
    match change {
        HearingChange::OpenConsultation {
            consultation,
            members,
        } => room.open_consultation(consultation, &members)?,
        HearingChange::CloseConsultation { consultation } => {
            room.close_consultation(consultation)?;
        }
        HearingChange::Observers { admitted } => room.set_observers_admitted(admitted),
        HearingChange::Protect {
            member,
            hidden_from,
        } => room.set_protection(member, hidden_from.map(|h| h.into_iter().collect()))?,
    }
    Ok(())
}
