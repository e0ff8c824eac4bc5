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
            /// Commits a batch in a handful of statements: every delivery deduplicated by
            /// its sender's id (or not at all) in one multi-row INSERT, their plain jobs in
            /// another. Each statement costs a round trip (a thread hand-off on SQLite), so
            /// two per delivery were most of a commit's time. Deliveries deduplicated by
            /// body hash, and debounced jobs, need a look at earlier rows first and take the
            /// one-by-one path.
            async fn commit_batch(
                conn: &mut $conn,
                batch: &[NewDelivery],
            ) -> Result<Vec<$crate::store::Committed>, StoreError> {
                use $crate::store::Committed;
                let mut results: Vec<Option<Committed>> = vec![None; batch.len()];
                let (by_body, plain): (Vec<usize>, Vec<usize>) = (0..batch.len())
                    .partition(|&i| matches!(batch[i].dedupe, Dedupe::BodyWithin(_)));
                for chunk in plain.chunks($crate::store::INSERT_CHUNK) {
                    let chunk_deliveries: Vec<&NewDelivery> = chunk.iter().map(|&i| &batch[i]).collect();
                    let stored = Self::insert_deliveries(conn, &chunk_deliveries).await?;
                    for &i in chunk {
                        let delivery = &batch[i];
                        results[i] = Some(match stored.get(&delivery.id.to_string()) {
                            Some(&seq) => Committed::Accepted { id: delivery.id, seq },
                            // A redelivery, possibly of one earlier in this very batch.
                            None => Committed::Duplicate {
                                id: Self::first_delivery(conn, delivery).await?,
                            },
                        });
                    }
                }
                let accepted: Vec<(&NewDelivery, i64)> = plain
                    .iter()
                    .filter_map(|&i| match results[i] {
                        Some(Committed::Accepted { seq, .. }) => Some((&batch[i], seq)),
                        _ => None,
                    })
                    .collect();
                Self::insert_new_jobs(conn, &accepted).await?;
                // Rare (senders without delivery ids): each looks at those before it.
                for i in by_body {
                    if let Dedupe::BodyWithin(window_ms) = batch[i].dedupe {
                        results[i] = Some(Self::commit_by_body(conn, &batch[i], window_ms).await?);
                    }
                }
                Ok(results.into_iter().map(|r| r.expect("every delivery has a result")).collect())
            }

            /// The delivery that `delivery` is a redelivery of.
            async fn first_delivery(conn: &mut $conn, delivery: &NewDelivery) -> Result<Uuid, StoreError> {
                let first: String = sqlx::query_scalar(
                    "SELECT id FROM deliveries WHERE source = $1 AND sender_delivery_id = $2",
                )
                .bind(&delivery.source)
                .bind(&delivery.sender_delivery_id)
                .fetch_one(&mut *conn)
                .await?;
                $crate::store::parse_id(&first)
            }

            /// Inserts deliveries in one statement; a redelivery of a stored one (by the
            /// sender's id) is left out. Answers the sequence number of each stored, by id.
            async fn insert_deliveries(
                conn: &mut $conn,
                deliveries: &[&NewDelivery],
            ) -> Result<std::collections::HashMap<String, i64>, StoreError> {
                let mut insert = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO deliveries (id, source, sender_delivery_id, event_type, event_kind, \
                     outcome, body, body_sha256, headers, event, trace, received_at) ",
                );
                insert.push_values(deliveries, |mut row, delivery| {
                    row.push_bind(delivery.id.to_string())
                        .push_bind(&delivery.source)
                        .push_bind(&delivery.sender_delivery_id)
                        .push_bind(&delivery.event_type)
                        .push_bind(&delivery.event_kind)
                        .push_bind(delivery.outcome.as_str())
                        .push_bind(&delivery.body)
                        .push_bind(&delivery.body_sha256)
                        .push_bind(&delivery.headers)
                        .push_bind(&delivery.event)
                        .push_bind(&delivery.trace)
                        .push_bind(delivery.received_at_ms);
                });
                insert.push(" ON CONFLICT (source, sender_delivery_id) DO NOTHING RETURNING id, seq");
                let stored: Vec<(String, i64)> = insert.build_query_as().fetch_all(&mut *conn).await?;
                Ok(stored.into_iter().collect())
            }

            /// A delivery without a sender's id, deduplicated by its body's hash against
            /// the deliveries before it (this batch's included).
            async fn commit_by_body(
                conn: &mut $conn,
                delivery: &NewDelivery,
                window_ms: i64,
            ) -> Result<$crate::store::Committed, StoreError> {
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
                let stored = Self::insert_deliveries(conn, &[delivery]).await?;
                let seq = *stored
                    .get(&delivery.id.to_string())
                    .ok_or_else(|| StoreError::Corrupt("a delivery without a sender's id was not stored".into()))?;
                Self::insert_new_jobs(conn, &[(delivery, seq)]).await?;
                Ok($crate::store::Committed::Accepted {
                    id: delivery.id,
                    seq,
                })
            }

            /// Records jobs' outcomes, each fenced by its lease token, in two statements
            /// per chunk: one UPDATE of every job from a VALUES list (answering which
            /// ones were still ours), one INSERT of their attempts.
            async fn finish_batch(
                conn: &mut $conn,
                results: &[$crate::store::FinishedJob],
            ) -> Result<Vec<bool>, StoreError> {
                use $crate::store::jobs::FinishColumns;
                let mut recorded = vec![false; results.len()];
                let held: Vec<usize> = (0..results.len())
                    .filter(|&i| results[i].job.lease_token.is_some())
                    .collect();
                for chunk in held.chunks($crate::store::INSERT_CHUNK) {
                    let mut update = sqlx::QueryBuilder::<$db>::new($crate::store::jobs::FINISH_HEAD);
                    update.push_values(chunk, |mut row, &i| {
                        let result = &results[i];
                        let columns = FinishColumns::of(&result.job, &result.outcome);
                        row.push_bind(&result.job.id)
                            .push_bind(result.job.lease_token.as_deref())
                            .push_bind(result.outcome.status())
                            .push_bind(i64::from(columns.counts))
                            .push_bind(columns.busy_since)
                            .push_bind(columns.next_attempt_at)
                            .push_bind(i64::from(columns.uncertain))
                            .push_bind(columns.run_id)
                            .push_bind(columns.run_name)
                            .push_bind(columns.shadow_request)
                            .push_bind(columns.error)
                            .push_bind(result.now_ms);
                    });
                    update.push($crate::store::jobs::FINISH_TAIL);
                    let ours: std::collections::HashSet<String> = update
                        .build_query_scalar::<String>()
                        .fetch_all(&mut *conn)
                        .await?
                        .into_iter()
                        .collect();
                    let mut attempts = Vec::new();
                    for &i in chunk {
                        // Fenced: another worker holds the job now; its result stands.
                        recorded[i] = ours.contains(&results[i].job.id);
                        if let (true, Some(attempt)) = (recorded[i], &results[i].attempt) {
                            attempts.push((&results[i], attempt));
                        }
                    }
                    if attempts.is_empty() {
                        continue;
                    }
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO job_attempts (job_id, generation, attempt, started_at, \
                         finished_at, http_status, outcome, error) ",
                    );
                    insert.push_values(attempts, |mut row, (result, attempt)| {
                        row.push_bind(&result.job.id)
                            .push_bind(result.job.generation)
                            .push("(SELECT COALESCE(MAX(attempt), 0) + 1 FROM job_attempts WHERE job_id = ")
                            .push_bind_unseparated(&result.job.id)
                            .push_unseparated(" AND generation = ")
                            .push_bind_unseparated(result.job.generation)
                            .push_unseparated(")")
                            .push_bind(attempt.started_at)
                            .push_bind(attempt.finished_at)
                            .push_bind(attempt.http_status)
                            .push_bind(result.outcome.status())
                            .push_bind(&attempt.error);
                    });
                    insert.build().execute(&mut *conn).await?;
                }
                Ok(recorded)
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
                let results = Self::commit_batch(&mut tx, batch).await?;
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

            async fn finish_jobs(
                &self,
                results: &[$crate::store::FinishedJob],
            ) -> Result<Vec<bool>, StoreError> {
                let mut tx = self.begin_write().await?;
                let recorded = Self::finish_batch(&mut tx, results).await?;
                tx.commit().await?;
                Ok(recorded)
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
                    Self::insert_replay_jobs(&mut tx, delivery_id, delivery_seq, jobs, now_ms)
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
