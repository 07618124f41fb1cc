//! One tokio task per live session drives its [`LiveSession`]: it receives
//! connections and client messages, wakes at the session's deadlines, and
//! carries out the effects (audit first, then messages and persistence).

use super::state::{Effect, LiveSession, Refused};
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::model::SessionStatus;
use crate::store::audit::{self, AuditRecord};
use crate::store::{Store, sessions};
use chrono::{DateTime, Utc};
use parley_policy::{Jurisdiction, Role, RuleId, SessionKind};
use parley_protocol::{ClientMessage, ParticipantState, ServerMessage};
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
    Message(ServerMessage),
    Close,
}

/// Identifies one socket, so a stale socket's close does not disconnect the
/// participant's newer one.
pub type ConnectionId = u64;

enum Command {
    Connect {
        participant_id: i64,
        connection: ConnectionId,
        name: String,
        role: Role,
        outbox: mpsc::UnboundedSender<Outgoing>,
        reply: oneshot::Sender<Result<ParticipantState, Refused>>,
    },
    Client {
        participant_id: i64,
        connection: ConnectionId,
        message: ClientMessage,
        reply: oneshot::Sender<Result<(), Refused>>,
    },
    Disconnect {
        participant_id: i64,
        connection: ConnectionId,
    },
    End {
        actor: String,
        reason: String,
        cancel: bool,
        /// Whether the end was recorded and carried out.
        reply: oneshot::Sender<bool>,
    },
}

/// The set of running session tasks. Cheap to clone.
#[derive(Clone)]
pub struct LiveHub {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    sessions: Mutex<HashMap<i64, mpsc::Sender<Command>>>,
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
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("the session task has stopped; the session is over")]
    Gone,
    #[error("{}", .0.message)]
    Refused(Refused),
}

impl LiveHub {
    pub fn new(store: Store, clock: Arc<dyn Clock>, metrics: Metrics) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                metrics,
                sessions: Mutex::new(HashMap::new()),
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

    fn sender_or_spawn(&self, spec: &SessionSpec) -> mpsc::Sender<Command> {
        let mut map = match self.inner.sessions.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(tx) = map.get(&spec.session_id).filter(|tx| !tx.is_closed()) {
            return tx.clone();
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
        tokio::spawn(hub.run(spec.session_id, state, rx));
        tx
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
        outbox: mpsc::UnboundedSender<Outgoing>,
    ) -> Result<ParticipantState, HubError> {
        let (reply, answer) = oneshot::channel();
        self.sender_or_spawn(spec)
            .send(Command::Connect {
                participant_id,
                connection,
                name,
                role,
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
    ) -> Result<(), HubError> {
        let tx = self.sender(session_id).ok_or(HubError::Gone)?;
        let (reply, answer) = oneshot::channel();
        tx.send(Command::Client {
            participant_id,
            connection,
            message,
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
        let mut w = self.inner.store.write().await?;
        audit::append(&mut w.tx, &record, self.inner.clock.now()).await?;
        sessions::set_status(&mut w.tx, session_id, status, Some(reason)).await?;
        w.commit().await?;
        self.inner
            .metrics
            .audit_entries
            .with_label_values(&[action])
            .inc();
        Ok(())
    }

    /// At startup: sessions whose end passed while the service was down are
    /// closed, with an audit entry saying so.
    pub async fn close_overdue(&self) {
        let now = self.inner.clock.now();
        let ids = match sessions::overdue(self.inner.store.pool(), now.timestamp()).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "cannot list overdue sessions");
                return;
            }
        };
        for id in ids {
            let result = async {
                let mut w = self.inner.store.write().await?;
                let record = AuditRecord::new("system", "session.terminate", "ScheduledEnd")
                    .session(id)
                    .rules([RuleId::core("session/scheduled-end-passed-while-down")])
                    .details(serde_json::json!({"message": "the scheduled end passed while the service was stopped"}));
                audit::append(&mut w.tx, &record, now).await?;
                self.inner
                    .metrics
                    .audit_entries
                    .with_label_values(&[record.action.as_str()])
                    .inc();
                sessions::set_status(
                    &mut w.tx,
                    id,
                    SessionStatus::Ended,
                    Some("The scheduled time for this session is over."),
                )
                .await?;
                w.commit().await
            }
            .await;
            if let Err(e) = result {
                tracing::error!(session = id, error = %e, "cannot close overdue session");
            }
        }
    }

    async fn run(self, session_id: i64, mut state: LiveSession, mut rx: mpsc::Receiver<Command>) {
        let mut outboxes: HashMap<i64, (ConnectionId, mpsc::UnboundedSender<Outgoing>)> =
            HashMap::new();
        loop {
            let now = self.inner.clock.now();
            let wait = (state.next_deadline() - now)
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(MAX_SLEEP);
            tokio::select! {
                command = rx.recv() => {
                    let Some(command) = command else { break };
                    self.handle(&mut state, &mut outboxes, command).await;
                }
                _ = tokio::time::sleep(wait) => {
                    let before = state.clone();
                    let effects = state.tick(self.inner.clock.now());
                    if !self.apply(session_id, &mut outboxes, effects).await {
                        state = before;
                    }
                }
            }
            if state.is_ended() {
                break;
            }
        }
        if let Ok(mut map) = self.inner.sessions.lock() {
            map.remove(&session_id);
        }
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
                Command::Disconnect { .. } => {}
            }
        }
    }

    async fn handle(
        &self,
        state: &mut LiveSession,
        outboxes: &mut HashMap<i64, (ConnectionId, mpsc::UnboundedSender<Outgoing>)>,
        command: Command,
    ) {
        let session_id = state.session_id();
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
                outbox,
                reply,
            } => match state.connect(participant_id, &name, role, now) {
                Ok((participant_state, effects)) => {
                    let replaced = outboxes.insert(participant_id, (connection, outbox));
                    // Messages queue in the outbox; the socket sends `welcome`
                    // on this reply and only then drains the outbox.
                    let answer = if self.apply(session_id, outboxes, effects).await {
                        if let Some((_, old)) = replaced {
                            let _ = old.send(Outgoing::Message(ServerMessage::Error {
                                code: parley_protocol::ErrorCode::AlreadyJoined,
                                message: "you joined from another window or device".into(),
                            }));
                            let _ = old.send(Outgoing::Close);
                        }
                        Ok(participant_state)
                    } else {
                        match replaced {
                            Some(old) => {
                                outboxes.insert(participant_id, old);
                            }
                            None => {
                                outboxes.remove(&participant_id);
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
                reply,
            } => {
                if outboxes.get(&participant_id).map(|(c, _)| *c) != Some(connection) {
                    let _ = reply.send(Err(Refused {
                        code: parley_protocol::ErrorCode::NotJoined,
                        message: "this socket is no longer the participant's connection".into(),
                    }));
                    return;
                }
                match state.client(participant_id, message, now) {
                    Ok(effects) => {
                        let answer = if self.apply(session_id, outboxes, effects).await {
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
            }
            Command::Disconnect {
                participant_id,
                connection,
            } => {
                if outboxes.get(&participant_id).map(|(c, _)| *c) == Some(connection) {
                    outboxes.remove(&participant_id);
                    let effects = state.disconnect(participant_id);
                    self.apply(session_id, outboxes, effects).await;
                }
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
                let done = self.apply(session_id, outboxes, effects).await;
                if !done {
                    *state = before;
                }
                let _ = reply.send(done);
            }
        }
    }

    /// Carries out effects in order; stops at the first audit or store write
    /// that fails, so nothing unlogged takes effect. Returns whether every
    /// effect was carried out.
    async fn apply(
        &self,
        session_id: i64,
        outboxes: &mut HashMap<i64, (ConnectionId, mpsc::UnboundedSender<Outgoing>)>,
        effects: Vec<Effect>,
    ) -> bool {
        for effect in effects {
            match effect {
                Effect::Audit(record) => {
                    if let Err(e) = self.append(&record).await {
                        tracing::error!(session = session_id, error = %e, "audit write failed; decision not carried out");
                        return false;
                    }
                }
                Effect::Send(to, message) => {
                    if let Some((_, tx)) = outboxes.get(&to) {
                        let _ = tx.send(Outgoing::Message(message));
                    }
                }
                Effect::Close(to) => {
                    if let Some((_, tx)) = outboxes.remove(&to) {
                        let _ = tx.send(Outgoing::Close);
                    }
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
                    if let Err(e) = self.persist(session_id, Persist::Ended(reason)).await {
                        tracing::error!(session = session_id, error = %e, "cannot mark session ended");
                    }
                }
                Effect::Cancelled(reason) => {
                    if let Err(e) = self.persist(session_id, Persist::Cancelled(reason)).await {
                        tracing::error!(session = session_id, error = %e, "cannot mark session cancelled");
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

    async fn append(&self, record: &AuditRecord) -> Result<(), sqlx::Error> {
        let mut w = self.inner.store.write().await?;
        audit::append(&mut w.tx, record, self.inner.clock.now()).await?;
        w.commit().await?;
        self.inner
            .metrics
            .audit_entries
            .with_label_values(&[record.action.as_str()])
            .inc();
        Ok(())
    }

    async fn persist(&self, session_id: i64, what: Persist) -> Result<(), sqlx::Error> {
        let mut w = self.inner.store.write().await?;
        match what {
            Persist::End(at) => sessions::set_end(&mut w.tx, session_id, at.timestamp()).await?,
            Persist::Live => sessions::mark_live(&mut w.tx, session_id).await?,
            Persist::Removal(participant_id) => {
                sessions::mark_removed(
                    &mut w.tx,
                    participant_id,
                    self.inner.clock.now().timestamp(),
                )
                .await?
            }
            Persist::Cancelled(reason) => {
                sessions::set_status(
                    &mut w.tx,
                    session_id,
                    SessionStatus::Cancelled,
                    Some(&reason),
                )
                .await?
            }
            Persist::Ended(reason) => {
                sessions::set_status(&mut w.tx, session_id, SessionStatus::Ended, Some(&reason))
                    .await?
            }
        }
        w.commit().await
    }
}

enum Persist {
    End(DateTime<Utc>),
    Live,
    Ended(String),
    Cancelled(String),
    Removal(i64),
}
