//! Signed requests verify; any flipped bit of body, signature, secret or id fails.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zenhook::fuzzing::{verify_roundtrip, Family};

fuzz_target!(|data: &[u8]| verify_roundtrip(Family::Token, data));
