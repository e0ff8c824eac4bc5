//! When a failed job is tried again (pinned): attempt n waits
//! `retry_schedule[min(n, len - 1)] × uniform(0.5, 1.0)`. A `Retry-After` from ZenML
//! replaces the schedule's entry, capped at an hour, and is jittered the same way, so
//! replicas told the same moment do not all return in step.

use std::time::Duration;

use rand::Rng;

/// The cap on a server-requested wait.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The wait before the next attempt, after `failed` failed attempts (0-based: the first
/// failure uses the schedule's first entry).
pub fn delay(
    schedule: &[Duration],
    failed: u32,
    retry_after: Option<Duration>,
    rng: &mut impl Rng,
) -> Duration {
    if let Some(after) = retry_after {
        return after
            .min(MAX_RETRY_AFTER)
            .mul_f64(rng.gen_range(1.0..=1.25));
    }
    let Some(last) = schedule.len().checked_sub(1) else {
        return Duration::ZERO;
    };
    let entry = schedule[(failed as usize).min(last)];
    entry.mul_f64(rng.gen_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn schedule() -> Vec<Duration> {
        ["5s", "30s", "2m", "10m", "30m"]
            .iter()
            .map(|s| humantime::parse_duration(s).unwrap())
            .collect()
    }

    #[test]
    fn every_delay_is_within_the_pinned_bounds() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let schedule = schedule();
        for failed in 0..12u32 {
            let entry = schedule[(failed as usize).min(4)];
            for _ in 0..200 {
                let d = delay(&schedule, failed, None, &mut rng);
                assert!(
                    d >= entry / 2 && d <= entry,
                    "attempt {failed}: {d:?} vs {entry:?}"
                );
            }
        }
    }

    #[test]
    fn retry_after_replaces_the_entry_and_is_capped() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let d = delay(&schedule(), 0, Some(Duration::from_secs(120)), &mut rng);
            assert!(
                d >= Duration::from_secs(120) && d <= Duration::from_secs(150),
                "{d:?}"
            );
            let capped = delay(&schedule(), 0, Some(Duration::from_secs(86_400)), &mut rng);
            assert!(capped >= MAX_RETRY_AFTER && capped <= MAX_RETRY_AFTER.mul_f64(1.25));
        }
    }

    #[test]
    fn the_jitter_spreads_retries() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let delays: std::collections::BTreeSet<_> = (0..50)
            .map(|_| delay(&schedule(), 1, None, &mut rng).as_millis())
            .collect();
        assert!(
            delays.len() > 40,
            "jitter should spread retries: {delays:?}"
        );
    }
}
