//! A caller of a remote SFU's control API (signaling, when the SFU runs as
//! its own process).

use super::{ErrorBody, EventsReply, JoinBody, JoinReply, MuteBody, RoomPolicyBody};
use crate::engine::{Muted, RoomId};

/// What a court decided about a member that holds from their first packet:
/// mutes, consultation, witness protection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    pub muted: Muted,
    pub consultation: Option<u32>,
    pub protected_from: Option<Vec<i64>>,
}
use crate::room::{MediaKind, RoomPolicy};
use std::time::Duration;

/// How long a control call may take before it counts as failed (event
/// polls wait up to 20 s on the server, so they get longer).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The SFU answered and said no.
    #[error("the media server refused ({code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("cannot reach the media server at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("the media server at {url} answered something unexpected: {message}")]
    BadReply { url: String, message: String },
}

impl ControlError {
    /// The refusal code ([`crate::engine::SfuError::code`]), if the SFU
    /// refused.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A remote SFU, by the base URL of its control API.
#[derive(Debug, Clone)]
pub struct RemoteSfu {
    base: String,
    secret: String,
    http: reqwest::Client,
}

impl RemoteSfu {
    /// `base`: e.g. `http://10.0.0.5:7801`; `secret`: the bearer secret
    /// ([`parley_grants::control_secret`] of the shared join-token key).
    pub fn new(base: &str, secret: String) -> Result<Self, ControlError> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ControlError::Unreachable {
                url: base,
                message: "the control URL must start with http:// or https://".into(),
            });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| ControlError::Unreachable {
                url: base.clone(),
                message: e.to_string(),
            })?;
        Ok(Self { base, secret, http })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    pub async fn open_room(&self, room: RoomId, policy: RoomPolicy) -> Result<(), ControlError> {
        let body = RoomPolicyBody::from(policy);
        self.send(
            self.http
                .put(format!("{}/v1/rooms/{room}", self.base))
                .json(&body),
            CALL_TIMEOUT,
        )
        .await
        .map(drop)
    }

    pub async fn join(
        &self,
        room: RoomId,
        token: String,
        offer: String,
        receive_slots: usize,
        standing: Standing,
    ) -> Result<JoinReply, ControlError> {
        let body = JoinBody {
            token,
            offer,
            receive_slots,
            muted_audio: standing.muted.audio,
            muted_video: standing.muted.video,
            consultation: standing.consultation,
            protected_from: standing.protected_from,
        };
        let response = self
            .send(
                self.http
                    .post(format!("{}/v1/rooms/{room}/joins", self.base))
                    .json(&body),
                CALL_TIMEOUT,
            )
            .await?;
        self.decode(response).await
    }

    pub async fn remove(&self, room: RoomId, member: i64) -> Result<(), ControlError> {
        self.send(
            self.http
                .delete(format!("{}/v1/rooms/{room}/members/{member}", self.base)),
            CALL_TIMEOUT,
        )
        .await
        .map(drop)
    }

    pub async fn set_muted(
        &self,
        room: RoomId,
        member: i64,
        media: MediaKind,
        muted: bool,
    ) -> Result<(), ControlError> {
        let body = MuteBody {
            media: media.into(),
            muted,
        };
        self.send(
            self.http
                .put(format!(
                    "{}/v1/rooms/{room}/members/{member}/mute",
                    self.base
                ))
                .json(&body),
            CALL_TIMEOUT,
        )
        .await
        .map(drop)
    }

    pub async fn change_hearing(
        &self,
        room: RoomId,
        change: &crate::engine::HearingChange,
    ) -> Result<(), ControlError> {
        self.send(
            self.http
                .post(format!("{}/v1/rooms/{room}/hearing", self.base))
                .json(change),
            CALL_TIMEOUT,
        )
        .await
        .map(drop)
    }

    pub async fn close_room(&self, room: RoomId) -> Result<(), ControlError> {
        self.send(
            self.http.delete(format!("{}/v1/rooms/{room}", self.base)),
            CALL_TIMEOUT,
        )
        .await
        .map(drop)
    }

    /// Each member's downlink in `room`.
    pub async fn downlinks(&self, room: RoomId) -> Result<Vec<super::DownlinkBody>, ControlError> {
        let response = self
            .send(
                self.http
                    .get(format!("{}/v1/rooms/{room}/downlinks", self.base)),
                CALL_TIMEOUT,
            )
            .await?;
        self.decode(response).await
    }

    /// Events after `after`, waiting up to 20 s for one; `None` answers at
    /// once with the current position (`next`) and no events.
    pub async fn events(&self, after: Option<u64>) -> Result<EventsReply, ControlError> {
        let mut request = self.http.get(format!("{}/v1/events", self.base));
        if let Some(after) = after {
            request = request.query(&[("after", after)]);
        }
        let response = self.send(request, POLL_TIMEOUT).await?;
        self.decode(response).await
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<reqwest::Response, ControlError> {
        let response = request
            .bearer_auth(&self.secret)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| ControlError::Unreachable {
                url: self.base.clone(),
                message: e.to_string(),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body: Result<ErrorBody, _> = response.json().await;
        Err(match body {
            Ok(b) => ControlError::Refused {
                status: status.as_u16(),
                code: b.code,
                message: b.message,
            },
            Err(e) => ControlError::BadReply {
                url: self.base.clone(),
                message: format!("status {status} without an error body: {e}"),
            },
        })
    }

    async fn decode<T: serde::de::DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, ControlError> {
        response.json().await.map_err(|e| ControlError::BadReply {
            url: self.base.clone(),
            message: e.to_string(),
        })
    }
}
