//! Removing a cache's keys by pattern, and reading its counts.

use super::stats::CacheStats;
use super::Caches;
use crate::core::Core;
use crate::error::Result;
use crate::policy::KeyId;
use crate::recording;
use crate::telemetry::{self, op, Op};
use crate::write::Write;
use keyschema::Companion;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Keys asked for per `SCAN` call, and removed per page.
const BATCH: usize = 1000;

/// Removes every key of key definition `id` whose parameters named in `fixed` have those values
/// ([`Store::invalidate`](crate::Store::invalidate)); how many were removed.
pub(crate) async fn invalidate(core: &Core, id: KeyId, fixed: &[(&str, &str)]) -> Result<u64> {
    telemetry::observe(core, Op::on(id, op!("CACHE")), async move {
        recording::decision("invalidated");
        remove_matching(core, id, fixed).await
    })
    .await
}

async fn remove_matching(core: &Core, id: KeyId, fixed: &[(&str, &str)]) -> Result<u64> {
    let name = &core.schema().keys[id.index()].name;
    let selection = core.schema().select(name, fixed)?;
    let matcher = core.matcher();
    let removed = AtomicU64::new(0);
    let belongs = |key: &[u8]| {
        std::str::from_utf8(key)
            .ok()
            .and_then(|key| matcher.match_key(key).ok())
            .is_some_and(|found| selection.contains(&found))
    };
    core.connection()
        .scan_primaries(&selection.glob.glob, BATCH, |node, keys| {
            let mine: Vec<Vec<u8>> = keys.into_iter().filter(|key| belongs(key)).collect();
            let removed = &removed;
            async move {
                if !mine.is_empty() {
                    let count = unlink(core, &node, &mine).await?;
                    removed.fetch_add(count, Ordering::Relaxed);
                }
                Ok(std::ops::ControlFlow::Continue(()))
            }
        })
        .await?;
    Ok(removed.load(Ordering::Relaxed))
}

/// `UNLINK` of `keys`, all found on `node`: one command per slot (a cluster refuses a command
/// whose keys are on several), all in one pipeline to the node, through the write path.
async fn unlink(core: &Core, node: &crate::connection::Node, keys: &[Vec<u8>]) -> Result<u64> {
    let writes: Vec<Write> = if node.is_standalone() {
        vec![Write::unlink(&keys[0], &keys[1..])]
    } else {
        let mut by_slot: HashMap<u16, Vec<Vec<u8>>> = HashMap::new();
        for key in keys {
            by_slot.entry(keyschema::key_slot(key)).or_default().push(key.clone());
        }
        by_slot
            .into_values()
            .map(|keys| Write::unlink(&keys[0], &keys[1..]))
            .collect()
    };
    let replies = core.apply_on_node(node, &writes).await?;
    let mut removed = 0;
    for (reply, write) in replies.iter().zip(&writes) {
        match reply {
            redis::Value::Int(n) => removed += u64::try_from(*n).unwrap_or(0),
            redis::Value::ServerError(error) => {
                return Err(crate::error::Error::command(&write.key, "UNLINK", error.clone().into()))
            }
            other => return Err(crate::error::Error::unexpected(&write.key, "UNLINK", other)),
        }
    }
    Ok(removed)
}

/// The counts of the cache `id` ([`Store::cache_stats`](crate::Store::cache_stats)).
pub(crate) async fn stats(core: &Core, id: KeyId) -> Result<CacheStats> {
    let counters = core.extension::<Caches>().counters(id);
    let Some(stats_id) = core.policy(id).companion(Companion::CacheStats) else {
        return Ok(counters.local());
    };
    let key = &core.schema().keys[stats_id.index()].pattern.template;
    let unshared = counters.take_unshared();
    let write = Write::add_counts(key, &CacheStats::FIELDS, &unshared);
    match core.write_value::<Vec<Option<u64>>>(&write).await {
        Ok(values) => Ok(CacheStats::from_values(std::array::from_fn(|i| {
            values.get(i).copied().flatten().unwrap_or(0)
        }))),
        Err(error) => {
            counters.restore_unshared(unshared);
            Err(error)
        }
    }
}
