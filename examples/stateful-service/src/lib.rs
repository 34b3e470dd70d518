//! A metrics processor with two-tier state: each datasource's context is kept in memory by the
//! instance that consumes the datasource's partition. When the instance stops (SIGTERM) or a
//! partition moves to another instance, the contexts it lets go are written to Redis, compressed,
//! each with a TTL of a few collection intervals; the instance that next sees the datasource
//! reads its context back instead of starting cold.

use keyschema_store::{BackupReport, Json, Lz4, TwoTier};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The typed store generated from `schema/metrics.keys`.
pub mod metrics {
    include!(concat!(env!("OUT_DIR"), "/metrics.rs"));
}

use metrics::CtxContextKey;

/// What the processor remembers about a datasource between data points (`json(Context)` in the
/// schema; the generated code names it as `super::Context`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// Data points seen so far, by any instance.
    pub points: u64,
    /// The last value, to compute the next delta.
    pub last: f64,
}

/// Any failure: a store call that failed, or a signal handler that could not be installed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How many partitions the datasources are spread over (a Kafka topic's partitions, say).
pub const PARTITIONS: u32 = 12;

/// The partition a datasource's points arrive on.
pub fn partition_of(datasource: &str) -> u32 {
    // FNV-1a: stable across processes and releases, unlike the std hasher.
    let hash = datasource.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash % PARTITIONS
}

/// One instance of the processor.
pub struct Processor {
    contexts: TwoTier<CtxContextKey, Lz4<Json<Context>>>,
}

impl Processor {
    /// An instance over `store`; keep one per process.
    pub fn new(store: &metrics::MetricsStore) -> Self {
        Self {
            contexts: store.ctx_context_tier(),
        }
    }

    /// Processes one data point of `datasource`, reported every `interval`: its context from
    /// memory, else restored from a backup another instance (or this one, before a restart)
    /// wrote, else a new one. Returns the delta to the previous value, if there was one.
    pub async fn process(&self, datasource: &str, value: f64, interval: Duration) -> Result<Option<f64>, BoxError> {
        let id = CtxContextKey {
            datasource: datasource.to_string(),
        };
        if self.contexts.get_or_restore(&id).await?.is_none() {
            self.contexts
                .insert(id.clone(), Context { points: 0, last: value }, interval);
        }
        let delta = self.contexts.update(&id, |context| {
            let delta = (context.points > 0).then_some(value - context.last);
            context.points += 1;
            context.last = value;
            delta
        });
        Ok(delta.flatten())
    }

    /// The context held in memory for `datasource`.
    pub fn context(&self, datasource: &str) -> Option<Context> {
        self.contexts.get(&CtxContextKey {
            datasource: datasource.to_string(),
        })
    }

    /// How many contexts are held in memory.
    pub fn len(&self) -> usize {
        self.contexts.len()
    }

    /// Whether no context is held in memory.
    pub fn is_empty(&self) -> bool {
        self.contexts.is_empty()
    }

    /// The partition-handover hook (a Kafka consumer's "partitions revoked" callback): backs up
    /// the contexts of the partitions this instance gives away and drops them from memory.
    pub async fn on_partitions_revoked(&self, revoked: &[u32]) -> Result<BackupReport, BoxError> {
        let report = self
            .contexts
            .backup_where(|id| revoked.contains(&partition_of(&id.datasource)))
            .await?;
        Ok(report)
    }

    /// The shutdown hook: backs up every context. A backup that fails keeps the contexts in
    /// memory, so the caller may retry before it exits.
    pub async fn shutdown(&self) -> Result<BackupReport, BoxError> {
        Ok(self.contexts.backup_all().await?)
    }
}

/// Installs the handler for SIGTERM (what Kubernetes sends before it stops a pod) and Ctrl-C, and
/// returns a future that completes when either arrives. The handler is in place when this
/// returns, so a signal sent right after is not missed.
#[cfg(unix)]
pub fn terminated() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// Completes on Ctrl-C (no SIGTERM outside Unix).
#[cfg(not(unix))]
pub fn terminated() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        // An error here means no handler could be installed: nothing will ever arrive.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}
