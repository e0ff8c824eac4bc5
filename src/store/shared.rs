//! The `Store` implementation both backends share. sqlx's SQLite driver reads `$N`
//! placeholders too, so the SQL text is the same; what differs (transactions that write,
//! notifications, locks, migrations, claims) each backend provides as small hooks:
//! `BACKEND`, `begin_write`, `notify`, `lock_body`, `migrate_backend`,
//! `durability_backend`, `subscribe_backend`, `reclaim_backend`.

/// Implements `Store` for a backend type (`$conn` its connection, `$db` its database).
/// `$claim_sql` claims plain jobs (and expired leases) in one statement; `$flow_lock`
/// serialises flow-controlled claims across processes; `$follow_sql` claims triggered
/// runs to follow.
macro_rules! store_impl {
    ($store:ty, $conn:ty, $db:ty, $claim_sql:expr, $flow_lock:expr, $follow_sql:expr) => {
        impl $store {
            async fn commit_one(
                conn: &mut $conn,
                delivery: &NewDelivery,
            ) -> Result<$crate::store::Committed, StoreError> {
                if let Dedupe::BodyWithin(window_ms) = delivery.dedupe {
                    // Replicas may receive the same body at once: serialise them on the body hash.
                    Self::lock_body(conn, &format!("{}/{}", delivery.source, delivery.body_sha256)).await?;
                    let earlier: Option<String> = sqlx::query_scalar(
                        "SELECT id FROM deliveries WHERE source = $1 AND body_sha256 = $2 AND received_at >= $3 \
                         AND sender_delivery_id IS NULL \
                         ORDER BY seq LIMIT 1",
                    )
                    .bind(&delivery.source)
                    .bind(&delivery.body_sha256)
                    .bind(delivery.received_at_ms - window_ms)
                    .fetch_optional(&mut *conn)
                    .await?;
                    if let Some(id) = earlier {
                        return Ok($crate::store::Committed::Duplicate { id: $crate::store::parse_id(&id)? });
                    }
                }
                let seq: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO deliveries (id, source, sender_delivery_id, event_type, event_kind, outcome, \
                     body, body_sha256, headers, event, trace, received_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                     ON CONFLICT (source, sender_delivery_id) DO NOTHING RETURNING seq",
                )
                .bind(delivery.id.to_string())
                .bind(&delivery.source)
                .bind(&delivery.sender_delivery_id)
                .bind(&delivery.event_type)
                .bind(&delivery.event_kind)
                .bind(delivery.outcome.as_str())
                .bind(&delivery.body)
                .bind(&delivery.body_sha256)
                .bind(&delivery.headers)
                .bind(&delivery.event)
                .bind(&delivery.trace)
                .bind(delivery.received_at_ms)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(seq) = seq else {
                    let first: String = sqlx::query_scalar(
                        "SELECT id FROM deliveries WHERE source = $1 AND sender_delivery_id = $2",
                    )
                    .bind(&delivery.source)
                    .bind(&delivery.sender_delivery_id)
                    .fetch_one(&mut *conn)
                    .await?;
                    return Ok($crate::store::Committed::Duplicate {
                        id: $crate::store::parse_id(&first)?,
                    });
                };
                Self::insert_delivery_jobs(
                    conn,
                    &delivery.id.to_string(),
                    seq,
                    &delivery.jobs,
                    delivery.received_at_ms,
                    false,
                )
                .await?;
                Ok($crate::store::Committed::Accepted {
                    id: delivery.id,
                    seq,
                })
            }

            async fn record_rule_version(conn: &mut $conn, row: &RuleRow) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO rule_versions (rule_id, version, spec, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&row.id)
                .bind(row.version)
                .bind(&row.spec)
                .bind(row.updated_at)
                .execute(&mut *conn)
                .await?;
                Self::bump_rules_revision(conn).await
            }

            /// Bumps the revision, so a replica that missed a notification sees it at its poll.
            async fn bump_rules_revision(conn: &mut $conn) -> Result<(), StoreError> {
                sqlx::query("UPDATE revisions SET value = value + 1 WHERE name = 'rules'")
                    .execute(&mut *conn)
                    .await?;
                // Other replicas reload their rule caches when this commits.
                Self::notify(conn, Channel::Rules).await
            }
        }

        #[async_trait::async_trait]
                impl $crate::store::Store for $store {
            fn backend(&self) -> &'static str {
                Self::BACKEND
            }

            async fn migrate(&self) -> Result<(), StoreError> {
                self.migrate_backend().await
            }

            async fn durability(&self) -> Result<String, StoreError> {
                self.durability_backend().await
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn commit_deliveries(&self, batch: &[NewDelivery]) -> Result<Vec<$crate::store::Committed>, StoreError> {
                let mut tx = self.begin_write().await?;
                let mut results = Vec::with_capacity(batch.len());
                for delivery in batch {
                    results.push(Self::commit_one(&mut tx, delivery).await?);
                }
                let new_jobs = batch
                    .iter()
                    .zip(&results)
                    .any(|(d, r)| !d.jobs.is_empty() && matches!(r, $crate::store::Committed::Accepted { .. }));
                if new_jobs {
                    // Delivered on commit: the workers of every replica wake at once.
                    Self::notify(&mut tx, Channel::Jobs).await?;
                }
                tx.commit().await?;
                Ok(results)
            }

            async fn get_delivery(&self, id: Uuid) -> Result<Option<DeliveryRow>, StoreError> {
                Ok(
                    sqlx::query_as::<_, DeliveryRow>("SELECT * FROM deliveries WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await?,
                )
            }

            async fn jobs_of_delivery(&self, id: Uuid) -> Result<Vec<JobRow>, StoreError> {
                Ok(sqlx::query_as::<_, JobRow>(
                    "SELECT * FROM jobs WHERE delivery_id = $1 ORDER BY created_at, id",
                )
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await?)
            }

            async fn count_deliveries(&self) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM deliveries")
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn job_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
                Ok(sqlx::query_as($crate::store::jobs::COUNT_BY_STATUS)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn oldest_waiting_job(&self) -> Result<Option<i64>, StoreError> {
                Ok(sqlx::query_scalar($crate::store::jobs::OLDEST_WAITING)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn list_deliveries(
                &self,
                filter: &DeliveryFilter,
            ) -> Result<Vec<DeliveryRow>, StoreError> {
                let mut query = delivery_query::<$db>(filter);
                Ok(query
                    .build_query_as::<DeliveryRow>()
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn all_rules(&self) -> Result<Vec<RuleRow>, StoreError> {
                Ok(
                    sqlx::query_as::<_, RuleRow>("SELECT * FROM rules ORDER BY name")
                        .fetch_all(&self.pool)
                        .await?,
                )
            }

            async fn list_rules(
                &self,
                after_name: Option<&str>,
                limit: i64,
            ) -> Result<Vec<RuleRow>, StoreError> {
                Ok(sqlx::query_as::<_, RuleRow>(
                    "SELECT * FROM rules WHERE CAST($1 AS TEXT) IS NULL OR name > $1 ORDER BY name LIMIT $2",
                )
                .bind(after_name)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn find_rule(&self, id_or_name: &str) -> Result<Option<RuleRow>, StoreError> {
                Ok(
                    sqlx::query_as::<_, RuleRow>("SELECT * FROM rules WHERE id = $1 OR name = $1")
                        .bind(id_or_name)
                        .fetch_optional(&self.pool)
                        .await?,
                )
            }

            async fn create_rule(
                &self,
                id: Uuid,
                name: &str,
                spec: &str,
            ) -> Result<Option<RuleRow>, StoreError> {
                let now = now_ms();
                let mut tx = self.begin_write().await?;
                let row = sqlx::query_as::<_, RuleRow>(
                    "INSERT INTO rules (id, name, version, spec, created_at, updated_at) \
                     VALUES ($1, $2, 1, $3, $4, $4) ON CONFLICT (name) DO NOTHING RETURNING *",
                )
                .bind(id.to_string())
                .bind(name)
                .bind(spec)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = &row {
                    Self::record_rule_version(&mut tx, row).await?;
                }
                tx.commit().await?;
                Ok(row)
            }

            async fn update_rule(
                &self,
                id: Uuid,
                name: &str,
                spec: &str,
            ) -> Result<Option<RuleRow>, StoreError> {
                let mut tx = self.begin_write().await?;
                let taken: Option<String> =
                    sqlx::query_scalar("SELECT id FROM rules WHERE name = $1 AND id <> $2")
                        .bind(name)
                        .bind(id.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                if taken.is_some() {
                    return Ok(None);
                }
                let row = sqlx::query_as::<_, RuleRow>(
                    "UPDATE rules SET name = $2, spec = $3, version = version + 1, updated_at = $4 \
                     WHERE id = $1 RETURNING *",
                )
                .bind(id.to_string())
                .bind(name)
                .bind(spec)
                .bind(now_ms())
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = &row {
                    Self::record_rule_version(&mut tx, row).await?;
                }
                tx.commit().await?;
                Ok(row)
            }

            async fn delete_rule(&self, id: Uuid) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await?;
                let deleted = sqlx::query("DELETE FROM rules WHERE id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    > 0;
                if deleted {
                    Self::bump_rules_revision(&mut tx).await?;
                }
                tx.commit().await?;
                Ok(deleted)
            }

            async fn rule_version(&self, id: Uuid, version: i64) -> Result<Option<String>, StoreError> {
                Ok(
                    sqlx::query_scalar(
                        "SELECT spec FROM rule_versions WHERE rule_id = $1 AND version = $2",
                    )
                    .bind(id.to_string())
                    .bind(version)
                    .fetch_optional(&self.pool)
                    .await?,
                )
            }

            async fn rules_revision(&self) -> Result<i64, StoreError> {
                Ok(
                    sqlx::query_scalar("SELECT value FROM revisions WHERE name = 'rules'")
                        .fetch_one(&self.pool)
                        .await?,
                )
            }

            async fn claim_jobs(
                &self,
                owner: &str,
                now_ms: i64,
                lease_ms: i64,
                limit: i64,
            ) -> Result<Vec<JobRow>, StoreError> {
                let mut tx = self.begin_write().await?;
                let mut jobs = sqlx::query_as::<_, $crate::store::JobRow>($claim_sql)
                    .bind(owner)
                    .bind(now_ms)
                    .bind(now_ms + lease_ms)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                let room = limit - jobs.len() as i64;
                if room > 0 {
                    sqlx::query($flow_lock).execute(&mut *tx).await?;
                    let flow =
                        Self::claim_flow_jobs(&mut tx, owner, now_ms, lease_ms, room).await?;
                    jobs.extend(flow);
                }
                tx.commit().await?;
                Ok(jobs)
            }

            async fn renew_lease(&self, id: &str, token: &str, until_ms: i64) -> Result<bool, StoreError> {
                Ok(sqlx::query($crate::store::jobs::RENEW)
                    .bind(id)
                    .bind(token)
                    .bind(until_ms)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                    == 1)
            }

            async fn finish_job(
                &self,
                job: &JobRow,
                outcome: &JobOutcome,
                attempt: Option<&Attempt>,
                now_ms: i64,
            ) -> Result<bool, StoreError> {
                use $crate::store::JobOutcome;
                let Some(token) = job.lease_token.as_deref() else {
                    return Ok(false);
                };
                let (counts, busy_since, next_at, uncertain, run, shadow, error) = match outcome {
                    JobOutcome::Succeeded { run_id, run_name } => (
                        true,
                        None,
                        job.next_attempt_at,
                        false,
                        Some((run_id, run_name)),
                        None,
                        None,
                    ),
                    JobOutcome::Shadowed { request } => (
                        false,
                        None,
                        job.next_attempt_at,
                        false,
                        None,
                        Some(request),
                        None,
                    ),
                    JobOutcome::Retry {
                        next_attempt_at,
                        counts,
                        busy_since,
                        uncertain,
                        error,
                    } => (
                        *counts,
                        *busy_since,
                        *next_attempt_at,
                        *uncertain,
                        None,
                        None,
                        Some(error),
                    ),
                    JobOutcome::Dead { counts, error } => (
                        *counts,
                        None,
                        job.next_attempt_at,
                        false,
                        None,
                        None,
                        Some(error),
                    ),
                };
                let mut tx = self.begin_write().await?;
                let updated = sqlx::query($crate::store::jobs::FINISH)
                    .bind(&job.id)
                    .bind(token)
                    .bind(outcome.status())
                    .bind(i64::from(counts))
                    .bind(busy_since)
                    .bind(next_at)
                    .bind(i64::from(uncertain))
                    .bind(run.map(|(id, _)| id))
                    .bind(run.map(|(_, name)| name))
                    .bind(shadow)
                    .bind(error)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                if !updated {
                    // Fenced: another worker holds the job now; its result stands.
                    return Ok(false);
                }
                if let Some(attempt) = attempt {
                    sqlx::query($crate::store::jobs::RECORD_ATTEMPT)
                        .bind(&job.id)
                        .bind(job.generation)
                        .bind(attempt.started_at)
                        .bind(attempt.finished_at)
                        .bind(attempt.http_status)
                        .bind(outcome.status())
                        .bind(&attempt.error)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn release_leases(&self, owner: &str, now_ms: i64) -> Result<u64, StoreError> {
                Ok(sqlx::query($crate::store::jobs::RELEASE)
                    .bind(owner)
                    .bind(now_ms)
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
            }

            async fn next_due(&self) -> Result<Option<i64>, StoreError> {
                Ok(sqlx::query_scalar($crate::store::jobs::NEXT_DUE)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn get_job(&self, id: &str) -> Result<Option<JobRow>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM jobs WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn job_attempts(&self, id: &str) -> Result<Vec<AttemptRow>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT * FROM job_attempts WHERE job_id = $1 ORDER BY generation, attempt",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn list_jobs(
                &self,
                status: Option<&str>,
                before: Option<(i64, &str)>,
                limit: i64,
            ) -> Result<Vec<JobRow>, StoreError> {
                Ok(sqlx::query_as($crate::store::jobs::LIST)
                    .bind(status)
                    .bind(before.map(|(at, _)| at))
                    .bind(before.map(|(_, id)| id))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn cancel_job(&self, id: &str, now_ms: i64) -> Result<JobAction, StoreError> {
                let row: Option<$crate::store::JobRow> =
                    sqlx::query_as($crate::store::jobs::CANCEL)
                        .bind(id)
                        .bind(now_ms)
                        .fetch_optional(&self.pool)
                        .await?;
                self.job_action(id, row).await
            }

            async fn retry_job(
                &self,
                id: &str,
                idempotency_key: Uuid,
                now_ms: i64,
            ) -> Result<JobAction, StoreError> {
                let row: Option<$crate::store::JobRow> = sqlx::query_as($crate::store::jobs::RETRY)
                    .bind(id)
                    .bind(idempotency_key.to_string())
                    .bind(now_ms)
                    .fetch_optional(&self.pool)
                    .await?;
                self.job_action(id, row).await
            }

            async fn insert_jobs(
                &self,
                delivery_id: &str,
                delivery_seq: i64,
                jobs: &[$crate::store::NewJob],
                now_ms: i64,
            ) -> Result<Vec<JobRow>, StoreError> {
                let mut tx = self.begin_write().await?;
                let rows =
                    Self::insert_delivery_jobs(&mut tx, delivery_id, delivery_seq, jobs, now_ms, true)
                        .await?;
                Self::notify(&mut tx, $crate::store::Channel::Jobs).await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn claim_follows(
                &self,
                owner: &str,
                now_ms: i64,
                lease_ms: i64,
                limit: i64,
            ) -> Result<Vec<JobRow>, StoreError> {
                let mut tx = self.begin_write().await?;
                let jobs = sqlx::query_as::<_, $crate::store::JobRow>($follow_sql)
                    .bind(owner)
                    .bind(now_ms)
                    .bind(now_ms + lease_ms)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(jobs)
            }

            async fn record_run(
                &self,
                job: &JobRow,
                update: &RunUpdate,
                now_ms: i64,
            ) -> Result<bool, StoreError> {
                let Some(token) = job.lease_token.as_deref() else {
                    return Ok(false);
                };
                let mut tx = self.begin_write().await?;
                let updated = sqlx::query($crate::store::jobs::RECORD_RUN)
                    .bind(&job.id)
                    .bind(token)
                    .bind(&update.status)
                    .bind($crate::store::jobs::run_history(job, &update.status, now_ms))
                    .bind(i64::from(update.terminal))
                    .bind(now_ms)
                    .bind(update.next_check_at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                if updated && update.terminal && job.concurrency_key.is_some() {
                    // A slot freed: held jobs of every replica may start.
                    Self::notify(&mut tx, $crate::store::Channel::Jobs).await?;
                }
                tx.commit().await?;
                Ok(updated)
            }

            async fn prune(
                &self,
                bodies_before_ms: i64,
                deliveries_before_ms: i64,
                batch: i64,
                now_ms: i64,
                dry_run: bool,
            ) -> Result<$crate::store::PruneReport, StoreError> {
                use $crate::store::jobs as sql;
                let mut report = $crate::store::PruneReport::default();
                let mut tx = self.begin_write().await?;
                let doomed: Vec<String> = sqlx::query_scalar(&sql::prune_deliveries_sql())
                    .bind(deliveries_before_ms)
                    .bind(batch)
                    .fetch_all(&mut *tx)
                    .await?;
                report.deliveries = doomed.len() as u64;
                for id in &doomed {
                    let jobs: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE delivery_id = $1")
                            .bind(id)
                            .fetch_one(&mut *tx)
                            .await?;
                    report.jobs += jobs as u64;
                    if dry_run {
                        continue;
                    }
                    sqlx::query(
                        "DELETE FROM job_attempts WHERE job_id IN \
                         (SELECT id FROM jobs WHERE delivery_id = $1)",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM jobs WHERE delivery_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM deliveries WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                report.bodies = if dry_run {
                    let count: i64 = sqlx::query_scalar(&sql::prune_bodies_sql(true))
                        .bind(bodies_before_ms)
                        .bind(batch)
                        .fetch_one(&mut *tx)
                        .await?;
                    // Those removed whole above are counted there.
                    (count as u64).saturating_sub(report.deliveries)
                } else {
                    sqlx::query(&sql::prune_bodies_sql(false))
                        .bind(bodies_before_ms)
                        .bind(batch)
                        .bind(Vec::<u8>::new())
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                };
                if dry_run {
                    tx.rollback().await?;
                } else {
                    tx.commit().await?;
                }
                Ok(report)
            }

            async fn reclaim_space(&self) -> Result<(), StoreError> {
                self.reclaim_backend().await
            }

            async fn record_stop_request(
                &self,
                job: &JobRow,
                http_status: Option<i64>,
                outcome: &str,
                message: &str,
                now_ms: i64,
            ) -> Result<(), StoreError> {
                sqlx::query($crate::store::jobs::RECORD_ATTEMPT)
                    .bind(&job.id)
                    .bind(job.generation)
                    .bind(now_ms)
                    .bind(now_ms)
                    .bind(http_status)
                    .bind(outcome)
                    .bind(message)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn record_audit(&self, entry: &$crate::store::AuditRow) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO audit_log (at, token_name, action, target, status, before, after) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(entry.at)
                .bind(&entry.token_name)
                .bind(&entry.action)
                .bind(&entry.target)
                .bind(entry.status)
                .bind(&entry.before)
                .bind(&entry.after)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn list_audit(
                &self,
                before_seq: Option<i64>,
                limit: i64,
            ) -> Result<Vec<$crate::store::AuditRow>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT * FROM audit_log WHERE (CAST($1 AS BIGINT) IS NULL OR seq < $1) \
                     ORDER BY seq DESC LIMIT $2",
                )
                .bind(before_seq)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn subscribe(
                &self,
                channel: Channel,
            ) -> Result<Option<tokio::sync::mpsc::Receiver<()>>, StoreError> {
                self.subscribe_backend(channel).await
            }
        }
    };
}
pub(super) use store_impl;
