//! The SQLite implementation of [`FlowStore`], on the same database, writer connection and
//! reader pool as [`SqliteStore`] (this file is a child module of `sqlite.rs` for that reason).
//! Tables: `flows`, `flow_versions`, `flow_runs`, `flow_step_attempts` (migration 5).
//!
//! Every write is one `BEGIN IMMEDIATE` transaction on the writer, committed with
//! `synchronous = FULL` before it returns: a step attempt is durable when
//! [`FlowStore::write_step`] returns, a run and its seed steps appear together, and a sync flow's
//! runs and its consumed sequence id move together. A run's `seq` (and an attempt's) is an
//! `AUTOINCREMENT` key, so workers take runs oldest first and attempts read back in the order
//! they were first written.

use std::time::SystemTime;

use brickwire_api::SecretString;
use brickwire_flows::{StepError, StepKind, StepRecord, StepStatus};
use futures::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, Row, Transaction};
use serde_json::Value;

use super::{SqliteStore, corrupt, from_ms, to_ms};
use crate::crypto::{Aad, random_token};
use crate::flows::model::{
    Enqueued, Flow, FlowId, FlowRun, FlowRunId, NewRun, RunEnd, RunFilter, RunLease, RunStatus,
};
use crate::flows::store::FlowStore;
use crate::triggers::SubscriptionId;
use crate::{Error, Result};

pub(in crate::store) const FLOW_COLUMNS: &str = "f.id, f.name, f.enabled, f.version, v.definition, f.trigger_type, \
     f.subscription_id, f.created_at, f.updated_at";

pub(in crate::store) const RUN_COLUMNS: &str = "id, flow_id, flow_version, status, trigger, event, replay_of, output, \
     error, cancel_requested, created_at, started_at, finished_at";

pub(in crate::store) const STEP_COLUMNS: &str = "path, step_id, kind, attempt, status, action, account, input, \
     output, error, started_at, finished_at, resume_at";

const TRIGGER_TYPES: &[&str] = &["manual", "schedule", "webhook", "sync"];
pub(in crate::store) const RUN_TRIGGERS: &[&str] =
    &["manual", "schedule", "webhook", "sync", "replay"];

pub(in crate::store) fn secret_aad(id: &FlowId) -> Aad {
    Aad::field("flows", id.as_str(), "webhook_secret")
}

pub(in crate::store) fn parse_json(text: &str, column: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("stored {column} is not JSON: {e}")))
}

pub(in crate::store) fn parse_step_error(text: &str) -> Result<StepError> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("stored step error is unreadable: {e}")))
}

pub(in crate::store) fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("flow values serialize to JSON")
}

/// The name and trigger type a definition declares (the REST layer validated the rest).
pub(in crate::store) fn definition_summary(definition: &Value) -> Result<(String, String)> {
    let name = definition
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::invalid("definition.name", "a flow needs a name"))?;
    if name.chars().count() > 200 {
        return Err(Error::invalid("definition.name", "at most 200 characters"));
    }
    let trigger = definition
        .get("trigger")
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
        .filter(|t| TRIGGER_TYPES.contains(t))
        .ok_or_else(|| {
            Error::invalid(
                "definition.trigger.type",
                "one of manual, schedule, webhook, sync",
            )
        })?;
    Ok((name.to_owned(), trigger.to_owned()))
}

pub(in crate::store) type FlowRow = (
    String,
    String,
    bool,
    i64,
    String,
    String,
    Option<String>,
    i64,
    i64,
);

fn flow_row(row: &Row<'_>) -> rusqlite::Result<FlowRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
    ))
}

pub(in crate::store) fn into_flow(r: FlowRow) -> Result<Flow> {
    Ok(Flow {
        id: FlowId::new(r.0),
        name: r.1,
        enabled: r.2,
        version: r.3,
        definition: parse_json(&r.4, "flow definition")?,
        trigger_type: r.5,
        subscription_id: r.6.map(SubscriptionId::new),
        created_at: from_ms(r.7),
        updated_at: from_ms(r.8),
    })
}

fn query_flows(
    conn: &Connection,
    condition: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Flow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {FLOW_COLUMNS} FROM flows f
         JOIN flow_versions v ON v.flow_id = f.id AND v.version = f.version
         WHERE {condition}"
    ))?;
    let rows = stmt
        .query_map(params, flow_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(into_flow).collect()
}

fn get_flow(conn: &Connection, id: &FlowId) -> Result<Flow> {
    query_flows(conn, "f.id = ?1", &[&id.as_str()])?
        .pop()
        .ok_or_else(|| Error::not_found("flow", id.as_str()))
}

pub(in crate::store) type RunRow = (
    String,
    String,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
    i64,
    Option<i64>,
    Option<i64>,
);

fn run_row(row: &Row<'_>) -> rusqlite::Result<RunRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
        row.get(11)?,
        row.get(12)?,
    ))
}

pub(in crate::store) fn into_run(r: RunRow) -> Result<FlowRun> {
    Ok(FlowRun {
        id: FlowRunId::new(r.0),
        flow_id: FlowId::new(r.1),
        flow_version: r.2,
        status: RunStatus::parse(&r.3)
            .ok_or_else(|| corrupt(format!("unknown run status {}", r.3)))?,
        trigger: r.4,
        event: parse_json(&r.5, "run event")?,
        replay_of: r.6.map(FlowRunId::new),
        output: r.7.map(|o| parse_json(&o, "run output")).transpose()?,
        error: r.8.map(|e| parse_step_error(&e)).transpose()?,
        cancel_requested: r.9,
        created_at: from_ms(r.10),
        started_at: r.11.map(from_ms),
        finished_at: r.12.map(from_ms),
    })
}

fn query_runs(
    conn: &Connection,
    tail: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<FlowRun>> {
    let mut stmt = conn.prepare(&format!("SELECT {RUN_COLUMNS} FROM flow_runs {tail}"))?;
    let rows = stmt
        .query_map(params, run_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(into_run).collect()
}

/// That the run exists and, with `owner`, that the owner holds its lease.
fn check_lease(conn: &Connection, id: &FlowRunId, owner: Option<&str>) -> Result<()> {
    let holder: Option<Option<String>> = conn
        .query_row(
            "SELECT lease_owner FROM flow_runs WHERE id = ?1",
            [id.as_str()],
            |row| row.get(0),
        )
        .optional()?;
    match (holder, owner) {
        (None, _) => Err(Error::not_found("run", id.as_str())),
        (Some(holder), Some(owner)) if holder.as_deref() != Some(owner) => Err(Error::LeaseLost {
            entity: "run",
            id: id.to_string(),
        }),
        _ => Ok(()),
    }
}

fn get_run(conn: &Connection, id: &FlowRunId) -> Result<FlowRun> {
    query_runs(conn, "WHERE id = ?1", &[&id.as_str()])?
        .pop()
        .ok_or_else(|| Error::not_found("run", id.as_str()))
}

pub(in crate::store) type StepRow = (
    String,
    String,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
);

fn step_row(row: &Row<'_>) -> rusqlite::Result<StepRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
        row.get(11)?,
        row.get(12)?,
    ))
}

pub(in crate::store) fn into_step(r: StepRow) -> Result<StepRecord> {
    Ok(StepRecord {
        path: r.0,
        step_id: r.1,
        kind: StepKind::parse(&r.2).ok_or_else(|| corrupt(format!("unknown step kind {}", r.2)))?,
        attempt: r.3.max(0) as u32,
        status: StepStatus::parse(&r.4)
            .ok_or_else(|| corrupt(format!("unknown step status {}", r.4)))?,
        action: r.5,
        account: r.6,
        input: r.7.map(|v| parse_json(&v, "step input")).transpose()?,
        output: r.8.map(|v| parse_json(&v, "step output")).transpose()?,
        error: r.9.map(|e| parse_step_error(&e)).transpose()?,
        started_at: from_ms(r.10),
        finished_at: r.11.map(from_ms),
        resume_at: r.12.map(from_ms),
    })
}

fn steps_of(conn: &Connection, id: &FlowRunId) -> Result<Vec<StepRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {STEP_COLUMNS} FROM flow_step_attempts WHERE run_id = ?1 ORDER BY seq"
    ))?;
    let rows = stmt
        .query_map([id.as_str()], step_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(into_step).collect()
}

/// Inserts or replaces the attempt `(run, path, attempt)`; a replaced row keeps its `seq`.
fn upsert_step(tx: &Transaction<'_>, run: &FlowRunId, r: &StepRecord) -> Result<()> {
    if r.path.is_empty() || r.attempt == 0 {
        return Err(Error::invalid(
            "step",
            "a step attempt needs a path and an attempt number from 1",
        ));
    }
    tx.execute(
        "INSERT INTO flow_step_attempts (run_id, path, attempt, step_id, kind, status, action,
             account, input, output, error, started_at, finished_at, resume_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (run_id, path, attempt) DO UPDATE SET
             step_id = excluded.step_id, kind = excluded.kind, status = excluded.status,
             action = excluded.action, account = excluded.account, input = excluded.input,
             output = excluded.output, error = excluded.error,
             started_at = excluded.started_at, finished_at = excluded.finished_at,
             resume_at = excluded.resume_at",
        rusqlite::params![
            run.as_str(),
            r.path,
            r.attempt,
            r.step_id,
            r.kind.as_str(),
            r.status.as_str(),
            r.action,
            r.account,
            r.input.as_ref().map(json_text),
            r.output.as_ref().map(json_text),
            r.error.as_ref().map(json_text),
            to_ms(r.started_at),
            r.finished_at.map(to_ms),
            r.resume_at.map(to_ms),
        ],
    )?;
    Ok(())
}

fn current_version(tx: &Transaction<'_>, id: &FlowId) -> Result<i64> {
    tx.query_row(
        "SELECT version FROM flows WHERE id = ?1",
        [id.as_str()],
        |row| row.get(0),
    )
    .optional()?
    .ok_or_else(|| Error::not_found("flow", id.as_str()))
}

/// Queues one run in `tx` unless its dedupe key was seen for the flow.
fn insert_run(tx: &Transaction<'_>, run: NewRun, now: i64) -> Result<Enqueued> {
    if !RUN_TRIGGERS.contains(&run.trigger.as_str()) {
        return Err(Error::invalid(
            "trigger",
            "one of manual, schedule, webhook, sync, replay",
        ));
    }
    let current = current_version(tx, &run.flow_id)?;
    let version = run.flow_version.unwrap_or(current);
    let known: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM flow_versions WHERE flow_id = ?1 AND version = ?2)",
        rusqlite::params![run.flow_id.as_str(), version],
        |row| row.get(0),
    )?;
    if !known {
        return Err(Error::invalid(
            "flow_version",
            format!("flow {} has no version {version}", run.flow_id),
        ));
    }
    if let Some(key) = &run.dedupe_key {
        let existing: Option<String> = tx
            .query_row(
                "SELECT id FROM flow_runs WHERE flow_id = ?1 AND dedupe_key = ?2",
                rusqlite::params![run.flow_id.as_str(), key],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(existing) = existing {
            return Ok(Enqueued::Duplicate(FlowRunId::new(existing)));
        }
    }
    let id = FlowRunId::generate();
    tx.execute(
        "INSERT INTO flow_runs (id, flow_id, flow_version, status, trigger, event, dedupe_key,
             replay_of, created_at)
         VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?7, ?8)",
        rusqlite::params![
            id.as_str(),
            run.flow_id.as_str(),
            version,
            run.trigger,
            json_text(&run.event),
            run.dedupe_key,
            run.replay_of.as_ref().map(FlowRunId::as_str),
            now,
        ],
    )?;
    for step in &run.seed_steps {
        upsert_step(tx, &id, step)?;
    }
    Ok(Enqueued::Created(get_run(tx, &id)?))
}

fn delete_runs_where(tx: &Transaction<'_>, condition: &str, param: &str) -> Result<()> {
    tx.execute(
        &format!(
            "DELETE FROM flow_step_attempts WHERE run_id IN (SELECT id FROM flow_runs WHERE {condition})"
        ),
        [param],
    )?;
    tx.execute(&format!("DELETE FROM flow_runs WHERE {condition}"), [param])?;
    Ok(())
}

impl FlowStore for SqliteStore {
    fn insert_flow(&self, definition: Value, enabled: bool) -> BoxFuture<'_, Result<Flow>> {
        Box::pin(self.write(move |tx, inner| {
            let (name, trigger) = definition_summary(&definition)?;
            let id = FlowId::generate();
            let now = to_ms(inner.clock.now());
            let secret = inner
                .cipher
                .seal_secret(&secret_aad(&id), &random_token(""));
            tx.execute(
                "INSERT INTO flows (id, name, enabled, version, trigger_type, webhook_secret,
                     created_at, updated_at)
                 VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?6)",
                rusqlite::params![id.as_str(), name, enabled, trigger, secret, now],
            )?;
            tx.execute(
                "INSERT INTO flow_versions (flow_id, version, definition, created_at)
                 VALUES (?1, 1, ?2, ?3)",
                rusqlite::params![id.as_str(), json_text(&definition), now],
            )?;
            get_flow(tx, &id)
        }))
    }

    fn flow(&self, id: FlowId) -> BoxFuture<'_, Result<Flow>> {
        Box::pin(self.read(move |conn, _| get_flow(conn, &id)))
    }

    fn list_flows(&self) -> BoxFuture<'_, Result<Vec<Flow>>> {
        Box::pin(self.read(|conn, _| query_flows(conn, "1 ORDER BY f.created_at, f.id", &[])))
    }

    fn update_flow(&self, id: FlowId, definition: Value) -> BoxFuture<'_, Result<Flow>> {
        Box::pin(self.write(move |tx, inner| {
            let (name, trigger) = definition_summary(&definition)?;
            let version = current_version(tx, &id)? + 1;
            let now = to_ms(inner.clock.now());
            tx.execute(
                "INSERT INTO flow_versions (flow_id, version, definition, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![id.as_str(), version, json_text(&definition), now],
            )?;
            tx.execute(
                "UPDATE flows SET name = ?1, trigger_type = ?2, version = ?3, updated_at = ?4
                 WHERE id = ?5",
                rusqlite::params![name, trigger, version, now, id.as_str()],
            )?;
            get_flow(tx, &id)
        }))
    }

    fn flow_version(&self, id: FlowId, version: i64) -> BoxFuture<'_, Result<Value>> {
        Box::pin(self.read(move |conn, _| {
            let text: Option<String> = conn
                .query_row(
                    "SELECT definition FROM flow_versions WHERE flow_id = ?1 AND version = ?2",
                    rusqlite::params![id.as_str(), version],
                    |row| row.get(0),
                )
                .optional()?;
            match text {
                Some(text) => parse_json(&text, "flow definition"),
                None => Err(Error::not_found(
                    "flow version",
                    format!("{id} version {version}"),
                )),
            }
        }))
    }

    fn set_flow_enabled(&self, id: FlowId, enabled: bool) -> BoxFuture<'_, Result<Flow>> {
        Box::pin(self.write(move |tx, inner| {
            let changed = tx.execute(
                "UPDATE flows SET enabled = ?1, updated_at = ?2 WHERE id = ?3",
                rusqlite::params![enabled, to_ms(inner.clock.now()), id.as_str()],
            )?;
            if changed == 0 {
                return Err(Error::not_found("flow", id.as_str()));
            }
            get_flow(tx, &id)
        }))
    }

    fn set_flow_subscription(
        &self,
        id: FlowId,
        subscription: Option<SubscriptionId>,
        consumed_seq: i64,
    ) -> BoxFuture<'_, Result<Flow>> {
        Box::pin(self.write(move |tx, inner| {
            let changed = tx.execute(
                "UPDATE flows SET subscription_id = ?1, consumed_seq = ?2, updated_at = ?3
                 WHERE id = ?4",
                rusqlite::params![
                    subscription.as_ref().map(SubscriptionId::as_str),
                    consumed_seq,
                    to_ms(inner.clock.now()),
                    id.as_str()
                ],
            )?;
            if changed == 0 {
                return Err(Error::not_found("flow", id.as_str()));
            }
            get_flow(tx, &id)
        }))
    }

    fn flow_consumed_seq(&self, id: FlowId) -> BoxFuture<'_, Result<i64>> {
        Box::pin(self.read(move |conn, _| {
            conn.query_row(
                "SELECT consumed_seq FROM flows WHERE id = ?1",
                [id.as_str()],
                |row| row.get(0),
            )
            .optional()?
            .ok_or_else(|| Error::not_found("flow", id.as_str()))
        }))
    }

    /// Also deletes the flow's sync subscription (with its events and deliveries) in the same
    /// transaction, so a deleted flow leaves nothing polling behind.
    fn delete_flow(&self, id: FlowId) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write(move |tx, _| {
            let subscription: Option<Option<String>> = tx
                .query_row(
                    "SELECT subscription_id FROM flows WHERE id = ?1",
                    [id.as_str()],
                    |row| row.get(0),
                )
                .optional()?;
            let Some(subscription) = subscription else {
                return Err(Error::not_found("flow", id.as_str()));
            };
            // Explicit deletes rather than relying on the connection's foreign_keys pragma.
            delete_runs_where(tx, "flow_id = ?1", id.as_str())?;
            tx.execute(
                "DELETE FROM flow_versions WHERE flow_id = ?1",
                [id.as_str()],
            )?;
            tx.execute("DELETE FROM flows WHERE id = ?1", [id.as_str()])?;
            if let Some(sub) = subscription {
                for table in ["trigger_deliveries", "trigger_events"] {
                    tx.execute(
                        &format!("DELETE FROM {table} WHERE subscription_id = ?1"),
                        [&sub],
                    )?;
                }
                tx.execute("DELETE FROM trigger_subscriptions WHERE id = ?1", [&sub])?;
            }
            Ok(())
        }))
    }

    fn flow_webhook_secret(&self, id: FlowId) -> BoxFuture<'_, Result<SecretString>> {
        Box::pin(self.read(move |conn, inner| {
            let blob: Vec<u8> = conn
                .query_row(
                    "SELECT webhook_secret FROM flows WHERE id = ?1",
                    [id.as_str()],
                    |row| row.get(0),
                )
                .optional()?
                .ok_or_else(|| Error::not_found("flow", id.as_str()))?;
            inner
                .cipher
                .open_secret(&secret_aad(&id), &blob)
                .map_err(|_| Error::Decrypt {
                    entity: "flow",
                    id: id.to_string(),
                    field: "webhook_secret",
                })
        }))
    }

    fn enqueue_run(&self, run: NewRun) -> BoxFuture<'_, Result<Enqueued>> {
        Box::pin(self.write(move |tx, inner| insert_run(tx, run, to_ms(inner.clock.now()))))
    }

    fn enqueue_sync_events(
        &self,
        id: FlowId,
        events: Vec<(i64, String, Value)>,
    ) -> BoxFuture<'_, Result<Vec<FlowRunId>>> {
        Box::pin(self.write(move |tx, inner| {
            let now = to_ms(inner.clock.now());
            let mut consumed: i64 = tx
                .query_row(
                    "SELECT consumed_seq FROM flows WHERE id = ?1",
                    [id.as_str()],
                    |row| row.get(0),
                )
                .optional()?
                .ok_or_else(|| Error::not_found("flow", id.as_str()))?;
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
                if let Enqueued::Created(run) = insert_run(tx, run, now)? {
                    created.push(run.id);
                }
            }
            tx.execute(
                "UPDATE flows SET consumed_seq = ?1 WHERE id = ?2",
                rusqlite::params![consumed, id.as_str()],
            )?;
            Ok(created)
        }))
    }

    fn claim_runs(
        &self,
        limit: u32,
        busy_flows: Vec<FlowId>,
        now: SystemTime,
        lease: RunLease,
    ) -> BoxFuture<'_, Result<Vec<FlowRun>>> {
        Box::pin(self.write(move |tx, _| {
            if limit == 0 {
                return Ok(Vec::new());
            }
            let now = to_ms(now);
            // The busy list is short (flows at their bound), so a NOT IN over bound parameters.
            let placeholders = (0..busy_flows.len())
                .map(|i| format!("?{}", i + 4))
                .collect::<Vec<_>>()
                .join(", ");
            let condition = if busy_flows.is_empty() {
                String::new()
            } else {
                format!("AND flow_id NOT IN ({placeholders})")
            };
            let busy: Vec<&str> = busy_flows.iter().map(FlowId::as_str).collect();
            let mut params: Vec<&dyn rusqlite::ToSql> = vec![&limit, &now, &lease.owner];
            for f in &busy {
                params.push(f);
            }
            let ids: Vec<String> = {
                let mut stmt = tx.prepare(&format!(
                    "SELECT id FROM flow_runs
                     WHERE (status = 'queued'
                            OR (status = 'running' AND lease_expires_at < ?2
                                AND lease_owner IS NOT ?3))
                       {condition}
                     ORDER BY seq LIMIT ?1"
                ))?;
                stmt.query_map(params.as_slice(), |row| row.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            let mut claimed = Vec::with_capacity(ids.len());
            for id in ids {
                tx.execute(
                    "UPDATE flow_runs SET status = 'running', started_at = COALESCE(started_at, ?1),
                            lease_owner = ?2, lease_expires_at = ?3
                     WHERE id = ?4",
                    rusqlite::params![now, lease.owner, to_ms(lease.expires_at), id],
                )?;
                claimed.push(get_run(tx, &FlowRunId::new(id))?);
            }
            Ok(claimed)
        }))
    }

    fn recover_running_runs(&self, _now: SystemTime) -> BoxFuture<'_, Result<u64>> {
        // One process per data directory: whatever is running was the previous process's.
        Box::pin(self.write(|tx, _| {
            let n = tx.execute(
                "UPDATE flow_runs SET status = 'queued', lease_owner = NULL,
                        lease_expires_at = NULL
                 WHERE status = 'running'",
                [],
            )?;
            Ok(n as u64)
        }))
    }

    fn renew_run_leases(&self, lease: RunLease) -> BoxFuture<'_, Result<Vec<FlowRunId>>> {
        Box::pin(self.write(move |tx, _| {
            let mut stmt = tx.prepare(
                "UPDATE flow_runs SET lease_expires_at = ?1
                 WHERE status = 'running' AND lease_owner = ?2
                 RETURNING id",
            )?;
            let ids = stmt
                .query_map(
                    rusqlite::params![to_ms(lease.expires_at), lease.owner],
                    |row| row.get::<_, String>(0),
                )?
                .map(|id| id.map(FlowRunId::new))
                .collect::<rusqlite::Result<_>>()?;
            Ok(ids)
        }))
    }

    fn release_run_leases(&self, owner: String) -> BoxFuture<'_, Result<u64>> {
        Box::pin(self.write(move |tx, _| {
            let n = tx.execute(
                "UPDATE flow_runs SET status = 'queued', lease_owner = NULL,
                        lease_expires_at = NULL
                 WHERE status = 'running' AND lease_owner = ?1",
                [&owner],
            )?;
            Ok(n as u64)
        }))
    }

    fn finish_run(
        &self,
        id: FlowRunId,
        end: RunEnd,
        now: SystemTime,
        lease_owner: Option<String>,
    ) -> BoxFuture<'_, Result<FlowRun>> {
        Box::pin(self.write(move |tx, _| {
            check_lease(tx, &id, lease_owner.as_deref())?;
            let run = get_run(tx, &id)?;
            if run.status.is_final() {
                return Err(Error::invalid(
                    "status",
                    format!("run {id} already ended {}", run.status.as_str()),
                ));
            }
            let (status, output, error) = match &end {
                RunEnd::Succeeded(output) => (RunStatus::Succeeded, Some(json_text(output)), None),
                RunEnd::Failed(error) => (RunStatus::Failed, None, Some(json_text(error))),
                RunEnd::Interrupted(error) => {
                    (RunStatus::Interrupted, None, Some(json_text(error)))
                }
                RunEnd::Cancelled => (RunStatus::Cancelled, None, None),
            };
            tx.execute(
                "UPDATE flow_runs SET status = ?1, output = ?2, error = ?3, finished_at = ?4,
                        lease_owner = NULL, lease_expires_at = NULL
                 WHERE id = ?5",
                rusqlite::params![status.as_str(), output, error, to_ms(now), id.as_str()],
            )?;
            get_run(tx, &id)
        }))
    }

    fn run(&self, id: FlowRunId) -> BoxFuture<'_, Result<FlowRun>> {
        Box::pin(self.read(move |conn, _| get_run(conn, &id)))
    }

    fn list_runs(&self, filter: RunFilter) -> BoxFuture<'_, Result<Vec<FlowRun>>> {
        Box::pin(self.read(move |conn, _| {
            let limit = filter.limit.unwrap_or(50);
            if !(1..=500).contains(&limit) {
                return Err(Error::invalid("limit", "between 1 and 500"));
            }
            let mut conditions = Vec::new();
            let mut params: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
            let mut bind = |sql: &str, value: Box<dyn rusqlite::ToSql>| {
                params.push(value);
                conditions.push(sql.replace('?', &format!("?{}", params.len())));
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
                    .query_row(
                        "SELECT seq FROM flow_runs WHERE id = ?1",
                        [after.as_str()],
                        |row| row.get(0),
                    )
                    .optional()?
                    .ok_or_else(|| Error::invalid("after", format!("no run {after}")))?;
                bind("seq < ?", Box::new(seq));
            }
            params.push(Box::new(limit));
            let limit_param = params.len();
            let where_clause = if conditions.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conditions.join(" AND "))
            };
            let refs: Vec<&dyn rusqlite::ToSql> = params.iter().map(|p| p.as_ref()).collect();
            query_runs(
                conn,
                &format!("{where_clause} ORDER BY seq DESC LIMIT ?{limit_param}"),
                &refs,
            )
        }))
    }

    fn run_steps(&self, id: FlowRunId) -> BoxFuture<'_, Result<Vec<StepRecord>>> {
        Box::pin(self.read(move |conn, _| {
            let exists: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM flow_runs WHERE id = ?1)",
                [id.as_str()],
                |row| row.get(0),
            )?;
            if !exists {
                return Err(Error::not_found("run", id.as_str()));
            }
            steps_of(conn, &id)
        }))
    }

    fn write_step(
        &self,
        id: FlowRunId,
        record: StepRecord,
        lease_owner: Option<String>,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write(move |tx, _| {
            check_lease(tx, &id, lease_owner.as_deref())?;
            upsert_step(tx, &id, &record)
        }))
    }

    fn request_cancel(&self, id: FlowRunId, now: SystemTime) -> BoxFuture<'_, Result<FlowRun>> {
        Box::pin(self.write(move |tx, _| {
            let run = get_run(tx, &id)?;
            match run.status {
                RunStatus::Queued | RunStatus::Interrupted => {
                    tx.execute(
                        "UPDATE flow_runs SET status = 'cancelled', finished_at = ?1 WHERE id = ?2",
                        rusqlite::params![to_ms(now), id.as_str()],
                    )?;
                }
                RunStatus::Running => {
                    tx.execute(
                        "UPDATE flow_runs SET cancel_requested = 1 WHERE id = ?1",
                        [id.as_str()],
                    )?;
                }
                status => {
                    return Err(Error::invalid(
                        "status",
                        format!("run {id} already ended {}", status.as_str()),
                    ));
                }
            }
            get_run(tx, &id)
        }))
    }

    fn resume_interrupted(&self, id: FlowRunId) -> BoxFuture<'_, Result<FlowRun>> {
        Box::pin(self.write(move |tx, _| {
            let run = get_run(tx, &id)?;
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
                 WHERE run_id = ?1 AND status = 'running'",
                [id.as_str()],
            )?;
            tx.execute(
                "UPDATE flow_runs SET status = 'queued', error = NULL, finished_at = NULL
                 WHERE id = ?1",
                [id.as_str()],
            )?;
            get_run(tx, &id)
        }))
    }
}
