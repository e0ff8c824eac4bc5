//! A token bucket per target, shared by the workers of one process. N replicas allow up
//! to N times the rate (the README says so).

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    /// Tokens per millisecond.
    rate: f64,
    /// At most one period's worth saved up.
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// `count` calls per `per`.
    pub fn new(count: u32, per: Duration) -> RateLimiter {
        let burst = f64::from(count.max(1));
        RateLimiter {
            rate: burst / per.as_millis().max(1) as f64,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut state = self.state.lock().await;
                let now = Instant::now();
                let (tokens, last) = *state;
                let elapsed = now.duration_since(last).as_millis() as f64;
                let tokens = (tokens + elapsed * self.rate).min(self.burst);
                if tokens >= 1.0 {
                    *state = (tokens - 1.0, now);
                    return;
                }
                *state = (tokens, now);
                Duration::from_millis(((1.0 - tokens) / self.rate).ceil() as u64)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_beyond_the_burst_wait_for_tokens() {
        let limiter = RateLimiter::new(10, Duration::from_secs(1));
        let start = Instant::now();
        for _ in 0..30 {
            limiter.acquire().await;
        }
        // 10 at once, then 20 more at 10 per second.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(1900), "{elapsed:?}");
        assert!(elapsed <= Duration::from_millis(2100), "{elapsed:?}");
    }
}
