//! Replays the saved fuzz corpus (fuzz/corpus/<target>/) through the same property
//! functions the cargo-fuzz targets call, so CI checks them on stable without libFuzzer.

use std::path::Path;

use zenhook::fuzzing::{normalise_any, verify_any_request, verify_roundtrip, Family};

/// Every file of one target's corpus through `property`; the corpus must not be empty.
fn replay(target: &str, property: impl Fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no corpus", dir.display());
    for file in files {
        let data = std::fs::read(&file).expect("a corpus file");
        // The properties keep no state between inputs, so a panic leaves nothing broken.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| property(&data)));
        assert!(outcome.is_ok(), "{} fails its property", file.display());
    }
}

#[test]
fn verify_forge_corpus() {
    replay("verify_forge", |d| verify_roundtrip(Family::Forge, d));
}

#[test]
fn verify_gitlab_corpus() {
    replay("verify_gitlab", |d| verify_roundtrip(Family::Gitlab, d));
}

#[test]
fn verify_standard_corpus() {
    replay("verify_standard", |d| verify_roundtrip(Family::Standard, d));
}

#[test]
fn verify_hmac_corpus() {
    replay("verify_hmac", |d| verify_roundtrip(Family::Hmac, d));
}

#[test]
fn verify_token_corpus() {
    replay("verify_token", |d| verify_roundtrip(Family::Token, d));
}

#[test]
fn headers_corpus() {
    replay("headers", verify_any_request);
}

#[test]
fn normalise_corpus() {
    replay("normalise", normalise_any);
}
