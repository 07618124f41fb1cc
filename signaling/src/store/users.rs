//! API users and their bearer tokens. Only a SHA-256 of each token is
//! stored; the token itself is shown once, when the user is created.

use crate::model::{ApiUser, CallerRole};
use sha2::{Digest, Sha256};

/// Prefix of every API token, so that leaked tokens are easy to search for.
pub const TOKEN_PREFIX: &str = "pk_";

pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()))
}

pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Reading API users.
#[async_trait::async_trait]
pub trait UserReads: Send {
    /// The user holding this bearer token (compared by digest).
    async fn user_by_token(&mut self, token: &str) -> Result<Option<ApiUser>, sqlx::Error>;
    async fn any_admin(&mut self) -> Result<bool, sqlx::Error>;
    async fn users(&mut self) -> Result<Vec<ApiUser>, sqlx::Error>;
}

/// Adding API users, inside a write transaction.
#[async_trait::async_trait]
pub trait UserWrites: UserReads {
    /// `now`: Unix seconds.
    #[allow(clippy::too_many_arguments)]
    async fn insert_user(
        &mut self,
        name: &str,
        role: CallerRole,
        facility_id: Option<i64>,
        contact_id: Option<i64>,
        token: &str,
        now: i64,
    ) -> Result<ApiUser, sqlx::Error>;
}
