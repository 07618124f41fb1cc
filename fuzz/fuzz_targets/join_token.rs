//! Join tokens as the SFU and signaling check them
//! (`parley_grants::JoinTokens::verify`): refused, or accepted only when
//! made with the key, for this session, inside its time window.
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use parley_grants::JoinTokens;
use std::sync::OnceLock;

/// The session the tokens are checked for.
const SESSION: i64 = 1;

static TOKENS: OnceLock<JoinTokens> = OnceLock::new();

fuzz_target!(|token: &str| {
    let tokens = TOKENS.get_or_init(|| {
        JoinTokens::new(&[7u8; parley_grants::KEY_BYTES], 5).expect("a 32-byte key")
    });
    // A fixed clock, so that a token is judged the same way on every run.
    let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("a time");
    if let Ok(claims) = tokens.verify(token, SESSION, now) {
        assert_eq!(claims.sid, SESSION);
        assert!(claims.participant_id().is_ok());
        assert!(now.timestamp() < claims.exp.saturating_add(5));
        assert!(now.timestamp() >= claims.nbf.saturating_sub(5));
    }
});
