//! One tokio task per live session drives its [`LiveSession`]: it receives
//! connections and client messages, wakes at the session's deadlines, and
//! carries out the effects (audit first, then messages and persistence).

use super::media_lane::{MediaCall, MediaLane, ReplyTo};
use super::state::{Booked, Effect, LiveSession, Recorded, Refused};
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::model::SessionStatus;
use crate::store::Store;
use crate::store::audit::AuditRecord;
use chrono::{DateTime, Utc};
use parley_control::{JoinRequest, MediaEvent, MediaPlane, RoomPolicy, Standing};
use parley_policy::{Jurisdiction, Role, RuleId, SessionKind};
use parley_protocol::{ClientMessage, CloseCode, ParticipantState, RequestId, ServerMessage};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Longest a session task sleeps before re-reading the clock, so that a
/// moved clock (tests) or a missed wake-up is noticed within this bound.
const MAX_SLEEP: Duration = Duration::from_millis(500);

/// What a connection's writer receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// A message, with the id of the request it answers, if any.
    Message(ServerMessage, Option<RequestId>),
    /// Close the socket with this code (after the messages before it).
    Close(CloseCode),
}

/// Messages queued for one socket before it counts as too slow and is
/// closed (a client that stops reading must not grow the server's memory).
pub const OUTBOX_CAPACITY: usize = 256;

/// Identifies one socket, so a stale socket's close does not disconnect the
/// participant's newer one.
pub type ConnectionId = u64;

enum Command {
    Connect {
        participant_id: i64,
        connection: ConnectionId,
        name: String,
        role: Role,
        media: MediaGrant,
        outbox: mpsc::Sender<Outgoing>,
        reply: oneshot::Sender<Result<ParticipantState, Refused>>,
    },
    Client {
        participant_id: i64,
        connection: ConnectionId,
        message: ClientMessage,
        /// The request's id: the replies to it carry it back.
        id: Option<RequestId>,
        reply: oneshot::Sender<Result<(), Refused>>,
    },
    Disconnect {
        participant_id: i64,
        connection: ConnectionId,
    },
    /// Something the media server reported about this session.
    Media(MediaEvent),
    /// The media server answered this participant's offer: their media is
    /// back.
    MediaAnswered { participant_id: i64 },
    End {
        actor: String,
        reason: String,
        cancel: bool,
        /// Whether the end was recorded and carried out.
        reply: oneshot::Sender<bool>,
    },
}

/// What a participant may ask of the media server: their role (written into
/// the short media token the SFU checks itself) and how many other
/// publishers they receive.
#[derive(Debug, Clone)]
pub struct MediaGrant {
    pub role: Role,
    pub receive_slots: usize,
}

/// One participant's socket as the session task knows it.
struct Connection {
    id: ConnectionId,
    outbox: mpsc::Sender<Outgoing>,
    media: MediaGrant,
}

type Connections = HashMap<i64, Connection>;

/// The set of running session tasks. Cheap to clone.
#[derive(Clone)]
pub struct LiveHub {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    media: Option<Arc<dyn MediaPlane>>,
    tokens: parley_grants::JoinTokens,
    sessions: Mutex<HashMap<i64, mpsc::Sender<Command>>>,
    /// Sessions whose task ended them: never started again in this process,
    /// even if storing the end failed (8 bytes per session ever ended).
    finished: Mutex<std::collections::HashSet<i64>>,
    next_connection: std::sync::atomic::AtomicU64,
}

/// What a session task needs to start.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    pub session_id: i64,
    pub kind: SessionKind,
    pub jurisdiction: Arc<Jurisdiction>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The media room's policy, from the session's policy decision.
    pub policy: RoomPolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("the session task has stopped; the session is over")]
    Gone,
    #[error("{}", .0.message)]
    Refused(Refused),
}

impl LiveHub {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        metrics: Metrics,
        media: Option<Arc<dyn MediaPlane>>,
        tokens: parley_grants::JoinTokens,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                metrics,
                media,
                tokens,
                sessions: Mutex::new(HashMap::new()),
                finished: Mutex::new(std::collections::HashSet::new()),
                next_connection: std::sync::atomic::AtomicU64::new(1),
            }),
        }
    }

    pub fn new_connection_id(&self) -> ConnectionId {
        self.inner
            .next_connection
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    fn sender(&self, session_id: i64) -> Option<mpsc::Sender<Command>> {
        self.inner
            .sessions
            .lock()
            .ok()
            .and_then(|m| m.get(&session_id).cloned())
    }

    fn sender_or_spawn(&self, spec: &SessionSpec) -> Option<mpsc::Sender<Command>> {
        let mut map = match self.inner.sessions.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(tx) = map.get(&spec.session_id).filter(|tx| !tx.is_closed()) {
            return Some(tx.clone());
        }
        if self
            .inner
            .finished
            .lock()
            .map_or(true, |f| f.contains(&spec.session_id))
        {
            return None;
        }
        let (tx, rx) = mpsc::channel(256);
        map.insert(spec.session_id, tx.clone());
        let state = LiveSession::new(
            spec.session_id,
            spec.kind,
            spec.jurisdiction.clone(),
            spec.starts_at,
            spec.ends_at,
        );
        let hub = self.clone();
        self.inner.metrics.live_sessions.inc();
        // Weak: the lane must not keep the session's channel open.
        let session = tx.downgrade();
        let answered: super::media_lane::Answered = Box::new(move |participant_id| {
            if let Some(tx) = session.upgrade() {
                let _ = tx.try_send(Command::MediaAnswered { participant_id });
            }
        });
        tokio::spawn(hub.run(spec.clone(), state, rx, answered));
        Some(tx)
    }

    /// Connects a participant, starting the session task if needed.
    #[allow(clippy::too_many_arguments)]
    pub async fn connect(
        &self,
        spec: &SessionSpec,
        participant_id: i64,
        connection: ConnectionId,
        name: String,
        role: Role,
        media: MediaGrant,
        outbox: mpsc::Sender<Outgoing>,
    ) -> Result<ParticipantState, HubError> {
        let (reply, answer) = oneshot::channel();
        self.sender_or_spawn(spec)
            .ok_or(HubError::Gone)?
            .send(Command::Connect {
                participant_id,
                connection,
                name,
                role,
                media,
                outbox,
                reply,
            })
            .await
            .map_err(|_| HubError::Gone)?;
        answer
            .await
            .map_err(|_| HubError::Gone)?
            .map_err(HubError::Refused)
    }

    pub async fn client(
        &self,
        session_id: i64,
        participant_id: i64,
        connection: ConnectionId,
        message: ClientMessage,
        id: Option<RequestId>,
    ) -> Result<(), HubError> {
        let tx = self.sender(session_id).ok_or(HubError::Gone)?;
        let (reply, answer) = oneshot::channel();
        tx.send(Command::Client {
            participant_id,
            connection,
            message,
            id,
            reply,
        })
        .await
        .map_err(|_| HubError::Gone)?;
        answer
            .await
            .map_err(|_| HubError::Gone)?
            .map_err(HubError::Refused)
    }

    pub async fn disconnect(&self, session_id: i64, participant_id: i64, connection: ConnectionId) {
        if let Some(tx) = self.sender(session_id) {
            let _ = tx
                .send(Command::Disconnect {
                    participant_id,
                    connection,
                })
                .await;
        }
    }

    /// Hands a media server's event to the session it concerns (its room),
    /// or to every live session for an event about the media server
    /// itself; an event for a session not live any more is dropped.
    pub async fn media_event(&self, event: MediaEvent) {
        let senders: Vec<_> = match event.room() {
            Some(room) => self.sender(room).into_iter().collect(),
            None => self
                .inner
                .sessions
                .lock()
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default(),
        };
        for tx in senders {
            let _ = tx.send(Command::Media(event.clone())).await;
        }
    }

    /// How each participant's connection to the media server fares in a
    /// live session; `None` without a media server or a live room.
    pub async fn connections(&self, session_id: i64) -> Option<Vec<parley_control::Downlink>> {
        let media = self.inner.media.as_ref()?;
        self.sender(session_id)?;
        media.downlinks(session_id).await.ok()
    }

    /// Ends a session on staff's order. With a live task the participants
    /// are told and disconnected; without one the store is updated directly.
    /// Either way the audit entry is written first.
    pub async fn end(
        &self,
        session_id: i64,
        jurisdiction: &str,
        actor: &str,
        reason: &str,
        status: SessionStatus,
    ) -> Result<(), sqlx::Error> {
        if let Some(tx) = self.sender(session_id) {
            let (reply, answer) = oneshot::channel();
            if tx
                .send(Command::End {
                    actor: actor.into(),
                    reason: reason.into(),
                    cancel: status == SessionStatus::Cancelled,
                    reply,
                })
                .await
                .is_ok()
            {
                match answer.await {
                    Ok(true) => return Ok(()),
                    Ok(false) => {
                        return Err(sqlx::Error::Protocol(
                            "the end could not be recorded in the audit log".into(),
                        ));
                    }
                    // The task stopped meanwhile: fall through to the store.
                    Err(_) => {}
                }
            }
        }
        let (action, rule) = match status {
            SessionStatus::Cancelled => ("session.cancel", "session/cancelled"),
            _ => ("session.terminate", "session/ended-by-staff"),
        };
        let record = AuditRecord::new(actor, action, status.as_str())
            .session(session_id)
            .rules([RuleId::of(jurisdiction, rule)])
            .details(serde_json::json!({"message": reason}));
        self.close_in_store(&record, session_id, status, reason, self.inner.clock.now())
            .await
    }

    /// Writes the audit entry and the session's final status in one
    /// transaction: the session is closed if and only if it was logged.
    async fn close_in_store(
        &self,
        record: &AuditRecord,
        session_id: i64,
        status: SessionStatus,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let written = async {
            let mut w = self.inner.store.write().await?;
            w.append_audit(record, at).await?;
            w.set_status(session_id, status, Some(reason)).await?;
            w.commit().await
        }
        .await;
        self.inner.metrics.audited(record.action.as_str(), written)
    }

    /// At startup: sessions whose end passed while the service was down are
    /// closed, with an audit entry saying so.
    pub async fn close_overdue(&self) {
        let now = self.inner.clock.now();
        let ids = match self.inner.store.read().overdue(now.timestamp()).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "cannot list overdue sessions");
                return;
            }
        };
        for id in ids {
            let record = AuditRecord::new("system", "session.terminate", "ScheduledEnd")
                .session(id)
                .rules([RuleId::core("session/scheduled-end-passed-while-down")])
                .details(serde_json::json!({"message": "the scheduled end passed while the service was stopped"}));
            let result = self
                .close_in_store(
                    &record,
                    id,
                    SessionStatus::Ended,
                    "The scheduled time for this session is over.",
                    now,
                )
                .await;
            if let Err(e) = result {
                tracing::error!(session = id, error = %e, "cannot close overdue session");
            }
        }
    }

    async fn run(
        self,
        spec: SessionSpec,
        mut state: LiveSession,
        mut rx: mpsc::Receiver<Command>,
        answered: super::media_lane::Answered,
    ) {
        let session_id = spec.session_id;
        let media = MediaLane::start(
            self.inner.media.clone(),
            self.inner.store.clone(),
            self.inner.metrics.clone(),
            spec.clone(),
            answered,
        );
        let mut task = Task {
            spec,
            connections: HashMap::new(),
            media,
            replying_to: None,
        };
        match self.recorded_decisions(session_id).await {
            Ok((booked, entries)) => {
                let effects = state.restore(&booked, &entries);
                self.apply(&mut task, effects).await;
            }
            Err(e) => {
                tracing::error!(session = session_id, error = %e, "cannot read the court's earlier decisions in this session; it goes on without them");
            }
        }
        loop {
            let now = self.inner.clock.now();
            let wait = (state.next_deadline() - now)
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(MAX_SLEEP);
            tokio::select! {
                command = rx.recv() => {
                    let Some(command) = command else { break };
                    self.handle(&mut state, &mut task, command).await;
                }
                _ = tokio::time::sleep(wait) => {
                    let before = state.clone();
                    let effects = state.tick(self.inner.clock.now());
                    if !self.apply(&mut task, effects).await {
                        state = before;
                    }
                }
            }
            if state.is_ended() {
                break;
            }
        }
        if state.is_ended()
            && let Ok(mut finished) = self.inner.finished.lock()
        {
            finished.insert(session_id);
        }
        if let Ok(mut map) = self.inner.sessions.lock() {
            map.remove(&session_id);
        }
        self.close_media(&task);
        self.inner.metrics.live_sessions.dec();
        // Answer commands that raced with the end.
        rx.close();
        while let Ok(command) = rx.try_recv() {
            match command {
                Command::Connect { reply, .. } => {
                    let _ = reply.send(Err(Refused {
                        code: parley_protocol::ErrorCode::SessionOver,
                        message: "this session is over".into(),
                    }));
                }
                Command::Client { reply, .. } => {
                    let _ = reply.send(Err(Refused {
                        code: parley_protocol::ErrorCode::SessionOver,
                        message: "this session is over".into(),
                    }));
                }
                Command::End { reply, .. } => {
                    let _ = reply.send(true);
                }
                Command::Disconnect { .. } | Command::Media(_) | Command::MediaAnswered { .. } => {}
            }
        }
    }

    async fn handle(&self, state: &mut LiveSession, task: &mut Task, command: Command) {
        // If an audit or store write fails, the decision did not happen:
        // the state goes back to what it was before the command.
        let before = state.clone();
        let now = self.inner.clock.now();
        match command {
            Command::Connect {
                participant_id,
                connection,
                name,
                role,
                media,
                outbox,
                reply,
            } => match state.connect(participant_id, &name, role, now) {
                Ok((participant_state, effects)) => {
                    let replaced = task.connections.insert(
                        participant_id,
                        Connection {
                            id: connection,
                            outbox,
                            media,
                        },
                    );
                    // Messages queue in the outbox; the socket sends `welcome`
                    // on this reply and only then drains the outbox.
                    let answer = if self.apply(task, effects).await {
                        if let Some(old) = replaced {
                            // The older device stops receiving at once.
                            self.remove_media(task, participant_id);
                            let _ = old.outbox.try_send(Outgoing::Message(
                                ServerMessage::Error {
                                    code: parley_protocol::ErrorCode::AlreadyJoined,
                                    message: "you joined from another window or device".into(),
                                },
                                None,
                            ));
                            let _ = old.outbox.try_send(Outgoing::Close(CloseCode::Replaced));
                        }
                        Ok(participant_state)
                    } else {
                        match replaced {
                            Some(old) => {
                                task.connections.insert(participant_id, old);
                            }
                            None => {
                                task.connections.remove(&participant_id);
                            }
                        }
                        *state = before;
                        Err(Refused {
                            code: parley_protocol::ErrorCode::Internal,
                            message: "the join could not be recorded; try again".into(),
                        })
                    };
                    let _ = reply.send(answer);
                }
                Err(refused) => {
                    let _ = reply.send(Err(refused));
                }
            },
            Command::Client {
                participant_id,
                connection,
                message,
                id,
                reply,
            } => {
                task.replying_to = id.map(|id| (participant_id, id));
                if task.connections.get(&participant_id).map(|c| c.id) != Some(connection) {
                    let _ = reply.send(Err(Refused {
                        code: parley_protocol::ErrorCode::NotJoined,
                        message: "this socket is no longer the participant's connection".into(),
                    }));
                    return;
                }
                match state.client(participant_id, message, now) {
                    Ok(effects) => {
                        let answer = if self.apply(task, effects).await {
                            Ok(())
                        } else {
                            *state = before;
                            Err(Refused {
                                code: parley_protocol::ErrorCode::Internal,
                                message: "the decision could not be recorded, so it was not carried out; try again".into(),
                            })
                        };
                        let _ = reply.send(answer);
                    }
                    Err(refused) => {
                        let _ = reply.send(Err(refused));
                    }
                }
                task.replying_to = None;
            }
            Command::Disconnect {
                participant_id,
                connection,
            } => {
                if task.connections.get(&participant_id).map(|c| c.id) == Some(connection) {
                    task.connections.remove(&participant_id);
                    self.remove_media(task, participant_id);
                    let effects = state.disconnect(participant_id);
                    self.apply(task, effects).await;
                }
            }
            Command::MediaAnswered { participant_id } => {
                let effects = state.media_answered(participant_id, self.inner.clock.now());
                self.apply(task, effects).await;
            }
            Command::Media(event) => {
                if event.room().is_none() {
                    // The media server's rooms and recordings are gone: the
                    // lane opens the room again at the next offer.
                    task.media.call(MediaCall::PlaneGone);
                }
                let effects = state.on_media(event, self.inner.clock.now());
                self.apply(task, effects).await;
            }
            Command::End {
                actor,
                reason,
                cancel,
                reply,
            } => {
                let effects = if cancel {
                    state.cancel(&actor, &reason)
                } else {
                    state.end_by_staff(&actor, &reason)
                };
                let done = self.apply(task, effects).await;
                if !done {
                    *state = before;
                }
                let _ = reply.send(done);
            }
        }
    }

    /// The session's booked participants and its audit entries, oldest
    /// first, for [`LiveSession::restore`].
    async fn recorded_decisions(
        &self,
        session_id: i64,
    ) -> Result<(Vec<Booked>, Vec<Recorded>), sqlx::Error> {
        /// Entries read per query.
        const PAGE: i64 = 500;
        let mut read = self.inner.store.read();
        let booked = read
            .session(session_id)
            .await?
            .map(|s| {
                s.participants
                    .into_iter()
                    .map(|p| Booked {
                        id: p.id,
                        name: p.name,
                        role: p.role,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut entries = Vec::new();
        let mut after = 0;
        loop {
            let page = read.audit_entries(Some(session_id), after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            let full = page.len() as i64 == PAGE;
            entries.extend(page.into_iter().map(|e| Recorded {
                action: e.action,
                decision: e.decision,
                details: e.details,
            }));
            if !full {
                break;
            }
        }
        Ok((booked, entries))
    }

    /// Carries out effects in order; stops at the first audit or store write
    /// that fails, so nothing unlogged takes effect. Returns whether every
    /// effect was carried out.
    async fn apply(&self, task: &mut Task, effects: Vec<Effect>) -> bool {
        let session_id = task.spec.session_id;
        for effect in effects {
            match effect {
                Effect::Audit(record) => {
                    if let Err(e) = self.append(&record).await {
                        tracing::error!(session = session_id, error = %e, "audit write failed; decision not carried out");
                        return false;
                    }
                }
                Effect::Send(to, message) => task.send(to, message),
                Effect::Close(to, code) => {
                    self.remove_media(task, to);
                    if let Some(c) = task.connections.remove(&to) {
                        let _ = c.outbox.try_send(Outgoing::Close(code));
                    }
                }
                Effect::MediaOffer {
                    participant_id,
                    sdp,
                    ends_at,
                    muted,
                    consultation,
                    protected_from,
                } => {
                    let standing = Standing {
                        muted,
                        consultation,
                        protected_from,
                    };
                    match self.media_request(task, participant_id, sdp, ends_at, standing) {
                        Ok((request, reply)) => task.media.call(MediaCall::Offer {
                            request,
                            reply,
                            participant_id,
                        }),
                        Err(message) => {
                            self.inner
                                .metrics
                                .ws_rejected
                                .with_label_values(&["MediaRefused"])
                                .inc();
                            task.send(
                                participant_id,
                                ServerMessage::Error {
                                    code: parley_protocol::ErrorCode::MediaRefused,
                                    message,
                                },
                            );
                        }
                    }
                }
                Effect::MediaMute {
                    participant_id,
                    media,
                    muted,
                } => {
                    let media = match media {
                        parley_protocol::MediaKind::Audio => parley_control::MediaKind::Audio,
                        parley_protocol::MediaKind::Video => parley_control::MediaKind::Video,
                    };
                    task.media.call(MediaCall::Mute {
                        member: participant_id,
                        media,
                        muted,
                    });
                }
                Effect::MediaHearing(change) => {
                    let concerned = change
                        .members()
                        .into_iter()
                        .map(|m| (m, task.connections.get(&m).map(|c| c.outbox.clone())))
                        .collect();
                    task.media.call(MediaCall::Hearing { change, concerned });
                }
                Effect::PersistEnd(ends_at) => {
                    if let Err(e) = self.persist(session_id, Persist::End(ends_at)).await {
                        tracing::error!(session = session_id, error = %e, "cannot store new end");
                        return false;
                    }
                }
                Effect::PersistLive => {
                    if let Err(e) = self.persist(session_id, Persist::Live).await {
                        tracing::error!(session = session_id, error = %e, "cannot mark session live");
                    }
                }
                Effect::Finish(reason) => {
                    self.close_media(task);
                    if let Err(e) = self.persist(session_id, Persist::Ended(reason)).await {
                        tracing::error!(session = session_id, error = %e, "cannot mark session ended");
                    }
                }
                Effect::Cancelled(reason) => {
                    self.close_media(task);
                    if let Err(e) = self.persist(session_id, Persist::Cancelled(reason)).await {
                        tracing::error!(session = session_id, error = %e, "cannot mark session cancelled");
                    }
                }
                Effect::PersistCredit(seconds) => {
                    if let Err(e) = self.persist(session_id, Persist::Credit(seconds)).await {
                        tracing::error!(session = session_id, error = %e, "cannot store the visit credit; nobody is told of it");
                        return false;
                    }
                }
                Effect::PersistRemoval(participant_id) => {
                    if let Err(e) = self
                        .persist(session_id, Persist::Removal(participant_id))
                        .await
                    {
                        tracing::error!(session = session_id, error = %e, "cannot store removal; not carried out");
                        return false;
                    }
                }
            }
        }
        true
    }

    /// The participant's join for the media server: their offer and a
    /// fresh media token that expires at the current end (so that a
    /// hearing the judge extended keeps its media), and where the answer
    /// goes; or why there is none.
    fn media_request(
        &self,
        task: &Task,
        participant_id: i64,
        sdp: String,
        ends_at: DateTime<Utc>,
        standing: Standing,
    ) -> Result<(JoinRequest, ReplyTo), String> {
        let connection = task
            .connections
            .get(&participant_id)
            .ok_or_else(|| "not connected".to_string())?;
        let grant = &connection.media;
        let room = task.spec.session_id;
        let now = self.inner.clock.now();
        let token = self
            .inner
            .tokens
            .issue(
                &parley_grants::JoinGrant {
                    session_id: room,
                    participant_id,
                    role: grant.role,
                    kind: task.spec.kind,
                    not_before: now - chrono::Duration::minutes(1),
                    expires_at: ends_at,
                },
                now,
            )
            .map_err(|e| format!("cannot issue the media token: {e}"))?;
        let request = JoinRequest {
            room,
            token,
            offer: sdp,
            receive_slots: grant.receive_slots,
            standing,
        };
        let id = match &task.replying_to {
            Some((requester, id)) if *requester == participant_id => Some(id.clone()),
            _ => None,
        };
        let reply = ReplyTo {
            outbox: connection.outbox.clone(),
            id,
        };
        Ok((request, reply))
    }

    /// Stops forwarding to and from a participant (removal, leave, socket
    /// closed).
    fn remove_media(&self, task: &Task, participant_id: i64) {
        task.media.call(MediaCall::Remove(participant_id));
    }

    /// Closes the media room: every peer connection of the session ends.
    fn close_media(&self, task: &Task) {
        task.media.call(MediaCall::Close);
    }

    async fn append(&self, record: &AuditRecord) -> Result<(), sqlx::Error> {
        let written = async {
            let mut w = self.inner.store.write().await?;
            w.append_audit(record, self.inner.clock.now()).await?;
            w.commit().await
        }
        .await;
        self.inner.metrics.audited(record.action.as_str(), written)
    }

    async fn persist(&self, session_id: i64, what: Persist) -> Result<(), sqlx::Error> {
        let mut w = self.inner.store.write().await?;
        match what {
            Persist::End(at) => w.set_end(session_id, at.timestamp()).await?,
            Persist::Credit(seconds) => {
                w.credit_visit(
                    session_id,
                    i64::from(seconds),
                    self.inner.clock.now().timestamp(),
                )
                .await?
            }
            Persist::Live => {
                // The start is an event for case systems (webhooks read the
                // audit log): logged with the change, in its transaction.
                let record = AuditRecord::new("system", "session.live", "started")
                    .session(session_id)
                    .rules([RuleId::core("session/went-live")]);
                let appended = w.append_audit(&record, self.inner.clock.now()).await;
                self.inner.metrics.audited("session.live", appended)?;
                w.mark_live(session_id).await?
            }
            Persist::Removal(participant_id) => {
                w.mark_removed(participant_id, self.inner.clock.now().timestamp())
                    .await?
            }
            Persist::Cancelled(reason) => {
                w.set_status(session_id, SessionStatus::Cancelled, Some(&reason))
                    .await?
            }
            Persist::Ended(reason) => {
                w.set_status(session_id, SessionStatus::Ended, Some(&reason))
                    .await?
            }
        }
        w.commit().await
    }
}

/// What one session task keeps besides the pure state.
struct Task {
    spec: SessionSpec,
    connections: Connections,
    /// The session's calls to the media server, carried out on their own
    /// task.
    media: MediaLane,
    /// The participant whose request is being handled, and its id: replies
    /// to them carry it.
    replying_to: Option<(i64, RequestId)>,
}

impl Task {
    /// Queues a message; a socket whose queue is full is too slow and is
    /// cut off (its socket closes, then its disconnect arrives as usual).
    /// A reply (`answer`, `pong`, `error`) to the request being handled
    /// carries that request's id.
    fn send(&mut self, to: i64, message: ServerMessage) {
        let id = match (&self.replying_to, &message) {
            (
                Some((requester, id)),
                ServerMessage::Answer { .. } | ServerMessage::Pong | ServerMessage::Error { .. },
            ) if *requester == to => Some(id.clone()),
            _ => None,
        };
        if let Some(c) = self.connections.get_mut(&to)
            && let Err(mpsc::error::TrySendError::Full(_)) =
                c.outbox.try_send(Outgoing::Message(message, id))
        {
            tracing::warn!(
                participant = to,
                "client too slow to read; closing its socket"
            );
            let (closed, _) = mpsc::channel(1);
            c.outbox = closed;
        }
    }
}

enum Persist {
    End(DateTime<Utc>),
    Credit(u32),
    Live,
    Ended(String),
    Cancelled(String),
    Removal(i64),
}
