//! Signing a delivery: `Parley-Signature: t=<unix seconds>,v1=<hex>` where
//! `v1` is HMAC-SHA256 over `"<t>.<body>"` with the webhook's secret. The
//! receiver recomputes it, compares in constant time, and refuses a `t`
//! far from its clock (a replayed delivery).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const HEADER: &str = "parley-signature";

/// Bytes of a new webhook secret (shown once, hex-encoded).
pub const SECRET_BYTES: usize = 32;

/// The header value for `body` sent at `unix_seconds` with `secret`.
pub fn sign(secret: &[u8], unix_seconds: i64, body: &[u8]) -> String {
    format!(
        "t={unix_seconds},v1={}",
        hex::encode(mac(secret, unix_seconds, body))
    )
}

fn mac(secret: &[u8], unix_seconds: i64, body: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(unix_seconds.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

/// A fresh random secret, hex.
pub fn new_secret() -> String {
    hex::encode(rand::random::<[u8; SECRET_BYTES]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The MAC is RFC 4231's HMAC-SHA256 (its test case 2), and the header
    /// is that MAC over `t.body`.
    #[test]
    fn the_mac_is_hmac_sha256_and_the_framing_is_t_dot_body() {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(m.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let header = sign(b"key", 1_700_000_000, b"{}");
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(b"key").unwrap();
        m.update(b"1700000000.{}");
        assert_eq!(
            header,
            format!("t=1700000000,v1={}", hex::encode(m.finalize().into_bytes()))
        );
    }

    #[test]
    fn another_secret_time_or_body_signs_differently() {
        let base = sign(b"k", 1, b"body");
        assert_ne!(base, sign(b"K", 1, b"body"));
        assert_ne!(base, sign(b"k", 2, b"body"));
        assert_ne!(base, sign(b"k", 1, b"bodY"));
        assert_eq!(new_secret().len(), SECRET_BYTES * 2);
        assert_ne!(new_secret(), new_secret());
    }
}
