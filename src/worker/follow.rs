//! Following triggered runs to their end: `GET /api/v1/runs/{id}` at a growing interval,
//! each state change recorded with its time. A terminal run (or one ZenML no longer
//! knows, or one past its deadline) frees its concurrency slot.

use std::time::Duration;

use crate::store::{JobRow, RunUpdate};
use crate::zenml::{TriggerError, ZenmlClient};

/// ZenML's terminal run states (pinned); every other state is in flight.
pub const TERMINAL: [&str; 7] = [
    "completed",
    "failed",
    "cached",
    "skipped",
    "cancelled",
    "stopped",
    "retried",
];

/// How often to look.
pub struct Schedule {
    pub first: Duration,
    pub max: Duration,
    pub deadline: Duration,
}

impl Schedule {
    /// The wait after `checks` looks: half again as long each time, up to `max`.
    pub fn interval(&self, checks: i64) -> Duration {
        let factor = 1.5f64.powi(checks.clamp(0, 30) as i32);
        self.first.mul_f64(factor).min(self.max)
    }
}

/// Looks at a job's run once and says what to record.
pub async fn look(
    client: &ZenmlClient,
    job: &JobRow,
    schedule: &Schedule,
    now_ms: i64,
) -> RunUpdate {
    let next_check_at = now_ms + schedule.interval(job.run_checks).as_millis() as i64;
    let overdue = job
        .triggered_at
        .is_some_and(|at| now_ms - at > schedule.deadline.as_millis() as i64);
    let Some(run_id) = job.run_id.as_deref() else {
        return RunUpdate {
            status: "lost".into(),
            terminal: true,
            next_check_at,
        };
    };
    match client.get_run(run_id).await {
        Ok(run) => {
            let terminal = TERMINAL.contains(&run.status.as_str());
            if !terminal && overdue {
                return RunUpdate {
                    status: "overdue".into(),
                    terminal: true,
                    next_check_at,
                };
            }
            RunUpdate {
                status: run.status,
                terminal,
                next_check_at,
            }
        }
        Err(TriggerError::Fatal {
            status: Some(404), ..
        }) => RunUpdate {
            status: "lost".into(),
            terminal: true,
            next_check_at,
        },
        Err(error) => {
            tracing::warn!(job_id = %job.id, run_id, error = %error.summary(), "cannot look at the run");
            RunUpdate {
                status: if overdue {
                    "overdue".into()
                } else {
                    job.run_status
                        .clone()
                        .unwrap_or_else(|| "initializing".into())
                },
                terminal: overdue,
                next_check_at,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_grows_to_its_cap() {
        let schedule = Schedule {
            first: Duration::from_secs(2),
            max: Duration::from_secs(60),
            deadline: Duration::from_secs(86_400),
        };
        assert_eq!(schedule.interval(0), Duration::from_secs(2));
        assert_eq!(schedule.interval(1), Duration::from_secs(3));
        assert!(schedule.interval(5) > schedule.interval(4));
        assert_eq!(schedule.interval(50), Duration::from_secs(60));
    }
}
