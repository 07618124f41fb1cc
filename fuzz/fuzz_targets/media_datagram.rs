//! Datagrams at the SFU's media port, from the address of a live peer:
//! demultiplexing, then STUN, DTLS, SRTP or SRTCP of a connected call
//! (`parley_fuzz::LiveCall`). Any panic or stall of the worker is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_fuzz::LiveCall;
use std::sync::{Mutex, OnceLock};

/// Largest datagram tried: the SFU's receive buffers hold a jumbo frame.
const MAX_DATAGRAM: usize = 9000;

static CALL: OnceLock<Mutex<LiveCall>> = OnceLock::new();

fuzz_target!(|datagram: &[u8]| {
    if datagram.len() > MAX_DATAGRAM {
        return;
    }
    let call = CALL.get_or_init(|| Mutex::new(LiveCall::start()));
    let mut call = call.lock().expect("no earlier input panicked");
    call.deliver(datagram);
});
