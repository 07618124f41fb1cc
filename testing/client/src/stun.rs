//! STUN binding requests as an ICE agent sends them, for tests that speak
//! to the SFU's media port directly.

use rtc::stun::fingerprint::FINGERPRINT;
use rtc::stun::integrity::MessageIntegrity;
use rtc::stun::message::{BINDING_REQUEST, Message, TransactionId};
use rtc::stun::textattrs::Username;

/// A binding request with USERNAME `username` (`<their ufrag>:<ours>`),
/// MESSAGE-INTEGRITY under `password` and a FINGERPRINT (RFC 8445 §7.2.2).
/// With the receiver's real password it is a consent check; with another,
/// a forgery.
pub fn binding_request(username: &str, password: &str) -> Vec<u8> {
    let provider = rtc::crypto::default_provider().expect("rtc's crypto provider");
    let mut m = Message::new();
    m.build(&[
        Box::new(BINDING_REQUEST),
        Box::new(TransactionId::new()),
        Box::new(Username::new(
            rtc::stun::attributes::ATTR_USERNAME,
            username.to_owned(),
        )),
        Box::new(MessageIntegrity::new_short_term_integrity_with_provider(
            password.to_owned(),
            provider.crypto(),
        )),
        Box::new(FINGERPRINT),
    ])
    .expect("a binding request builds");
    m.raw
}
