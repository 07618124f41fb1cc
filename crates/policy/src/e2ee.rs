//! End-to-end encryption of privileged media (`[e2ee]` in a jurisdiction
//! file): whether the participants' clients encrypt a legal visit's or a
//! consultation's media with SFrame (RFC 9605) under keys only they hold.
//!
//! The server relays the participants' public keys and their wrapped
//! sender keys and can read neither the keys nor the media; see
//! docs/security.md, "End-to-end encryption".

use serde::{Deserialize, Serialize};

use crate::SessionKind;

/// What a jurisdiction asks of privileged sessions' media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum E2eeMode {
    /// Media is protected by DTLS-SRTP to and from the SFU only.
    #[default]
    Off,
    /// Clients encrypt end to end while every participant's client can; a
    /// client that cannot makes the session fall back to SRTP, shown to all.
    Offered,
    /// Clients always encrypt end to end; a browser that cannot is refused
    /// media, and media that arrives unencrypted is not shown.
    Required,
}

impl E2eeMode {
    /// The snake_case name used in files and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            E2eeMode::Off => "off",
            E2eeMode::Offered => "offered",
            E2eeMode::Required => "required",
        }
    }

    /// The mode for a session of `kind` under a jurisdiction whose
    /// privileged sessions get `privileged`: off for every kind that is not
    /// privileged (their media may be recorded or monitored).
    pub fn for_kind(privileged: E2eeMode, kind: SessionKind) -> E2eeMode {
        if kind.is_privileged() {
            privileged
        } else {
            E2eeMode::Off
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_privileged_kinds_are_encrypted_end_to_end() {
        for kind in SessionKind::ALL {
            let mode = E2eeMode::for_kind(E2eeMode::Required, kind);
            assert_eq!(mode == E2eeMode::Required, kind.is_privileged(), "{kind}");
            assert_eq!(E2eeMode::for_kind(E2eeMode::Off, kind), E2eeMode::Off);
        }
    }
}
