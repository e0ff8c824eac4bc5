//! Any body as any sender through parse_body, envelope and normalise.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| zenhook::fuzzing::normalise_any(data));
