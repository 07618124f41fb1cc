//! SDP offers handed to the SFU as a join of a live room: refused with a
//! reason, or answered; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_fuzz::LiveCall;
use std::sync::{Mutex, OnceLock};

static CALL: OnceLock<Mutex<LiveCall>> = OnceLock::new();

fuzz_target!(|offer: &str| {
    let call = CALL.get_or_init(|| Mutex::new(LiveCall::start()));
    let call = call.lock().expect("no earlier input panicked");
    match call.offer(offer.to_string()) {
        Ok(answer) => assert!(
            answer.starts_with("v=0"),
            "an answer that is not SDP: {answer:?}"
        ),
        Err(refused) => assert!(
            !refused.to_string().is_empty(),
            "a refusal without a reason"
        ),
    }
});
