//! Join tokens (invariant 2): short-lived HS256 JWTs scoped to one session,
//! one participant and one role. The signaling service issues them only
//! inside the session's join window; the signaling WebSocket and the SFU both
//! verify them with the same key.
//!
//! A token is valid from `nbf` (the join window opening) until `exp` (the
//! scheduled end), with a bounded clock-skew leeway on both ends.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use parley_policy::{Role, SessionKind};
use serde::{Deserialize, Serialize};

/// Issuer and audience written into every join token.
pub const ISSUER: &str = "parley-signaling";
pub const AUDIENCE: &str = "parley-session";

/// Bytes of a signing key.
pub const KEY_BYTES: usize = 32;

/// Largest accepted clock skew between issuer and verifier, in seconds.
pub const MAX_LEEWAY_SECONDS: u64 = 300;

/// The bearer secret of an SFU's control API, derived from the join-token
/// key both signaling and the SFU hold: SHA-256 over a fixed label and the
/// key, in hex (64 characters). One key to distribute, and the secret
/// never equals the key itself.
pub fn control_secret(key: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(b"parley sfu control v1\0");
    hash.update(key);
    hex::encode(hash.finalize())
}

/// Compares two secrets in time independent of where they differ.
pub fn secrets_match(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The claims of a join token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinClaims {
    pub iss: String,
    pub aud: String,
    /// Participant id, as a decimal string.
    pub sub: String,
    /// Session id.
    pub sid: i64,
    pub role: Role,
    pub kind: SessionKind,
    /// Not before: the join window opens (Unix seconds).
    pub nbf: i64,
    /// Expiry: the scheduled end (Unix seconds).
    pub exp: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Unique token id, for the audit log.
    pub jti: String,
}

impl JoinClaims {
    /// The participant id this token is for.
    pub fn participant_id(&self) -> Result<i64, GrantError> {
        self.sub
            .parse()
            .map_err(|_| GrantError::Invalid("subject is not a participant id".into()))
    }
}

/// What to put in a new token.
#[derive(Debug, Clone)]
pub struct JoinGrant {
    pub session_id: i64,
    pub participant_id: i64,
    pub role: Role,
    pub kind: SessionKind,
    pub not_before: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum GrantError {
    #[error("signing key must be exactly {KEY_BYTES} bytes, got {0}")]
    KeyLength(usize),
    #[error("the token has expired; ask for a new join link")]
    Expired,
    #[error("the token is not valid yet; the session's join window has not opened")]
    NotYetValid,
    #[error("the token is for session {token}, not session {wanted}")]
    WrongSession { token: i64, wanted: i64 },
    #[error("the token's window is empty: it would expire before it becomes valid")]
    EmptyWindow,
    #[error("the token is not valid: {0}")]
    Invalid(String),
}

/// Signs and verifies join tokens with one symmetric key.
#[derive(Clone)]
pub struct JoinTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    leeway_seconds: u64,
}

impl std::fmt::Debug for JoinTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinTokens")
            .field("leeway_seconds", &self.leeway_seconds)
            .finish_non_exhaustive()
    }
}

impl JoinTokens {
    /// `leeway_seconds` is clamped to [`MAX_LEEWAY_SECONDS`].
    pub fn new(key: &[u8], leeway_seconds: u64) -> Result<Self, GrantError> {
        if key.len() != KEY_BYTES {
            return Err(GrantError::KeyLength(key.len()));
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            leeway_seconds: leeway_seconds.min(MAX_LEEWAY_SECONDS),
        })
    }

    /// A fresh random signing key.
    pub fn generate_key() -> [u8; KEY_BYTES] {
        rand::random()
    }

    /// Signs a token for `grant`, issued at `now`.
    pub fn issue(&self, grant: &JoinGrant, now: DateTime<Utc>) -> Result<String, GrantError> {
        if grant.expires_at <= grant.not_before {
            return Err(GrantError::EmptyWindow);
        }
        let claims = JoinClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: grant.participant_id.to_string(),
            sid: grant.session_id,
            role: grant.role,
            kind: grant.kind,
            nbf: grant.not_before.timestamp(),
            exp: grant.expires_at.timestamp(),
            iat: now.timestamp(),
            jti: hex::encode(rand::random::<[u8; 12]>()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| GrantError::Invalid(e.to_string()))
    }

    /// Verifies signature, issuer, audience and algorithm, then the time
    /// window against `now` (with leeway) and that the token is for
    /// `session_id`. Time is checked here rather than by the JWT library so
    /// that callers own the clock.
    pub fn verify(
        &self,
        token: &str,
        session_id: i64,
        now: DateTime<Utc>,
    ) -> Result<JoinClaims, GrantError> {
        self.verify_until(token, session_id, now, 0)
    }

    /// [`JoinTokens::verify`] for what a participant may still do after the
    /// session: the token stays good for `after_end_seconds` past its
    /// expiry (asking for a review of how it ended, reading the outcome),
    /// never for joining.
    pub fn verify_after_end(
        &self,
        token: &str,
        session_id: i64,
        now: DateTime<Utc>,
        after_end_seconds: i64,
    ) -> Result<JoinClaims, GrantError> {
        self.verify_until(token, session_id, now, after_end_seconds.max(0))
    }

    fn verify_until(
        &self,
        token: &str,
        session_id: i64,
        now: DateTime<Utc>,
        after_end_seconds: i64,
    ) -> Result<JoinClaims, GrantError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<JoinClaims>(token, &self.decoding, &validation)
            .map_err(|e| GrantError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let leeway = i64::try_from(self.leeway_seconds).unwrap_or(0);
        let t = now.timestamp();
        if t >= claims
            .exp
            .saturating_add(leeway)
            .saturating_add(after_end_seconds)
        {
            return Err(GrantError::Expired);
        }
        if t < claims.nbf.saturating_sub(leeway) {
            return Err(GrantError::NotYetValid);
        }
        if claims.sid != session_id {
            return Err(GrantError::WrongSession {
                token: claims.sid,
                wanted: session_id,
            });
        }
        claims.participant_id()?;
        Ok(claims)
    }
}

#[cfg(test)]
mod tests;
