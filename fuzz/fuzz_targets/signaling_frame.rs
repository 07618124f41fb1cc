//! Text frames on the signaling WebSocket (`parley_protocol`): refused, or
//! decoded into a message that encodes and decodes back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match parley_protocol::decode_frame(text) {
        Ok(frame) => {
            let encoded = serde_json::to_string(&frame.message).expect("a message encodes");
            let decoded = parley_protocol::decode_client(&encoded).expect("its encoding decodes");
            assert_eq!(decoded, frame.message);
        }
        Err(refused) => assert!(
            !refused.to_string().is_empty(),
            "a refusal without a reason"
        ),
    }
});
