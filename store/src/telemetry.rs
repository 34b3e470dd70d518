//! Spans and metrics by key pattern (the `telemetry` feature; docs/observability.md). Every
//! operation the store runs for a key is observed here: one `tracing` span named and attributed
//! by OpenTelemetry's database conventions, with the key's code name, pattern and slot group, and
//! metrics through the `metrics` facade labelled by the same names. A parameter value never
//! appears: the names come from the schema, not from the key. Without the feature every function
//! here is an inline pass-through, and neither facade is compiled.

#[cfg(not(feature = "telemetry"))]
use crate::core::Core;
use crate::error::{Error, Result};
use crate::policy::KeyId;
#[cfg(not(feature = "telemetry"))]
use std::future::Future;

/// Every operation the store names (`db.operation.name`): Redis commands, and the store's own
/// operations of many commands. Operations are known by their place here, so a call finds its
/// names and metric handles by index, without a lock or a string compared.
pub(crate) const OPERATIONS: [&str; 41] = [
    "GET",
    "SET",
    "GETDEL",
    "DEL",
    "PTTL",
    "HGETALL",
    "HGET",
    "HSET",
    "HDEL",
    "HLEN",
    "RPUSH",
    "LRANGE",
    "LLEN",
    "SADD",
    "SREM",
    "SISMEMBER",
    "SMEMBERS",
    "SSCAN",
    "SCARD",
    "ZADD",
    "ZREM",
    "ZRANGE",
    "ZCOUNT",
    "ZCARD",
    "XADD",
    "XRANGE",
    "BATCH",
    "TRANSACTION",
    "LOCK",
    "UNLOCK",
    "FENCE",
    "RATELIMIT",
    "BREAKER",
    "CLAIM",
    "DLQ",
    "TIMERS",
    "CACHE",
    "STATE",
    "AUDIT",
    "MIGRATE",
    "VERIFY",
];

/// One of [`OPERATIONS`], by its place; made by [`op!`], which refuses at compile time a name
/// that is not there.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Operation {
    index: usize,
}

impl Operation {
    /// The operation named `name`; a name not in [`OPERATIONS`] fails to compile (in a const).
    pub(crate) const fn named(name: &str) -> Self {
        let mut index = 0;
        while index < OPERATIONS.len() {
            if const_eq(OPERATIONS[index], name) {
                return Self { index };
            }
            index += 1;
        }
        panic!("not an operation of telemetry::OPERATIONS")
    }

    /// Its name (`GET`, `LOCK`).
    #[cfg_attr(not(feature = "telemetry"), allow(dead_code))]
    pub(crate) fn name(self) -> &'static str {
        OPERATIONS[self.index]
    }
}

const fn const_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The [`Operation`] named by a string literal, checked when the crate compiles.
macro_rules! op {
    ($name:literal) => {{
        const OPERATION: $crate::telemetry::Operation = $crate::telemetry::Operation::named($name);
        OPERATION
    }};
}
pub(crate) use op;

/// An operation the store runs: on which key definition (none: a batch, a page of a scan), what
/// it is, and on which key when it is one (its slot names the cluster node in the span; the key
/// itself is never recorded).
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "telemetry"), allow(dead_code))]
pub(crate) struct Op<'k> {
    pub(crate) id: Option<KeyId>,
    pub(crate) operation: Operation,
    pub(crate) key: Option<&'k str>,
}

impl Op<'static> {
    /// `operation` on key definition `id`.
    pub(crate) fn on(id: KeyId, operation: Operation) -> Self {
        Self {
            id: Some(id),
            operation,
            key: None,
        }
    }

    /// `operation` on no one key definition.
    pub(crate) fn keyless(operation: Operation) -> Self {
        Self {
            id: None,
            operation,
            key: None,
        }
    }
}

impl Op<'_> {
    /// The same operation, on `key`.
    pub(crate) fn at(self, key: &str) -> Op<'_> {
        Op {
            id: self.id,
            operation: self.operation,
            key: Some(key),
        }
    }
}

/// What an observed operation answers: whether it failed, and how (`error.type`).
#[cfg_attr(not(feature = "telemetry"), allow(dead_code))]
pub(crate) trait Outcome {
    /// The error's class (`Unavailable`, `OutcomeUnknown`, `Command`...), or `None` on success.
    fn error_class(&self) -> Option<&'static str>;
}

impl<T> Outcome for Result<T> {
    fn error_class(&self) -> Option<&'static str> {
        self.as_ref().err().map(error_class)
    }
}

/// The class of an error, as `error.type` and the calls' `keyschema.outcome` label name it:
/// Redis unreachable, a write that may or may not have run, a command Redis refused, a check
/// that did not pass, anything else.
#[cfg_attr(not(feature = "telemetry"), allow(dead_code))]
pub(crate) fn error_class(error: &Error) -> &'static str {
    match error {
        Error::Unavailable { .. } | Error::Connect { .. } => "Unavailable",
        Error::OutcomeUnknown { .. } | Error::NotDurable { .. } => "OutcomeUnknown",
        Error::Command { .. } | Error::WrongType { .. } => "Command",
        Error::Conflict { .. } | Error::Fenced { .. } => "Conflict",
        _ => "Other",
    }
}

/// Runs `future` as operation `op`: inside its span, timed and counted by outcome.
#[cfg(not(feature = "telemetry"))]
#[inline(always)]
pub(crate) fn observe<O: Outcome, F: Future<Output = O>>(_core: &Core, _op: Op<'_>, future: F) -> F {
    future
}

/// Counts a held lock or lease lost (a renewal failed or found another owner).
#[cfg(not(feature = "telemetry"))]
#[inline(always)]
pub(crate) fn lease_lost(_core: &Core, _id: KeyId) {}

#[cfg(feature = "telemetry")]
pub(crate) use observed::{lease_lost, observe};

#[cfg(feature = "telemetry")]
mod observed {
    use super::{Op, Outcome, OPERATIONS};
    use crate::core::Core;
    use crate::policy::KeyId;
    use crate::recording::{self, Recorded};
    use metrics::{Counter, Histogram};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, OnceLock, PoisonError, RwLock};
    use std::task::{Context, Poll};
    use tokio::time::Instant;
    use tracing::field::Empty;

    /// The names and metric handles of one operation on one key definition, made once per
    /// store: so a call formats nothing and registers nothing.
    pub(super) struct Handles {
        summary: String,
        key: String,
        pattern: String,
        group: String,
        operation: &'static str,
        labels: Vec<(&'static str, String)>,
        duration: Histogram,
        calls: Counter,
        /// Registered when a value is first counted: most operations of primitives send none.
        bytes_in: OnceLock<Counter>,
        bytes_out: OnceLock<Counter>,
        /// Registered when first seen: most operations never fail, and a failure is rare.
        errors: Labelled,
        decisions: Labelled,
    }

    /// Counters of one metric told apart by one more label, registered when a value is first
    /// counted (so a value never seen makes no series).
    struct Labelled {
        metric: &'static str,
        label: &'static str,
        counters: RwLock<Vec<(&'static str, Counter)>>,
    }

    impl Labelled {
        fn new(metric: &'static str, label: &'static str) -> Self {
            Self {
                metric,
                label,
                counters: RwLock::default(),
            }
        }

        fn count(&self, value: &'static str, labels: &[(&'static str, String)]) {
            let known = self.counters.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, counter)) = known.iter().find(|(v, _)| *v == value) {
                counter.increment(1);
                return;
            }
            drop(known);
            let mut labels = labels.to_vec();
            labels.push((self.label, value.to_string()));
            let counter = metrics::counter!(self.metric, &labels);
            counter.increment(1);
            self.counters
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .push((value, counter));
        }
    }

    impl Handles {
        fn new(core: &Core, op: Op<'_>) -> Self {
            let schema = core.schema();
            let def = op.id.and_then(|id| schema.keys.get(id.index()));
            let key = def.map_or_else(|| "(none)".to_string(), |def| def.name.clone());
            let pattern = def.map_or_else(|| "*".to_string(), |def| def.pattern.template.clone());
            let group = def
                .and_then(|def| def.pattern.hash_tag.as_ref())
                .map_or_else(String::new, |tag| format!("{{{}}}", tag.template));
            let operation = op.operation.name();
            let labels = vec![
                ("db.system.name", "redis".to_string()),
                ("db.operation.name", operation.to_string()),
                ("keyschema.key", key.clone()),
                ("keyschema.pattern", pattern.clone()),
            ];
            let mut ok = labels.clone();
            ok.push(("keyschema.outcome", "ok".to_string()));
            Self {
                summary: if def.is_some() {
                    format!("{operation} {pattern}")
                } else {
                    operation.to_string()
                },
                duration: metrics::histogram!("db.client.operation.duration", &labels),
                calls: metrics::counter!("keyschema.calls", &ok),
                bytes_in: OnceLock::new(),
                bytes_out: OnceLock::new(),
                errors: Labelled::new("keyschema.calls", "keyschema.outcome"),
                decisions: Labelled::new("keyschema.decisions", "keyschema.decision"),
                labels,
                key,
                pattern,
                group,
                operation,
            }
        }

        /// Counts what an operation recorded.
        fn count(&self, recorded: &Recorded) {
            for decision in &recorded.decisions {
                self.decisions.count(decision, &self.labels);
            }
            if recorded.bytes_in > 0 {
                self.bytes_in
                    .get_or_init(|| metrics::counter!("keyschema.bytes.in", &self.labels))
                    .increment(recorded.bytes_in);
            }
            if recorded.bytes_out > 0 {
                self.bytes_out
                    .get_or_init(|| metrics::counter!("keyschema.bytes.out", &self.labels))
                    .increment(recorded.bytes_out);
            }
        }
    }

    /// A store's handles, by key definition (the last row for operations on none) and
    /// operation, each made on first use; and the attributes every span has. Reads are loads
    /// only: a lock or a reference count here would be written by every call on every thread.
    #[derive(Default)]
    pub(super) struct Telemetry {
        handles: OnceLock<Box<[OnceLock<Box<Handles>>]>>,
        server: OnceLock<(String, u16, String)>,
        /// A cluster's nodes by slot, read with `CLUSTER SLOTS` when a span first needs it and
        /// read again after an operation was redirected (a slot moved, a failover).
        nodes: RwLock<Option<Arc<SlotMap>>>,
    }

    /// A node, `(host, port)`, shared by the slot ranges it serves.
    type Node = Arc<(String, u16)>;

    /// Which node serves each slot range, as `CLUSTER SLOTS` said (empty when it could not be
    /// read: spans then name the first node given).
    #[derive(Default)]
    struct SlotMap {
        /// `(first slot, last slot, node)`, sorted by first slot.
        ranges: Vec<(u16, u16, Node)>,
    }

    impl SlotMap {
        fn node(&self, slot: u16) -> Option<&Node> {
            let after = self.ranges.partition_point(|(first, _, _)| *first <= slot);
            let (_, last, node) = self.ranges.get(after.checked_sub(1)?)?;
            (slot <= *last).then_some(node)
        }
    }

    impl Telemetry {
        fn handles(&self, core: &Core, op: Op<'_>) -> &Handles {
            let rows = core.schema().keys.len() + 1;
            let table = self
                .handles
                .get_or_init(|| (0..rows * OPERATIONS.len()).map(|_| OnceLock::new()).collect());
            let row = op.id.map_or(rows - 1, KeyId::index).min(rows - 1);
            table[row * OPERATIONS.len() + op.operation.index].get_or_init(|| Box::new(Handles::new(core, op)))
        }

        fn server(&self, core: &Core) -> &(String, u16, String) {
            self.server.get_or_init(|| {
                let endpoint = core.connection().endpoint();
                (endpoint.address.clone(), endpoint.port, endpoint.database.to_string())
            })
        }

        /// The slot map, if it has been read (and not forgotten since).
        fn slot_map(&self) -> Option<Arc<SlotMap>> {
            self.nodes.read().unwrap_or_else(PoisonError::into_inner).clone()
        }

        /// Reads the slot map with `CLUSTER SLOTS` and keeps it (empty if it could not be read:
        /// spans then name the first node given). Concurrent first spans may each read it; the
        /// last one read is kept.
        async fn read_slot_map(&self, core: &Core) -> Arc<SlotMap> {
            let read = match core.connection().topology().await {
                Ok(topology) => {
                    let mut ranges: Vec<(u16, u16, Node)> = Vec::new();
                    for shard in topology.shards {
                        let node = Arc::new(shard.primary);
                        ranges.extend(
                            shard
                                .slots
                                .iter()
                                .map(|&(first, last)| (first, last, Arc::clone(&node))),
                        );
                    }
                    ranges.sort_by_key(|(first, _, _)| *first);
                    SlotMap { ranges }
                }
                Err(_) => SlotMap::default(),
            };
            let map = Arc::new(read);
            *self.nodes.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&map));
            map
        }

        /// Forgets the slot map: a redirection says it may be out of date.
        fn slots_moved(&self) {
            *self.nodes.write().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }

    pin_project_lite::pin_project! {
        /// An operation, observed when something listens: its own future, polled in place, and
        /// what is watched of it (boxed, and only when something listens: a future not
        /// observed is 8 bytes larger, and an observed one's state is a small allocation that
        /// the allocator's thread cache serves).
        pub(crate) struct Observed<'a, F> {
            #[pin]
            operation: F,
            watch: Option<Box<Watch<'a>>>,
        }
    }

    /// What is watched of an observed operation.
    struct Watch<'a> {
        core: &'a Core,
        op: Op<'a>,
        telemetry: &'a Telemetry,
        handles: &'a Handles,
        phase: Phase<'a>,
        /// What the operation recorded so far (lent to the thread while it is polled).
        recorded: Recorded,
    }

    /// Where an observed operation is.
    enum Phase<'a> {
        /// Not polled yet: its span starts when it first runs.
        Waiting,
        /// Reading the cluster's slot map first, for the node its span names.
        Locating(Pin<Box<dyn Future<Output = Option<Node>> + Send + 'a>>),
        /// Running since `started`, as `span`.
        Running { span: tracing::Span, started: Instant },
        /// Ended (counted and recorded).
        Ended,
    }

    pub(crate) fn observe<'a, O: Outcome + 'a, F: Future<Output = O> + 'a>(
        core: &'a Core,
        op: Op<'a>,
        operation: F,
    ) -> Observed<'a, F> {
        // When nothing listens, the operation runs as it does without the feature: no
        // allocation, clock read or lookup.
        let watch = listening().then(|| {
            let telemetry = core.extension::<Telemetry>();
            Box::new(Watch {
                core,
                op,
                telemetry,
                handles: telemetry.handles(core, op),
                phase: Phase::Waiting,
                recorded: Recorded::default(),
            })
        });
        Observed { operation, watch }
    }

    impl<O: Outcome, F: Future<Output = O>> Future for Observed<'_, F> {
        type Output = O;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O> {
            let this = self.project();
            let Some(watch) = this.watch.as_deref_mut() else {
                return this.operation.poll(cx);
            };
            if !matches!(watch.phase, Phase::Running { .. }) {
                std::task::ready!(watch.start(cx));
            }
            // The span is not entered while the operation runs: entering on every poll costs
            // more than the operation's own work on a busy multiplexed connection. It is the
            // child of the caller's span; what happened inside is recorded on it at the end.
            let output = std::task::ready!(recording::within(&mut watch.recorded, || this.operation.poll(cx)));
            watch.end(&output);
            Poll::Ready(output)
        }
    }

    /// Whether anything listens: a `tracing` subscriber that takes INFO spans, or a `metrics`
    /// recorder. The `metrics` facade cannot say whether a recorder is installed; without one
    /// it answers its no-op recorder, a zero-sized type, so a recorder of zero size is taken
    /// for none (a recorder keeps what it records, so it has a size).
    fn listening() -> bool {
        tracing::level_enabled!(tracing::Level::INFO)
            || metrics::with_recorder(|recorder| std::mem::size_of_val(recorder) != 0)
    }

    impl<'a> Watch<'a> {
        /// Starts the operation's span, once the node it names is known.
        fn start(&mut self, cx: &mut Context<'_>) -> Poll<()> {
            if let Phase::Waiting = self.phase {
                // On a cluster, the span names the node serving the key's slot.
                let slot = match self.op.key {
                    Some(key)
                        if self.core.connection().is_cluster() && tracing::level_enabled!(tracing::Level::INFO) =>
                    {
                        Some(keyschema::key_slot(key.as_bytes()))
                    }
                    _ => None,
                };
                match (slot, slot.and_then(|_| self.telemetry.slot_map())) {
                    (Some(slot), None) => {
                        let (telemetry, core) = (self.telemetry, self.core);
                        self.phase = Phase::Locating(Box::pin(async move {
                            telemetry.read_slot_map(core).await.node(slot).cloned()
                        }));
                    }
                    (slot, map) => {
                        let node = slot.zip(map).and_then(|(slot, map)| map.node(slot).cloned());
                        self.begin(node);
                    }
                }
            }
            if let Phase::Locating(locating) = &mut self.phase {
                let node = std::task::ready!(locating.as_mut().poll(cx));
                self.begin(node);
            }
            Poll::Ready(())
        }

        /// The operation starts running now, as a span naming `node` (the first node given when
        /// none is known).
        fn begin(&mut self, node: Option<Node>) {
            let span = if tracing::level_enabled!(tracing::Level::INFO) {
                let handles = self.handles;
                let (address, port, namespace) = self.telemetry.server(self.core);
                let (address, port) = node
                    .as_deref()
                    .map_or((address.as_str(), *port), |(a, p)| (a.as_str(), *p));
                let span = tracing::info_span!(
                    target: "keyschema",
                    "redis",
                    otel.name = handles.summary.as_str(),
                    otel.kind = "client",
                    db.system.name = "redis",
                    db.operation.name = handles.operation,
                    db.query.summary = handles.summary.as_str(),
                    db.namespace = namespace.as_str(),
                    server.address = address,
                    server.port = i64::from(port),
                    keyschema.key = handles.key.as_str(),
                    keyschema.pattern = handles.pattern.as_str(),
                    keyschema.slot_group = Empty,
                    keyschema.retries = Empty,
                    keyschema.decision = Empty,
                    error.type = Empty,
                );
                if !handles.group.is_empty() {
                    span.record("keyschema.slot_group", handles.group.as_str());
                }
                span
            } else {
                // Nothing listens to spans: none is made (metrics are still counted).
                tracing::Span::none()
            };
            self.phase = Phase::Running {
                span,
                started: Instant::now(),
            };
        }

        /// The operation ended with `output`: its time, what it recorded and its outcome are
        /// counted, and recorded on its span.
        fn end<O: Outcome>(&mut self, output: &O) {
            let Phase::Running { span, started } = std::mem::replace(&mut self.phase, Phase::Ended) else {
                return;
            };
            let handles = self.handles;
            handles.duration.record(started.elapsed().as_secs_f64());
            handles.count(&self.recorded);
            if !span.is_disabled() {
                if let Some(decision) = self.recorded.decision() {
                    span.record("keyschema.decision", decision);
                }
                if self.recorded.retries > 0 {
                    span.record("keyschema.retries", self.recorded.retries);
                    self.telemetry.slots_moved();
                }
            }
            // A span without `error.type` succeeded (OpenTelemetry's convention): nothing more
            // is recorded on it then, as most calls succeed.
            match output.error_class() {
                None => handles.calls.increment(1),
                Some(class) => {
                    handles.errors.count(class, &handles.labels);
                    span.record("error.type", class);
                }
            }
        }
    }

    pub(crate) fn lease_lost(core: &Core, id: KeyId) {
        let key = core
            .schema()
            .keys
            .get(id.index())
            .map_or_else(String::new, |def| def.name.clone());
        metrics::counter!("keyschema.lease.losses", "keyschema.key" => key).increment(1);
    }
}
