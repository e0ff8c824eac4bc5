//! Crash points for the exactly-once tests (cargo feature `failpoints`, off in release
//! builds). `ZENHOOK_FAILPOINTS=name[,name...]` makes the process abort, as a SIGKILL
//! would, the first time it reaches a named point.

/// Aborts the process here when `name` is armed; does nothing without the feature.
#[inline]
pub fn hit(name: &str) {
    #[cfg(feature = "failpoints")]
    {
        let armed = std::env::var("ZENHOOK_FAILPOINTS").unwrap_or_default();
        if armed.split(',').any(|point| point.trim() == name) {
            eprintln!("failpoint {name}: aborting");
            std::process::abort();
        }
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}
