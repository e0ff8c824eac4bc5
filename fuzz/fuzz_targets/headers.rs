//! Arbitrary headers and bodies through every verifier and the envelope reader.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| zenhook::fuzzing::verify_any_request(data));
