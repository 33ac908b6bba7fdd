//! [`FlowEngine`]: executes queued runs with bounded concurrency (per flow, from the
//! definition's `concurrency`, and in total), recovers runs of a dead process at start, and runs
//! the triggers that queue runs (schedules, sync subscriptions). The REST layer uses only
//! [`FlowEngineHandle`] and [`replay_run`].
//!
//! Like the trigger engine, it is a state machine over stored rows: a run's status and its step
//! journal are in the [`FlowStore`], and the engine's memory holds only what is executing now
//! (a cancel token per run), compiled definitions, and trigger timing. So a process killed at
//! any point loses nothing: at start [`FlowStore::recover_running_runs`] queues again every run
//! it was executing, and the executor resumes each from its journal (completed steps are not run
//! again; see `brickwire_flows::engine` for the rules of the step in flight).
//!
//! Several engines (service replicas) on one database share the runs by lease: each engine has
//! a random owner id, claims runs under a lease of [`FlowEngineOptions::run_lease`], renews the
//! leases of what it executes every third of that, and claims the runs of another owner whose
//! lease expired (a replica that died). An engine that finds a lease of its own gone (it stalled
//! longer than the lease and another took the run over) drops that run as if it had crashed;
//! its journal writes are refused from the moment the lease changed hands. A graceful shutdown
//! hands its runs back at once ([`FlowEngineTask::shutdown`]).
//!
//! Triggers:
//! - schedule: each tick of the cron expression (in its time zone) queues one run with
//!   `dedupe_key = "schedule:<RFC 3339 tick>"`, so a second replica or a restart within the tick
//!   never doubles it. Ticks missed while the service was down are not caught up.
//! - sync: the flow gets a pull subscription in the [`TriggerStore`] (created on enable, reused
//!   while its account, source and interval stay the same, paused on disable, deleted with the
//!   flow); the running [`TriggerEngine`] polls it, and a consumer here turns its events into
//!   runs with [`FlowStore::enqueue_sync_events`] (one run per event id, the consumed sequence id
//!   moving in the same transaction).
//! - manual and webhook runs are queued by the REST routes ([`FlowStore::enqueue_run`], then
//!   [`FlowEngineHandle::wake`]).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use brickwire_client::http::{Clock, TokioClock};
use brickwire_connector::Catalog;
use brickwire_flows::definition::FlowDefinition;
use brickwire_flows::{
    CompiledFlow, Executor, ExecutorOptions, FlowError, RunContext, RunJournal, RunOutcome,
    StepError, StepRecord, Trigger,
};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::model::{
    Enqueued, Flow, FlowId, FlowRun, FlowRunId, NewRun, RunEnd, RunLease, RunStatus,
};
use super::runner::AccountRunner;
use super::store::FlowStore;
use crate::accounts::AccountClients;
use crate::triggers::{
    NewSubscription, Subscription, SubscriptionId, SubscriptionPatch, TriggerEngine, TriggerStore,
};

/// A flow's `concurrency` when its definition does not set one.
pub const DEFAULT_FLOW_CONCURRENCY: u32 = 4;

/// A sync trigger's poll interval when its definition does not set one.
pub const DEFAULT_SYNC_POLL_SECONDS: u64 = 60;

/// Settings of the engine.
#[derive(Debug, Clone)]
pub struct FlowEngineOptions {
    /// Runs executing at once in this process, over every flow (default 16).
    pub max_concurrent_runs: u32,
    /// How often workers look for queued runs when nothing woke them (default 1 s).
    pub tick: Duration,
    /// How often schedules are checked and sync subscriptions' new events read (default 1 s).
    pub trigger_tick: Duration,
    /// How often every flow's trigger is reloaded from the store (default 30 s), to pick up
    /// flows deployed by another process (`brickwire flow deploy` on the data dir).
    pub reload_every: Duration,
    /// How long a claimed run stays this engine's without a renewal (default 30 s): another
    /// replica takes over a run of a dead one after at most this (plus its `tick`). Leases are
    /// renewed every third of it.
    pub run_lease: Duration,
    /// Wall time of schedule ticks, of run timestamps and of leases (injectable for tests).
    pub clock: Arc<dyn Clock>,
    /// The executor's clock, randomness and expression bounds.
    pub executor: ExecutorOptions,
}

impl Default for FlowEngineOptions {
    fn default() -> Self {
        Self {
            max_concurrent_runs: 16,
            tick: Duration::from_secs(1),
            trigger_tick: Duration::from_secs(1),
            reload_every: Duration::from_secs(30),
            run_lease: Duration::from_secs(30),
            clock: Arc::new(TokioClock),
            executor: ExecutorOptions::default(),
        }
    }
}

/// What the REST layer asks of a running engine.
pub trait FlowEngineHandle: Send + Sync {
    /// New queued runs may exist: look now instead of at the next tick.
    fn wake(&self);
    /// A flow was created, changed, enabled, disabled or deleted: reload its trigger
    /// (schedule, sync subscription).
    fn flow_changed(&self, id: &FlowId);
    /// Stop the run if this process executes it (its cancel token fires).
    fn cancel_running(&self, id: &FlowRunId);
}

/// Queues a replay of `run_id`: a new run of the same flow version and event
/// (`trigger = "replay"`, `replay_of` = the old run) seeded with the old run's succeeded step
/// attempts, so the executor starts again at the step that failed (and in a `for_each`, only
/// at the iterations that failed). Only failed and cancelled runs are replayed
/// ([`crate::Error::InvalidInput`] with field `status` otherwise). Call
/// [`FlowEngineHandle::wake`] after it.
pub async fn replay_run(store: &dyn FlowStore, run_id: FlowRunId) -> crate::Result<FlowRun> {
    let old = store.run(run_id.clone()).await?;
    if !matches!(old.status, RunStatus::Failed | RunStatus::Cancelled) {
        return Err(crate::Error::InvalidInput {
            field: "status",
            message: format!(
                "only failed or cancelled runs are replayed; run {run_id} is {}",
                old.status.as_str()
            ),
        });
    }
    let seed_steps: Vec<StepRecord> = store
        .run_steps(run_id.clone())
        .await?
        .into_iter()
        .filter(|r| r.status == brickwire_flows::StepStatus::Succeeded)
        .collect();
    let new = NewRun {
        flow_id: old.flow_id.clone(),
        flow_version: Some(old.flow_version),
        trigger: "replay".into(),
        event: old.event.clone(),
        dedupe_key: None,
        replay_of: Some(old.id.clone()),
        seed_steps,
    };
    match store.enqueue_run(new).await? {
        Enqueued::Created(run) => Ok(run),
        // No dedupe key: cannot happen; read the run it names.
        Enqueued::Duplicate(id) => store.run(id).await,
    }
}

/// A run's journal in the [`FlowStore`]: each write commits before it returns, and only while
/// `owner` holds the run's lease.
struct StoreJournal {
    store: Arc<dyn FlowStore>,
    run: FlowRunId,
    owner: String,
}

impl RunJournal for StoreJournal {
    fn records(&self) -> BoxFuture<'_, Result<Vec<StepRecord>, FlowError>> {
        Box::pin(async move {
            self.store
                .run_steps(self.run.clone())
                .await
                .map_err(|e| FlowError::Journal(e.to_string()))
        })
    }

    fn write(&self, record: StepRecord) -> BoxFuture<'_, Result<(), FlowError>> {
        Box::pin(async move {
            self.store
                .write_step(self.run.clone(), record, Some(self.owner.clone()))
                .await
                .map_err(|e| FlowError::Journal(e.to_string()))
        })
    }
}

/// One run this process executes.
struct Running {
    flow: FlowId,
    concurrency: u32,
    cancel: CancellationToken,
}

/// A schedule trigger's state: the expression and the last time checked.
struct Schedule {
    cron: croner::Cron,
    timezone: chrono_tz::Tz,
    /// Ticks after this are due (ticks at or before it were queued, or passed while down).
    checked_up_to: DateTime<Utc>,
}

struct Inner {
    /// This engine's lease owner id.
    owner: String,
    store: Arc<dyn FlowStore>,
    trigger_store: Arc<dyn TriggerStore>,
    triggers: std::sync::OnceLock<TriggerEngine>,
    runner: Arc<AccountRunner>,
    options: FlowEngineOptions,
    wake: Notify,
    running: Mutex<HashMap<FlowRunId, Running>>,
    tasks: Mutex<HashMap<FlowRunId, JoinHandle<()>>>,
    compiled: Mutex<HashMap<(FlowId, i64), Arc<CompiledFlow>>>,
    schedules: Mutex<HashMap<FlowId, Schedule>>,
    syncs: Mutex<HashMap<FlowId, SubscriptionId>>,
    /// Serializes trigger reloads, so two quick changes of a flow apply in order.
    reload_lock: tokio::sync::Mutex<()>,
}

/// The engine; cheap to clone.
#[derive(Clone)]
pub struct FlowEngine {
    inner: Arc<Inner>,
}

impl fmt::Debug for FlowEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowEngine")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// The running engine's tasks; [`FlowEngineTask::stop`] stops them (runs in flight stay
/// `running` in the store and resume at the next start, or on another replica once their lease
/// expires); [`FlowEngineTask::shutdown`] also hands them back at once.
#[derive(Debug)]
pub struct FlowEngineTask {
    engine: FlowEngine,
    tasks: Vec<JoinHandle<()>>,
}

impl FlowEngineTask {
    /// Aborts dispatching, triggers and every run task of this process; returns the run tasks.
    fn abort_all(&self) -> Vec<JoinHandle<()>> {
        for task in &self.tasks {
            task.abort();
        }
        let runs: Vec<JoinHandle<()>> = self
            .engine
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, t)| t)
            .collect();
        for task in &runs {
            task.abort();
        }
        runs
    }

    /// Stops dispatching, triggers and every run task of this process.
    pub fn stop(self) {
        self.abort_all();
    }

    /// Stops like [`FlowEngineTask::stop`], waits for the run tasks to end, then queues the
    /// runs this engine held again so another replica resumes them now, not after the lease.
    pub async fn shutdown(self) {
        for task in self.abort_all() {
            let _ = task.await;
        }
        let inner = &self.engine.inner;
        match inner.store.release_run_leases(inner.owner.clone()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(runs = n, "handed flow runs back for another replica"),
            Err(e) => tracing::warn!(error = %e, "cannot hand flow runs back; their leases expire"),
        }
    }
}

impl FlowEngine {
    /// An engine over the flow store, the trigger store (sync flows' subscriptions) and the
    /// service's linked-account clients.
    pub fn new(
        store: Arc<dyn FlowStore>,
        trigger_store: Arc<dyn TriggerStore>,
        accounts: AccountClients,
        options: FlowEngineOptions,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                owner: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()),
                store,
                trigger_store,
                triggers: std::sync::OnceLock::new(),
                runner: Arc::new(AccountRunner::new(accounts)),
                options,
                wake: Notify::new(),
                running: Mutex::new(HashMap::new()),
                tasks: Mutex::new(HashMap::new()),
                compiled: Mutex::new(HashMap::new()),
                schedules: Mutex::new(HashMap::new()),
                syncs: Mutex::new(HashMap::new()),
                reload_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The same engine telling `triggers` (the running trigger engine) about the subscriptions
    /// it creates, changes and deletes, as the subscription routes do. Call before
    /// [`FlowEngine::start`].
    pub fn with_trigger_engine(self, triggers: TriggerEngine) -> Self {
        if self.inner.triggers.set(triggers).is_err() {
            tracing::warn!("the flow engine already has a trigger engine; keeping the first");
        }
        self
    }

    /// The flow store.
    pub fn store(&self) -> &Arc<dyn FlowStore> {
        &self.inner.store
    }

    /// Recovers the runs of a dead process (back to queued; they resume from their journal),
    /// loads every flow's trigger, and starts the workers and the trigger loop.
    pub async fn start(&self) -> crate::Result<FlowEngineTask> {
        let recovered = self.inner.store.recover_running_runs(self.now()).await?;
        if recovered > 0 {
            tracing::info!(runs = recovered, "resuming flow runs of a previous process");
        }
        self.reload_all().await;
        let dispatcher = {
            let engine = self.clone();
            tokio::spawn(async move { engine.dispatch_loop().await })
        };
        let triggers = {
            let engine = self.clone();
            tokio::spawn(async move { engine.trigger_loop().await })
        };
        let heartbeat = {
            let engine = self.clone();
            tokio::spawn(async move { engine.heartbeat_loop().await })
        };
        Ok(FlowEngineTask {
            engine: self.clone(),
            tasks: vec![dispatcher, triggers, heartbeat],
        })
    }

    /// Queues a replay of a failed or cancelled run (see [`replay_run`]) and wakes the workers.
    pub async fn replay(&self, run_id: FlowRunId) -> crate::Result<FlowRun> {
        let run = replay_run(self.inner.store.as_ref(), run_id).await?;
        self.wake();
        Ok(run)
    }

    /// How many runs this process executes now.
    pub fn running_count(&self) -> usize {
        self.running().len()
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<FlowRunId, Running>> {
        self.inner.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> SystemTime {
        self.inner.options.clock.system_time()
    }

    /// This engine's id on the runs it claims (a random id per engine).
    pub fn lease_owner(&self) -> &str {
        &self.inner.owner
    }

    /// A lease from now.
    fn lease(&self) -> RunLease {
        RunLease {
            owner: self.inner.owner.clone(),
            expires_at: self.now() + self.inner.options.run_lease,
        }
    }

    async fn heartbeat_loop(&self) {
        let every = (self.inner.options.run_lease / 3).max(Duration::from_millis(10));
        loop {
            tokio::time::sleep(every).await;
            self.renew_leases().await;
        }
    }

    /// Renews the leases of the runs this engine executes; drops each run whose lease another
    /// engine took over (it stalled past the lease), as a crash would.
    async fn renew_leases(&self) {
        // Only runs registered before the renewal: a claim committed before it is listed.
        let held: Vec<FlowRunId> = self.running().keys().cloned().collect();
        if held.is_empty() {
            return;
        }
        let renewed: HashSet<FlowRunId> =
            match self.inner.store.renew_run_leases(self.lease()).await {
                Ok(renewed) => renewed.into_iter().collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot renew the leases of flow runs");
                    return;
                }
            };
        for id in held.into_iter().filter(|id| !renewed.contains(id)) {
            // A run that ended since the snapshot is not listed either; its task is done.
            let task = self
                .inner
                .tasks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            if let Some(task) = task.filter(|t| !t.is_finished()) {
                task.abort();
                tracing::warn!(run = %id, "another replica took over this flow run; dropped it");
            }
            self.running().remove(&id);
        }
    }

    async fn dispatch_loop(&self) {
        loop {
            self.dispatch().await;
            tokio::select! {
                _ = tokio::time::sleep(self.inner.options.tick) => {}
                _ = self.inner.wake.notified() => {}
            }
        }
    }

    /// Claims queued runs while there is room, one at a time: each claim skips the flows
    /// already at their bound, counting the run just claimed.
    async fn dispatch(&self) {
        loop {
            let busy = {
                let running = self.running();
                if running.len() >= self.inner.options.max_concurrent_runs.max(1) as usize {
                    return;
                }
                let mut per_flow: HashMap<&FlowId, (u32, u32)> = HashMap::new();
                for r in running.values() {
                    let entry = per_flow.entry(&r.flow).or_insert((0, r.concurrency));
                    entry.0 += 1;
                }
                per_flow
                    .into_iter()
                    .filter(|(_, (n, bound))| n >= bound)
                    .map(|(f, _)| f.clone())
                    .collect::<Vec<_>>()
            };
            let claimed = match self
                .inner
                .store
                .claim_runs(1, busy, self.now(), self.lease())
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim queued flow runs");
                    return;
                }
            };
            let Some(run) = claimed.into_iter().next() else {
                return;
            };
            self.start_run(run).await;
        }
    }

    /// Registers the run (so the dispatcher counts it at once) and spawns its execution.
    async fn start_run(&self, run: FlowRun) {
        let compiled = self.compiled(&run.flow_id, run.flow_version).await;
        let concurrency = match &compiled {
            Ok(flow) => flow
                .definition
                .concurrency
                .unwrap_or(DEFAULT_FLOW_CONCURRENCY)
                .max(1),
            Err(_) => 1,
        };
        let cancel = CancellationToken::new();
        self.running().insert(
            run.id.clone(),
            Running {
                flow: run.flow_id.clone(),
                concurrency,
                cancel: cancel.clone(),
            },
        );
        let engine = self.clone();
        let id = run.id.clone();
        // Hold the task map's lock across the spawn so the task cannot remove itself first.
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
        let task = tokio::spawn(async move {
            let id = run.id.clone();
            engine.execute(run, compiled, cancel).await;
            engine.running().remove(&id);
            engine
                .inner
                .tasks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            engine.inner.wake.notify_one();
        });
        tasks.insert(id, task);
    }

    async fn execute(
        &self,
        run: FlowRun,
        compiled: Result<Arc<CompiledFlow>, StepError>,
        cancel: CancellationToken,
    ) {
        let store = &self.inner.store;
        // The run is registered now, so a cancel from here on fires the token; one asked for
        // before (between the claim and the registration, or before a crash) is in the store.
        let cancel_asked = match store.run(run.id.clone()).await {
            Ok(current) => current.cancel_requested,
            Err(e) => {
                tracing::warn!(run = %run.id, error = %e, "cannot read the claimed run");
                return;
            }
        };
        let end = if cancel_asked {
            RunEnd::Cancelled
        } else {
            match compiled {
                Err(error) => RunEnd::Failed(error),
                Ok(flow) => {
                    let executor = Executor::new(
                        flow,
                        self.inner.runner.clone(),
                        self.inner.options.executor.clone(),
                    );
                    let ctx = RunContext {
                        run_id: run.id.to_string(),
                        flow_id: run.flow_id.to_string(),
                        flow_version: run.flow_version,
                        event: run.event.clone(),
                        created_at: run.created_at,
                    };
                    let journal = StoreJournal {
                        store: store.clone(),
                        run: run.id.clone(),
                        owner: self.inner.owner.clone(),
                    };
                    match executor.execute(&ctx, &journal, &cancel).await {
                        RunOutcome::Succeeded { output } => RunEnd::Succeeded(output),
                        RunOutcome::Failed { error } => RunEnd::Failed(error),
                        RunOutcome::Interrupted { path, reason } => {
                            let step = path.rsplit('.').next().unwrap_or(&path);
                            let step = step.split('[').next().unwrap_or(step);
                            RunEnd::Interrupted(
                                StepError::new(
                                    "INTERRUPTED",
                                    format!(
                                        "step `{path}` was in flight when the service stopped \
                                         and is not safe to repeat ({reason}); resume the run \
                                         to run it again, or cancel it"
                                    ),
                                    false,
                                )
                                .at_step(step),
                            )
                        }
                        RunOutcome::Cancelled => RunEnd::Cancelled,
                    }
                }
            }
        };
        let status = match &end {
            RunEnd::Succeeded(_) => "succeeded",
            RunEnd::Failed(_) => "failed",
            RunEnd::Interrupted(_) => "interrupted",
            RunEnd::Cancelled => "cancelled",
        };
        match store
            .finish_run(
                run.id.clone(),
                end,
                self.now(),
                Some(self.inner.owner.clone()),
            )
            .await
        {
            Ok(_) => tracing::debug!(run = %run.id, status, "flow run ended"),
            Err(crate::Error::LeaseLost { .. }) => {
                tracing::warn!(run = %run.id, "another replica took over this flow run")
            }
            // Deleted with its flow meanwhile, or the store failed: a restart recovers it.
            Err(e) => tracing::warn!(run = %run.id, error = %e, "cannot record the end of a run"),
        }
    }

    /// The compiled definition of a flow version (cached: versions never change).
    async fn compiled(&self, flow: &FlowId, version: i64) -> Result<Arc<CompiledFlow>, StepError> {
        let key = (flow.clone(), version);
        if let Some(c) = self
            .inner
            .compiled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(c.clone());
        }
        let definition = self
            .inner
            .store
            .flow_version(flow.clone(), version)
            .await
            .map_err(|e| {
                StepError::new(
                    "INVALID_FLOW",
                    format!("cannot load flow {flow} version {version}: {e}"),
                    true,
                )
            })?;
        let compiled = compile(definition).map_err(|message| {
            StepError::new(
                "INVALID_FLOW",
                format!("flow {flow} version {version} is not valid: {message}"),
                false,
            )
        })?;
        let compiled = Arc::new(compiled);
        self.inner
            .compiled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, compiled.clone());
        Ok(compiled)
    }

    async fn trigger_loop(&self) {
        let mut last_reload = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.inner.options.trigger_tick).await;
            if last_reload.elapsed() >= self.inner.options.reload_every {
                last_reload = tokio::time::Instant::now();
                self.reload_all().await;
            }
            self.schedule_tick().await;
            self.consume_sync_events().await;
        }
    }

    /// Reloads the trigger of every stored flow, and forgets flows that are gone.
    pub async fn reload_all(&self) {
        let flows = match self.inner.store.list_flows().await {
            Ok(flows) => flows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list flows");
                return;
            }
        };
        let known: Vec<FlowId> = {
            let schedules = self
                .inner
                .schedules
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let syncs = self.inner.syncs.lock().unwrap_or_else(|e| e.into_inner());
            schedules.keys().chain(syncs.keys()).cloned().collect()
        };
        for gone in known
            .iter()
            .filter(|id| !flows.iter().any(|f| &f.id == *id))
        {
            self.reload_flow(gone).await;
        }
        for flow in &flows {
            self.reload_flow(&flow.id).await;
        }
    }

    /// Reloads one flow's trigger from the store: a schedule starts, changes or stops; a sync
    /// flow's subscription is created, reused, changed, paused or deleted.
    pub async fn reload_flow(&self, id: &FlowId) {
        let _serial = self.inner.reload_lock.lock().await;
        let flow = match self.inner.store.flow(id.clone()).await {
            Ok(flow) => Some(flow),
            Err(e) if e.is_not_found() => None,
            Err(e) => {
                tracing::warn!(flow = %id, error = %e, "cannot load the flow's trigger");
                return;
            }
        };
        let definition = flow
            .as_ref()
            .and_then(|f| FlowDefinition::from_value(f.definition.clone()).ok());
        self.reload_schedule(id, flow.as_ref(), definition.as_ref());
        if let Err(e) = self
            .reload_sync(id, flow.as_ref(), definition.as_ref())
            .await
        {
            tracing::warn!(flow = %id, error = %e, "cannot set up the flow's sync subscription");
        }
    }

    fn reload_schedule(&self, id: &FlowId, flow: Option<&Flow>, def: Option<&FlowDefinition>) {
        let mut schedules = self
            .inner
            .schedules
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let wanted = match (flow, def.map(|d| &d.trigger)) {
            (Some(flow), Some(Trigger::Schedule { cron, timezone })) if flow.enabled => {
                match parse_schedule(cron, timezone.as_deref()) {
                    Ok(parsed) => Some(parsed),
                    Err(message) => {
                        tracing::warn!(flow = %id, %message, "the flow's schedule is not valid");
                        None
                    }
                }
            }
            _ => None,
        };
        match wanted {
            Some((cron, timezone)) => {
                let now = DateTime::<Utc>::from(self.now());
                let checked_up_to = schedules.get(id).map_or(now, |s| s.checked_up_to);
                schedules.insert(
                    id.clone(),
                    Schedule {
                        cron,
                        timezone,
                        checked_up_to,
                    },
                );
            }
            None => {
                schedules.remove(id);
            }
        }
    }

    async fn reload_sync(
        &self,
        id: &FlowId,
        flow: Option<&Flow>,
        def: Option<&FlowDefinition>,
    ) -> Result<(), String> {
        let triggers = &self.inner.trigger_store;
        let current = match flow.and_then(|f| f.subscription_id.clone()) {
            Some(sub) => match triggers.subscription(sub).await {
                Ok(s) => Some(s),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e.to_string()),
            },
            None => None,
        };
        let Some(flow) = flow else {
            // Deleted: the store deleted its subscription with it; forget it here.
            let known = self.syncs().remove(id);
            if let Some(sub) = known {
                match triggers.delete_subscription(sub).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e.to_string()),
                }
                self.reload_triggers().await;
            }
            return Ok(());
        };
        let wanted = match def.map(|d| (&d.trigger, d)) {
            Some((
                Trigger::Sync {
                    account,
                    source,
                    start_from,
                    poll_interval_seconds,
                },
                d,
            )) => Some((
                account.clone().or_else(|| d.account.clone()),
                source.clone(),
                start_from.clone().unwrap_or_else(|| json!("now")),
                Duration::from_secs(
                    poll_interval_seconds
                        .unwrap_or(DEFAULT_SYNC_POLL_SECONDS)
                        .max(1),
                ),
            )),
            _ => None,
        };
        let Some((account, source, start_from, interval)) = wanted else {
            // Not (or no longer) a sync flow.
            self.syncs().remove(id);
            if let Some(sub) = current {
                triggers
                    .delete_subscription(sub.id)
                    .await
                    .map_err(|e| e.to_string())?;
                self.inner
                    .store
                    .set_flow_subscription(id.clone(), None, 0)
                    .await
                    .map_err(|e| e.to_string())?;
                self.reload_triggers().await;
            }
            return Ok(());
        };
        if !flow.enabled {
            self.syncs().remove(id);
            if let Some(sub) = current.filter(|s| !s.paused) {
                set_paused(triggers.as_ref(), &sub, true).await?;
                self.reload_triggers().await;
            }
            return Ok(());
        }
        let account =
            account.ok_or("a sync trigger needs an account (the trigger's or the flow's)")?;
        let linked = self
            .inner
            .runner
            .resolve(&account)
            .await
            .map_err(|e| e.message)?;
        let reusable = current.filter(|s| {
            s.linked_account_id == linked
                && s.source == source
                && s.start_from == start_from
                && s.poll_interval == interval
        });
        let sub = match reusable {
            Some(sub) => {
                if sub.paused {
                    set_paused(triggers.as_ref(), &sub, false).await?;
                    self.reload_triggers().await;
                }
                sub.id
            }
            None => {
                if let Some(engine) = self.inner.triggers.get()
                    && let Err(invalid) = engine.poller().validate(&source, &start_from)
                {
                    return Err(format!(
                        "trigger.{}: {}",
                        invalid.field.trim_start_matches("source."),
                        invalid.message
                    ));
                }
                if let Some(old) = flow.subscription_id.clone() {
                    match triggers.delete_subscription(old).await {
                        Ok(()) => {}
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(e.to_string()),
                    }
                }
                let created = triggers
                    .insert_subscription(NewSubscription {
                        linked_account_id: linked,
                        source,
                        start_from,
                        poll_interval: interval,
                        overlap: None,
                        webhook: None,
                        max_attempts: 1,
                        paused: false,
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                self.inner
                    .store
                    .set_flow_subscription(id.clone(), Some(created.id.clone()), 0)
                    .await
                    .map_err(|e| e.to_string())?;
                self.reload_triggers().await;
                tracing::info!(flow = %id, subscription = %created.id, "sync flow subscribed");
                created.id
            }
        };
        self.syncs().insert(id.clone(), sub);
        Ok(())
    }

    fn syncs(&self) -> std::sync::MutexGuard<'_, HashMap<FlowId, SubscriptionId>> {
        self.inner.syncs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the running trigger engine re-read its subscriptions (as the subscription routes
    /// do after a change).
    async fn reload_triggers(&self) {
        if let Some(engine) = self.inner.triggers.get()
            && let Err(e) = engine.reload().await
        {
            tracing::warn!(error = %e, "cannot reload the trigger engine's subscriptions");
        }
    }

    /// Queues a run for every schedule tick since the last check.
    async fn schedule_tick(&self) {
        let now = DateTime::<Utc>::from(self.now());
        let mut due: Vec<(FlowId, DateTime<Utc>)> = Vec::new();
        {
            let mut schedules = self
                .inner
                .schedules
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for (id, s) in schedules.iter_mut() {
                due.extend(
                    ticks_between(&s.cron, s.timezone, s.checked_up_to, now, 100)
                        .into_iter()
                        .map(|t| (id.clone(), t)),
                );
                s.checked_up_to = now;
            }
        }
        let mut queued = false;
        for (flow, tick) in due {
            let at = tick.to_rfc3339_opts(SecondsFormat::Secs, true);
            let run = NewRun {
                flow_id: flow.clone(),
                flow_version: None,
                trigger: "schedule".into(),
                event: json!({ "scheduled_at": at }),
                dedupe_key: Some(format!("schedule:{at}")),
                replay_of: None,
                seed_steps: Vec::new(),
            };
            match self.inner.store.enqueue_run(run).await {
                Ok(Enqueued::Created(_)) => queued = true,
                Ok(Enqueued::Duplicate(_)) => {}
                Err(e) => tracing::warn!(flow = %flow, error = %e, "cannot queue a scheduled run"),
            }
        }
        if queued {
            self.wake();
        }
    }

    /// Turns new events of every sync flow's subscription into runs.
    pub async fn consume_sync_events(&self) {
        let syncs: Vec<(FlowId, SubscriptionId)> = self
            .syncs()
            .iter()
            .map(|(f, s)| (f.clone(), s.clone()))
            .collect();
        let mut queued = false;
        for (flow, sub) in syncs {
            match self.consume(&flow, &sub).await {
                Ok(n) => queued |= n > 0,
                Err(e) => tracing::warn!(flow = %flow, error = %e, "cannot read sync events"),
            }
        }
        if queued {
            self.wake();
        }
    }

    async fn consume(&self, flow: &FlowId, sub: &SubscriptionId) -> crate::Result<usize> {
        const BATCH: u32 = 100;
        let mut created = 0;
        loop {
            let after = self.inner.store.flow_consumed_seq(flow.clone()).await?;
            let events = self
                .inner
                .trigger_store
                .events_after(sub.clone(), after, BATCH)
                .await?;
            if events.is_empty() {
                return Ok(created);
            }
            let full = events.len() as u32 == BATCH;
            let batch = events
                .iter()
                .map(|e| (e.seq, e.event_id.clone(), e.to_json()))
                .collect();
            created += self
                .inner
                .store
                .enqueue_sync_events(flow.clone(), batch)
                .await?
                .len();
            if !full {
                return Ok(created);
            }
        }
    }
}

async fn set_paused(
    store: &dyn TriggerStore,
    sub: &Subscription,
    paused: bool,
) -> Result<(), String> {
    store
        .update_subscription(
            sub.id.clone(),
            SubscriptionPatch {
                paused: Some(paused),
                ..SubscriptionPatch::default()
            },
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

impl FlowEngineHandle for FlowEngine {
    fn wake(&self) {
        self.inner.wake.notify_one();
    }

    fn flow_changed(&self, id: &FlowId) {
        let engine = self.clone();
        let id = id.clone();
        tokio::spawn(async move { engine.reload_flow(&id).await });
    }

    fn cancel_running(&self, id: &FlowRunId) {
        if let Some(run) = self.running().get(id) {
            run.cancel.cancel();
        }
    }
}

/// Parses and validates a stored definition against the catalog.
fn compile(definition: Value) -> Result<CompiledFlow, String> {
    let definition = FlowDefinition::from_value(definition).map_err(|e| e.to_string())?;
    brickwire_flows::validate(definition, Catalog::global()).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// A cron expression (5 fields, or 6 with seconds first) and an IANA time zone (default UTC).
pub fn parse_schedule(
    cron: &str,
    timezone: Option<&str>,
) -> Result<(croner::Cron, chrono_tz::Tz), String> {
    brickwire_flows::validate::parse_schedule(cron, timezone).map_err(|e| e.to_string())
}

/// The ticks of `cron` in `timezone` after `after` and at or before `up_to`, at most `max`.
///
/// ```
/// # use brickwire_service::flows::engine::{parse_schedule, ticks_between};
/// let (cron, tz) = parse_schedule("*/15 * * * *", Some("Europe/Berlin")).unwrap();
/// let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
/// let ticks = ticks_between(&cron, tz, at("2027-01-15T08:00:00Z"), at("2027-01-15T08:40:00Z"), 10);
/// assert_eq!(ticks, vec![at("2027-01-15T08:15:00Z"), at("2027-01-15T08:30:00Z")]);
/// ```
pub fn ticks_between(
    cron: &croner::Cron,
    timezone: chrono_tz::Tz,
    after: DateTime<Utc>,
    up_to: DateTime<Utc>,
    max: usize,
) -> Vec<DateTime<Utc>> {
    let mut ticks = Vec::new();
    let mut cursor = after.with_timezone(&timezone);
    while ticks.len() < max {
        match cron.find_next_occurrence(&cursor, false) {
            Ok(next) if next.with_timezone(&Utc) <= up_to => {
                ticks.push(next.with_timezone(&Utc));
                cursor = next;
            }
            _ => break,
        }
    }
    ticks
}
