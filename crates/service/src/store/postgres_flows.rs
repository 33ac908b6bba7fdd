//! [`FlowStore`] for [`PgStore`]: flows with their versions, runs, run claiming and the step
//! journal (tables of migration 5), ported from the SQLite store (`sqlite_flows.rs`) with the
//! same behaviour and errors. Row conversions, definition validation and the webhook secret's
//! associated data are the SQLite file's, so both backends read, validate and seal alike.
//!
//! Every write is one transaction, durable when it commits (a step attempt is on disk when
//! [`FlowStore::write_step`] returns). Several replicas share the database, so what SQLite
//! serialises with its single writer is decided here by row locks and guarded statements:
//! - [`FlowStore::claim_runs`] is one `UPDATE ... WHERE seq IN (SELECT ... FOR UPDATE SKIP
//!   LOCKED)`: replicas claiming at once take disjoint runs, each run exactly once, without
//!   waiting on each other.
//! - [`FlowStore::enqueue_run`] inserts with `ON CONFLICT (flow_id, dedupe_key) DO NOTHING`, so
//!   two replicas enqueuing the same sync event or schedule tick create one run (the second
//!   waits for the first's commit and then sees a duplicate).
//! - [`FlowStore::enqueue_sync_events`] locks the flow row first, so a flow's runs and its
//!   consumed sequence id move together and two consumers of one flow take turns.
//! - every other read-modify-write locks the row it checks (`SELECT ... FOR UPDATE`): the flow
//!   for a new version, the run for finish, cancel and resume. A run or flow that is referenced
//!   (a new run, a step attempt, a token) is held with `FOR KEY SHARE`, so a concurrent delete
//!   either waits or makes this call `NotFound`, never a foreign key error.
//!
//! Lock order: trigger subscription, then flow, then run, then step attempts (the order in
//! which the trigger store's `delete_subscription` reaches a flow), so writers do not
//! deadlock.
//!
//! Differences from SQLite: PostgreSQL `TEXT` cannot hold a NUL character, so a NUL in a flow's
//! name (the `name` column; the stored definition keeps it, JSON-escaped) is stored as U+FFFD.
//! Ties in the flow listing (same `created_at`) break by id bytes (`COLLATE "C"`), as in SQLite.

use std::time::SystemTime;

use brickwire_api::SecretString;
use brickwire_flows::StepRecord;
use futures::future::BoxFuture;
use serde_json::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};

use super::super::sqlite::flows::{
    FLOW_COLUMNS, FlowRow, RUN_COLUMNS, RUN_TRIGGERS, RunRow, STEP_COLUMNS, StepRow,
    definition_summary, into_flow, into_run, into_step, json_text, parse_json, secret_aad,
};
use super::super::sqlite::to_ms;
use super::PgStore;
use crate::crypto::random_token;
use crate::flows::model::{
    Enqueued, Flow, FlowId, FlowRun, FlowRunId, NewRun, RunEnd, RunFilter, RunLease, RunStatus,
};
use crate::flows::store::FlowStore;
use crate::triggers::SubscriptionId;
use crate::{Error, Result};

type Params<'a> = [&'a (dyn ToSql + Sync)];

/// Free text as PostgreSQL `TEXT` can hold it: NUL becomes U+FFFD (also for MCP token names).
pub(super) fn pg_text(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

/// A row of [`FLOW_COLUMNS`] (in that order).
fn flow_row(row: &Row) -> Result<FlowRow> {
    Ok((
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
        row.try_get(5)?,
        row.try_get(6)?,
        row.try_get(7)?,
        row.try_get(8)?,
    ))
}

/// A row of [`RUN_COLUMNS`] (in that order).
fn run_row(row: &Row) -> Result<RunRow> {
    Ok((
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
        row.try_get(5)?,
        row.try_get(6)?,
        row.try_get(7)?,
        row.try_get(8)?,
        row.try_get(9)?,
        row.try_get(10)?,
        row.try_get(11)?,
        row.try_get(12)?,
    ))
}

/// A row of [`STEP_COLUMNS`] (in that order).
fn step_row(row: &Row) -> Result<StepRow> {
    Ok((
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
        row.try_get(5)?,
        row.try_get(6)?,
        row.try_get(7)?,
        row.try_get(8)?,
        row.try_get(9)?,
        row.try_get(10)?,
        row.try_get(11)?,
        row.try_get(12)?,
    ))
}

async fn query_flows<C: GenericClient + Sync>(
    client: &C,
    condition: &str,
    params: &Params<'_>,
) -> Result<Vec<Flow>> {
    client
        .query(
            &format!(
                "SELECT {FLOW_COLUMNS} FROM flows f
                 JOIN flow_versions v ON v.flow_id = f.id AND v.version = f.version
                 WHERE {condition}"
            ),
            params,
        )
        .await?
        .iter()
        .map(|row| into_flow(flow_row(row)?))
        .collect()
}

async fn get_flow<C: GenericClient + Sync>(client: &C, id: &FlowId) -> Result<Flow> {
    query_flows(client, "f.id = $1", &[&id.as_str()])
        .await?
        .pop()
        .ok_or_else(|| Error::not_found("flow", id.as_str()))
}

/// Runs selected by `tail` (`WHERE ...`, ordering, limit or a lock clause).
async fn query_runs<C: GenericClient + Sync>(
    client: &C,
    tail: &str,
    params: &Params<'_>,
) -> Result<Vec<FlowRun>> {
    client
        .query(
            &format!("SELECT {RUN_COLUMNS} FROM flow_runs {tail}"),
            params,
        )
        .await?
        .iter()
        .map(|row| into_run(run_row(row)?))
        .collect()
}

async fn get_run<C: GenericClient + Sync>(client: &C, id: &FlowRunId) -> Result<FlowRun> {
    query_runs(client, "WHERE id = $1", &[&id.as_str()])
        .await?
        .pop()
        .ok_or_else(|| Error::not_found("run", id.as_str()))
}

/// The run, locked for the rest of the transaction.
async fn lock_run<C: GenericClient + Sync>(client: &C, id: &FlowRunId) -> Result<FlowRun> {
    query_runs(client, "WHERE id = $1 FOR UPDATE", &[&id.as_str()])
        .await?
        .pop()
        .ok_or_else(|| Error::not_found("run", id.as_str()))
}

/// Locks the run for the rest of the transaction and, with `owner`, checks that the owner holds
/// its lease ([`Error::LeaseLost`] otherwise); `NotFound` if there is no run.
async fn check_lease<C: GenericClient + Sync>(
    client: &C,
    id: &FlowRunId,
    owner: Option<&str>,
) -> Result<()> {
    let row = client
        .query_opt(
            "SELECT lease_owner FROM flow_runs WHERE id = $1 FOR UPDATE",
            &[&id.as_str()],
        )
        .await?
        .ok_or_else(|| Error::not_found("run", id.as_str()))?;
    let holder: Option<String> = row.try_get(0)?;
    match owner {
        Some(owner) if holder.as_deref() != Some(owner) => Err(Error::LeaseLost {
            entity: "run",
            id: id.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Holds the run against deletion for the rest of the transaction; `NotFound` if there is none.
async fn hold_run<C: GenericClient + Sync>(client: &C, id: &FlowRunId) -> Result<()> {
    client
        .query_opt(
            "SELECT 1 FROM flow_runs WHERE id = $1 FOR KEY SHARE",
            &[&id.as_str()],
        )
        .await?
        .ok_or_else(|| Error::not_found("run", id.as_str()))?;
    Ok(())
}

async fn steps_of<C: GenericClient + Sync>(client: &C, id: &FlowRunId) -> Result<Vec<StepRecord>> {
    client
        .query(
            &format!(
                "SELECT {STEP_COLUMNS} FROM flow_step_attempts WHERE run_id = $1 ORDER BY seq"
            ),
            &[&id.as_str()],
        )
        .await?
        .iter()
        .map(|row| into_step(step_row(row)?))
        .collect()
}

/// Inserts or replaces the attempt `(run, path, attempt)`; a replaced row keeps its `seq`.
async fn upsert_step<C: GenericClient + Sync>(
    client: &C,
    run: &FlowRunId,
    r: &StepRecord,
) -> Result<()> {
    if r.path.is_empty() || r.attempt == 0 {
        return Err(Error::invalid(
            "step",
            "a step attempt needs a path and an attempt number from 1",
        ));
    }
    client
        .execute(
            "INSERT INTO flow_step_attempts (run_id, path, attempt, step_id, kind, status, action,
                 account, input, output, error, started_at, finished_at, resume_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (run_id, path, attempt) DO UPDATE SET
                 step_id = EXCLUDED.step_id, kind = EXCLUDED.kind, status = EXCLUDED.status,
                 action = EXCLUDED.action, account = EXCLUDED.account, input = EXCLUDED.input,
                 output = EXCLUDED.output, error = EXCLUDED.error,
                 started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
                 resume_at = EXCLUDED.resume_at",
            &[
                &run.as_str(),
                &r.path,
                &i64::from(r.attempt),
                &r.step_id,
                &r.kind.as_str(),
                &r.status.as_str(),
                &r.action,
                &r.account,
                &r.input.as_ref().map(json_text),
                &r.output.as_ref().map(json_text),
                &r.error.as_ref().map(json_text),
                &to_ms(r.started_at),
                &r.finished_at.map(to_ms),
                &r.resume_at.map(to_ms),
            ],
        )
        .await?;
    Ok(())
}

/// Queues one run in `tx` unless its dedupe key was seen for the flow. The flow row is held
/// (`FOR KEY SHARE`) so it cannot be deleted under the new run.
async fn insert_run<C: GenericClient + Sync>(
    client: &C,
    run: NewRun,
    now: i64,
) -> Result<Enqueued> {
    if !RUN_TRIGGERS.contains(&run.trigger.as_str()) {
        return Err(Error::invalid(
            "trigger",
            "one of manual, schedule, webhook, sync, replay",
        ));
    }
    let current: i64 = client
        .query_opt(
            "SELECT version FROM flows WHERE id = $1 FOR KEY SHARE",
            &[&run.flow_id.as_str()],
        )
        .await?
        .ok_or_else(|| Error::not_found("flow", run.flow_id.as_str()))?
        .try_get(0)?;
    let version = run.flow_version.unwrap_or(current);
    let known: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM flow_versions WHERE flow_id = $1 AND version = $2)",
            &[&run.flow_id.as_str(), &version],
        )
        .await?
        .try_get(0)?;
    if !known {
        return Err(Error::invalid(
            "flow_version",
            format!("flow {} has no version {version}", run.flow_id),
        ));
    }
    let id = FlowRunId::generate();
    // A concurrent insert of the same key makes this one wait for its commit, then do nothing.
    let inserted = client
        .execute(
            "INSERT INTO flow_runs (id, flow_id, flow_version, status, trigger, event, dedupe_key,
                 replay_of, created_at)
             VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8)
             ON CONFLICT (flow_id, dedupe_key) DO NOTHING",
            &[
                &id.as_str(),
                &run.flow_id.as_str(),
                &version,
                &run.trigger,
                &json_text(&run.event),
                &run.dedupe_key,
                &run.replay_of.as_ref().map(FlowRunId::as_str),
                &now,
            ],
        )
        .await?;
    if inserted == 0 {
        // Only a keyed run conflicts (NULL keys never do), and the row it met is committed.
        let existing: String = client
            .query_one(
                "SELECT id FROM flow_runs WHERE flow_id = $1 AND dedupe_key = $2",
                &[&run.flow_id.as_str(), &run.dedupe_key],
            )
            .await?
            .try_get(0)?;
        return Ok(Enqueued::Duplicate(FlowRunId::new(existing)));
    }
    for step in &run.seed_steps {
        upsert_step(client, &id, step).await?;
    }
    Ok(Enqueued::Created(get_run(client, &id).await?))
}

impl PgStore {
    async fn insert_flow_in(&self, definition: Value, enabled: bool) -> Result<Flow> {
        let (name, trigger) = definition_summary(&definition)?;
        let id = FlowId::generate();
        let now = to_ms(self.inner.clock.now());
        let secret = self
            .inner
            .cipher
            .seal_secret(&secret_aad(&id), &random_token(""));
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        tx.execute(
            "INSERT INTO flows (id, name, enabled, version, trigger_type, webhook_secret,
                 created_at, updated_at)
             VALUES ($1, $2, $3, 1, $4, $5, $6, $6)",
            &[
                &id.as_str(),
                &pg_text(name),
                &enabled,
                &trigger,
                &secret,
                &now,
            ],
        )
        .await?;
        tx.execute(
            "INSERT INTO flow_versions (flow_id, version, definition, created_at)
             VALUES ($1, 1, $2, $3)",
            &[&id.as_str(), &json_text(&definition), &now],
        )
        .await?;
        let flow = get_flow(&*tx, &id).await?;
        tx.commit().await?;
        Ok(flow)
    }

    async fn update_flow_in(&self, id: FlowId, definition: Value) -> Result<Flow> {
        let (name, trigger) = definition_summary(&definition)?;
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        // The lock makes concurrent updates of one flow take consecutive versions.
        let current: i64 = tx
            .query_opt(
                "SELECT version FROM flows WHERE id = $1 FOR UPDATE",
                &[&id.as_str()],
            )
            .await?
            .ok_or_else(|| Error::not_found("flow", id.as_str()))?
            .try_get(0)?;
        let version = current + 1;
        let now = to_ms(self.inner.clock.now());
        tx.execute(
            "INSERT INTO flow_versions (flow_id, version, definition, created_at)
             VALUES ($1, $2, $3, $4)",
            &[&id.as_str(), &version, &json_text(&definition), &now],
        )
        .await?;
        tx.execute(
            "UPDATE flows SET name = $1, trigger_type = $2, version = $3, updated_at = $4
             WHERE id = $5",
            &[&pg_text(name), &trigger, &version, &now, &id.as_str()],
        )
        .await?;
        let flow = get_flow(&*tx, &id).await?;
        tx.commit().await?;
        Ok(flow)
    }

    /// Runs `sql` (an `UPDATE flows ... WHERE id = $n`) and returns the flow after it;
    /// `NotFound` if it changed no row.
    async fn update_flow_row(&self, id: &FlowId, sql: &str, params: &Params<'_>) -> Result<Flow> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        if tx.execute(sql, params).await? == 0 {
            return Err(Error::not_found("flow", id.as_str()));
        }
        let flow = get_flow(&*tx, id).await?;
        tx.commit().await?;
        Ok(flow)
    }

    async fn set_flow_subscription_in(
        &self,
        id: FlowId,
        subscription: Option<SubscriptionId>,
        consumed_seq: i64,
    ) -> Result<Flow> {
        let now = to_ms(self.inner.clock.now());
        let subscription = subscription.as_ref().map(SubscriptionId::as_str);
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        if let Some(sub) = subscription {
            // The subscription before the flow (the foreign key check would take this lock
            // after the flow's); a missing one fails the update's foreign key, as in SQLite.
            tx.query_opt(
                "SELECT 1 FROM trigger_subscriptions WHERE id = $1 FOR KEY SHARE",
                &[&sub],
            )
            .await?;
        }
        let changed = tx
            .execute(
                "UPDATE flows SET subscription_id = $1, consumed_seq = $2, updated_at = $3
                 WHERE id = $4",
                &[&subscription, &consumed_seq, &now, &id.as_str()],
            )
            .await?;
        if changed == 0 {
            return Err(Error::not_found("flow", id.as_str()));
        }
        let flow = get_flow(&*tx, &id).await?;
        tx.commit().await?;
        Ok(flow)
    }

    async fn delete_flow_in(&self, id: FlowId) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut round = 0;
        loop {
            round += 1;
            let tx = conn.transaction().await?;
            // The subscription is locked before the flow: the trigger store's
            // delete_subscription reaches the flow (through its foreign key) in that order.
            let seen: Option<String> = tx
                .query_opt(
                    "SELECT subscription_id FROM flows WHERE id = $1",
                    &[&id.as_str()],
                )
                .await?
                .ok_or_else(|| Error::not_found("flow", id.as_str()))?
                .try_get(0)?;
            if let Some(sub) = &seen {
                tx.query_opt(
                    "SELECT 1 FROM trigger_subscriptions WHERE id = $1 FOR UPDATE",
                    &[sub],
                )
                .await?;
            }
            let subscription: Option<String> = tx
                .query_opt(
                    "SELECT subscription_id FROM flows WHERE id = $1 FOR UPDATE",
                    &[&id.as_str()],
                )
                .await?
                .ok_or_else(|| Error::not_found("flow", id.as_str()))?
                .try_get(0)?;
            if subscription != seen && round < 3 {
                // Changed between the two reads: start again with the new one.
                tx.rollback().await?;
                continue;
            }
            return Self::delete_flow_rows(tx, &id, subscription).await;
        }
    }

    /// Deletes the flow's rows and its subscription's, both locked by `tx`, and commits.
    async fn delete_flow_rows(
        tx: deadpool_postgres::Transaction<'_>,
        id: &FlowId,
        subscription: Option<String>,
    ) -> Result<()> {
        // Explicit deletes, as in SQLite (the foreign keys would cascade the same way).
        tx.execute(
            "DELETE FROM flow_step_attempts
             WHERE run_id IN (SELECT id FROM flow_runs WHERE flow_id = $1)",
            &[&id.as_str()],
        )
        .await?;
        tx.execute("DELETE FROM flow_runs WHERE flow_id = $1", &[&id.as_str()])
            .await?;
        tx.execute(
            "DELETE FROM flow_versions WHERE flow_id = $1",
            &[&id.as_str()],
        )
        .await?;
        tx.execute("DELETE FROM flows WHERE id = $1", &[&id.as_str()])
            .await?;
        if let Some(sub) = subscription {
            for table in ["trigger_deliveries", "trigger_events"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE subscription_id = $1"),
                    &[&sub],
                )
                .await?;
            }
            tx.execute("DELETE FROM trigger_subscriptions WHERE id = $1", &[&sub])
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn flow_webhook_secret_in(&self, id: FlowId) -> Result<SecretString> {
        let conn = self.conn().await?;
        let blob: Vec<u8> = conn
            .query_opt(
                "SELECT webhook_secret FROM flows WHERE id = $1",
                &[&id.as_str()],
            )
            .await?
            .ok_or_else(|| Error::not_found("flow", id.as_str()))?
            .try_get(0)?;
        self.inner
            .cipher
            .open_secret(&secret_aad(&id), &blob)
            .map_err(|_| Error::Decrypt {
                entity: "flow",
                id: id.to_string(),
                field: "webhook_secret",
            })
    }

    async fn enqueue_run_in(&self, run: NewRun) -> Result<Enqueued> {
        let now = to_ms(self.inner.clock.now());
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let enqueued = insert_run(&*tx, run, now).await?;
        tx.commit().await?;
        Ok(enqueued)
    }

    async fn enqueue_sync_events_in(
        &self,
        id: FlowId,
        events: Vec<(i64, String, Value)>,
    ) -> Result<Vec<FlowRunId>> {
        let now = to_ms(self.inner.clock.now());
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let mut consumed: i64 = tx
            .query_opt(
                "SELECT consumed_seq FROM flows WHERE id = $1 FOR UPDATE",
                &[&id.as_str()],
            )
            .await?
            .ok_or_else(|| Error::not_found("flow", id.as_str()))?
            .try_get(0)?;
        let mut created = Vec::new();
        for (seq, event_id, event) in events {
            consumed = consumed.max(seq);
            let run = NewRun {
                flow_id: id.clone(),
                flow_version: None,
                trigger: "sync".into(),
                event,
                dedupe_key: Some(format!("sync:{event_id}")),
                replay_of: None,
                seed_steps: Vec::new(),
            };
            if let Enqueued::Created(run) = insert_run(&*tx, run, now).await? {
                created.push(run.id);
            }
        }
        tx.execute(
            "UPDATE flows SET consumed_seq = $1 WHERE id = $2",
            &[&consumed, &id.as_str()],
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn claim_runs_in(
        &self,
        limit: u32,
        busy_flows: Vec<FlowId>,
        now: SystemTime,
        lease: RunLease,
    ) -> Result<Vec<FlowRun>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let busy: Vec<String> = busy_flows
            .into_iter()
            .map(|f| f.as_str().to_owned())
            .collect();
        let conn = self.conn().await?;
        // One statement: the subquery locks the runs it picks (queued, or running under another
        // owner's expired lease) and skips those another replica's claim holds, so concurrent
        // claims take disjoint runs and none waits.
        let rows = conn
            .query(
                &format!(
                    "UPDATE flow_runs SET status = 'running', started_at = COALESCE(started_at, $1),
                            lease_owner = $4, lease_expires_at = $5
                     WHERE seq IN (
                         SELECT seq FROM flow_runs
                         WHERE (status = 'queued'
                                OR (status = 'running' AND lease_expires_at < $1
                                    AND lease_owner IS DISTINCT FROM $4))
                           AND flow_id <> ALL($2)
                         ORDER BY seq LIMIT $3
                         FOR UPDATE SKIP LOCKED)
                     RETURNING {RUN_COLUMNS}, seq"
                ),
                &[
                    &to_ms(now),
                    &busy,
                    &i64::from(limit),
                    &lease.owner,
                    &to_ms(lease.expires_at),
                ],
            )
            .await?;
        let mut claimed = rows
            .iter()
            .map(|row| Ok((row.try_get::<_, i64>(13)?, into_run(run_row(row)?)?)))
            .collect::<Result<Vec<_>>>()?;
        claimed.sort_by_key(|(seq, _)| *seq);
        Ok(claimed.into_iter().map(|(_, run)| run).collect())
    }

    async fn finish_run_in(
        &self,
        id: FlowRunId,
        end: RunEnd,
        now: SystemTime,
        lease_owner: Option<String>,
    ) -> Result<FlowRun> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        check_lease(&*tx, &id, lease_owner.as_deref()).await?;
        let run = lock_run(&*tx, &id).await?;
        if run.status.is_final() {
            return Err(Error::invalid(
                "status",
                format!("run {id} already ended {}", run.status.as_str()),
            ));
        }
        let (status, output, error) = match &end {
            RunEnd::Succeeded(output) => (RunStatus::Succeeded, Some(json_text(output)), None),
            RunEnd::Failed(error) => (RunStatus::Failed, None, Some(json_text(error))),
            RunEnd::Interrupted(error) => (RunStatus::Interrupted, None, Some(json_text(error))),
            RunEnd::Cancelled => (RunStatus::Cancelled, None, None),
        };
        tx.execute(
            "UPDATE flow_runs SET status = $1, output = $2, error = $3, finished_at = $4,
                    lease_owner = NULL, lease_expires_at = NULL
             WHERE id = $5",
            &[&status.as_str(), &output, &error, &to_ms(now), &id.as_str()],
        )
        .await?;
        let run = get_run(&*tx, &id).await?;
        tx.commit().await?;
        Ok(run)
    }

    async fn list_runs_in(&self, filter: RunFilter) -> Result<Vec<FlowRun>> {
        let limit = filter.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(Error::invalid("limit", "between 1 and 500"));
        }
        let conn = self.conn().await?;
        let mut conditions = Vec::new();
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        let mut bind = |sql: &str, value: Box<dyn ToSql + Sync + Send>| {
            params.push(value);
            conditions.push(sql.replace('?', &format!("${}", params.len())));
        };
        if let Some(flow) = &filter.flow_id {
            bind("flow_id = ?", Box::new(flow.as_str().to_owned()));
        }
        if let Some(status) = filter.status {
            bind("status = ?", Box::new(status.as_str()));
        }
        if let Some(after) = filter.created_after {
            bind("created_at >= ?", Box::new(to_ms(after)));
        }
        if let Some(before) = filter.created_before {
            bind("created_at < ?", Box::new(to_ms(before)));
        }
        if let Some(after) = &filter.after {
            let seq: i64 = conn
                .query_opt(
                    "SELECT seq FROM flow_runs WHERE id = $1",
                    &[&after.as_str()],
                )
                .await?
                .ok_or_else(|| Error::invalid("after", format!("no run {after}")))?
                .try_get(0)?;
            bind("seq < ?", Box::new(seq));
        }
        params.push(Box::new(i64::from(limit)));
        let limit_param = params.len();
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        query_runs(
            &**conn,
            &format!("{where_clause} ORDER BY seq DESC LIMIT ${limit_param}"),
            &refs,
        )
        .await
    }

    async fn run_steps_in(&self, id: FlowRunId) -> Result<Vec<StepRecord>> {
        let conn = self.conn().await?;
        let exists: bool = conn
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM flow_runs WHERE id = $1)",
                &[&id.as_str()],
            )
            .await?
            .try_get(0)?;
        if !exists {
            return Err(Error::not_found("run", id.as_str()));
        }
        steps_of(&**conn, &id).await
    }

    async fn write_step_in(
        &self,
        id: FlowRunId,
        record: StepRecord,
        lease_owner: Option<String>,
    ) -> Result<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        match lease_owner {
            // The row lock keeps a takeover from committing between the check and the write.
            Some(owner) => check_lease(&*tx, &id, Some(&owner)).await?,
            None => hold_run(&*tx, &id).await?,
        }
        upsert_step(&*tx, &id, &record).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn request_cancel_in(&self, id: FlowRunId, now: SystemTime) -> Result<FlowRun> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let run = lock_run(&*tx, &id).await?;
        match run.status {
            RunStatus::Queued | RunStatus::Interrupted => {
                tx.execute(
                    "UPDATE flow_runs SET status = 'cancelled', finished_at = $1 WHERE id = $2",
                    &[&to_ms(now), &id.as_str()],
                )
                .await?;
            }
            RunStatus::Running => {
                tx.execute(
                    "UPDATE flow_runs SET cancel_requested = TRUE WHERE id = $1",
                    &[&id.as_str()],
                )
                .await?;
            }
            status => {
                return Err(Error::invalid(
                    "status",
                    format!("run {id} already ended {}", status.as_str()),
                ));
            }
        }
        let run = get_run(&*tx, &id).await?;
        tx.commit().await?;
        Ok(run)
    }

    async fn resume_interrupted_in(&self, id: FlowRunId) -> Result<FlowRun> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let run = lock_run(&*tx, &id).await?;
        if run.status != RunStatus::Interrupted {
            return Err(Error::invalid(
                "status",
                format!(
                    "only an interrupted run resumes; run {id} is {}",
                    run.status.as_str()
                ),
            ));
        }
        tx.execute(
            "UPDATE flow_step_attempts SET status = 'abandoned'
             WHERE run_id = $1 AND status = 'running'",
            &[&id.as_str()],
        )
        .await?;
        tx.execute(
            "UPDATE flow_runs SET status = 'queued', error = NULL, finished_at = NULL
             WHERE id = $1",
            &[&id.as_str()],
        )
        .await?;
        let run = get_run(&*tx, &id).await?;
        tx.commit().await?;
        Ok(run)
    }
}

impl FlowStore for PgStore {
    fn insert_flow(&self, definition: Value, enabled: bool) -> BoxFuture<'_, Result<Flow>> {
        Box::pin(self.insert_flow_in(definition, enabled))
    }

    fn flow(&self, id: FlowId) -> BoxFuture<'_, Result<Flow>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            get_flow(&**conn, &id).await
        })
    }

    fn list_flows(&self) -> BoxFuture<'_, Result<Vec<Flow>>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            // COLLATE "C": ties on created_at break by id bytes, as in SQLite.
            query_flows(
                &**conn,
                "TRUE ORDER BY f.created_at, f.id COLLATE \"C\"",
                &[],
            )
            .await
        })
    }

    fn update_flow(&self, id: FlowId, definition: Value) -> BoxFuture<'_, Result<Flow>> {
        Box::pin(self.update_flow_in(id, definition))
    }

    fn flow_version(&self, id: FlowId, version: i64) -> BoxFuture<'_, Result<Value>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let row = conn
                .query_opt(
                    "SELECT definition FROM flow_versions WHERE flow_id = $1 AND version = $2",
                    &[&id.as_str(), &version],
                )
                .await?;
            match row {
                Some(row) => parse_json(&row.try_get::<_, String>(0)?, "flow definition"),
                None => Err(Error::not_found(
                    "flow version",
                    format!("{id} version {version}"),
                )),
            }
        })
    }

    fn set_flow_enabled(&self, id: FlowId, enabled: bool) -> BoxFuture<'_, Result<Flow>> {
        Box::pin(async move {
            let now = to_ms(self.inner.clock.now());
            self.update_flow_row(
                &id,
                "UPDATE flows SET enabled = $1, updated_at = $2 WHERE id = $3",
                &[&enabled, &now, &id.as_str()],
            )
            .await
        })
    }

    fn set_flow_subscription(
        &self,
        id: FlowId,
        subscription: Option<SubscriptionId>,
        consumed_seq: i64,
    ) -> BoxFuture<'_, Result<Flow>> {
        Box::pin(self.set_flow_subscription_in(id, subscription, consumed_seq))
    }

    fn flow_consumed_seq(&self, id: FlowId) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            Ok(conn
                .query_opt(
                    "SELECT consumed_seq FROM flows WHERE id = $1",
                    &[&id.as_str()],
                )
                .await?
                .ok_or_else(|| Error::not_found("flow", id.as_str()))?
                .try_get(0)?)
        })
    }

    /// Also deletes the flow's sync subscription (with its events and deliveries) in the same
    /// transaction, so a deleted flow leaves nothing polling behind.
    fn delete_flow(&self, id: FlowId) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.delete_flow_in(id))
    }

    fn flow_webhook_secret(&self, id: FlowId) -> BoxFuture<'_, Result<SecretString>> {
        Box::pin(self.flow_webhook_secret_in(id))
    }

    fn enqueue_run(&self, run: NewRun) -> BoxFuture<'_, Result<Enqueued>> {
        Box::pin(self.enqueue_run_in(run))
    }

    fn enqueue_sync_events(
        &self,
        id: FlowId,
        events: Vec<(i64, String, Value)>,
    ) -> BoxFuture<'_, Result<Vec<FlowRunId>>> {
        Box::pin(self.enqueue_sync_events_in(id, events))
    }

    fn claim_runs(
        &self,
        limit: u32,
        busy_flows: Vec<FlowId>,
        now: SystemTime,
        lease: RunLease,
    ) -> BoxFuture<'_, Result<Vec<FlowRun>>> {
        Box::pin(self.claim_runs_in(limit, busy_flows, now, lease))
    }

    fn recover_running_runs(&self, now: SystemTime) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            // Only runs no live replica holds: without a lease (written before leases) or with
            // an expired one. Locked in seq order (skipping a claim in progress), so two
            // replicas recovering at once neither deadlock nor wait.
            Ok(conn
                .execute(
                    "UPDATE flow_runs SET status = 'queued', lease_owner = NULL,
                            lease_expires_at = NULL
                     WHERE seq IN (SELECT seq FROM flow_runs
                                   WHERE status = 'running'
                                     AND (lease_expires_at IS NULL OR lease_expires_at < $1)
                                   ORDER BY seq FOR UPDATE SKIP LOCKED)",
                    &[&to_ms(now)],
                )
                .await?)
        })
    }

    fn renew_run_leases(&self, lease: RunLease) -> BoxFuture<'_, Result<Vec<FlowRunId>>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let rows = conn
                .query(
                    "UPDATE flow_runs SET lease_expires_at = $1
                     WHERE status = 'running' AND lease_owner = $2
                     RETURNING id",
                    &[&to_ms(lease.expires_at), &lease.owner],
                )
                .await?;
            rows.iter()
                .map(|row| Ok(FlowRunId::new(row.try_get::<_, String>(0)?)))
                .collect()
        })
    }

    fn release_run_leases(&self, owner: String) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            Ok(conn
                .execute(
                    "UPDATE flow_runs SET status = 'queued', lease_owner = NULL,
                            lease_expires_at = NULL
                     WHERE status = 'running' AND lease_owner = $1",
                    &[&owner],
                )
                .await?)
        })
    }

    fn finish_run(
        &self,
        id: FlowRunId,
        end: RunEnd,
        now: SystemTime,
        lease_owner: Option<String>,
    ) -> BoxFuture<'_, Result<FlowRun>> {
        Box::pin(self.finish_run_in(id, end, now, lease_owner))
    }

    fn run(&self, id: FlowRunId) -> BoxFuture<'_, Result<FlowRun>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            get_run(&**conn, &id).await
        })
    }

    fn list_runs(&self, filter: RunFilter) -> BoxFuture<'_, Result<Vec<FlowRun>>> {
        Box::pin(self.list_runs_in(filter))
    }

    fn run_steps(&self, id: FlowRunId) -> BoxFuture<'_, Result<Vec<StepRecord>>> {
        Box::pin(self.run_steps_in(id))
    }

    fn write_step(
        &self,
        id: FlowRunId,
        record: StepRecord,
        lease_owner: Option<String>,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write_step_in(id, record, lease_owner))
    }

    fn request_cancel(&self, id: FlowRunId, now: SystemTime) -> BoxFuture<'_, Result<FlowRun>> {
        Box::pin(self.request_cancel_in(id, now))
    }

    fn resume_interrupted(&self, id: FlowRunId) -> BoxFuture<'_, Result<FlowRun>> {
        Box::pin(self.resume_interrupted_in(id))
    }
}
