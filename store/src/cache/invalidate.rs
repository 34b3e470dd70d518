//! Removing a cache's keys by pattern, and reading its counts.

use super::stats::CacheStats;
use crate::connection::Route;
use crate::policy::KeyId;
use crate::{Result, Store};
use keyschema::{Companion, FormatError, Matcher, ParamValue};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Keys asked for per `SCAN` call, and removed per `UNLINK`.
const BATCH: usize = 1000;

impl Store {
    /// Removes every key of key definition `id` whose parameters named in `fixed` have those
    /// values (written as a person would: `[("tenant", "acme")]`; none: every key of the
    /// pattern), on every primary of a cluster; how many were removed.
    ///
    /// The scan uses the pattern's glob ([`keyschema::Glob`]), and each key it finds is matched
    /// against the schema before it is removed: a key of another pattern that the glob also
    /// covers (`*` crosses separators) is never touched. Keys go by `UNLINK` in batches.
    pub async fn invalidate(&self, id: KeyId, fixed: &[(&str, &str)]) -> Result<u64> {
        let schema = self.schema_arc();
        let def = &schema.keys[id.index()];
        let glob = schema.glob_from_text(&def.name, fixed)?;
        let mut wanted: Vec<(usize, ParamValue<'_>)> = Vec::with_capacity(fixed.len());
        for (name, text) in fixed {
            // The glob accepted these names and values, so they parse here too.
            let Some(index) = def.pattern.params().find(|&p| schema.params[p].name == *name) else {
                continue;
            };
            let value =
                schema
                    .parse_text_value(&schema.params[index], text)
                    .map_err(|source| FormatError::InvalidValue {
                        key: def.name.clone(),
                        param: (*name).to_string(),
                        source,
                    })?;
            wanted.push((index, value));
        }
        let matcher = Matcher::new(Arc::clone(&schema));
        let removed = AtomicU64::new(0);
        let belongs = |key: &[u8]| {
            let Ok(key) = std::str::from_utf8(key) else {
                return false;
            };
            matcher.match_key(key).is_ok_and(|found| {
                found.key == id.index()
                    && wanted
                        .iter()
                        .all(|(param, value)| found.values.iter().any(|(p, v)| p == param && v == value))
            })
        };
        self.connection()
            .scan_primaries(&glob.glob, BATCH, |_node, keys| {
                let mine: Vec<Vec<u8>> = keys.into_iter().filter(|key| belongs(key)).collect();
                let removed = &removed;
                async move {
                    if !mine.is_empty() {
                        let count = self.unlink(&mine, &def.name).await?;
                        removed.fetch_add(count, Ordering::Relaxed);
                    }
                    Ok(std::ops::ControlFlow::Continue(()))
                }
            })
            .await?;
        Ok(removed.load(Ordering::Relaxed))
    }

    /// `UNLINK` of `keys`: one command on a standalone server; on a cluster one per slot, all
    /// sent at once (the connection multiplexes them, like a pipeline).
    async fn unlink(&self, keys: &[Vec<u8>], name: &str) -> Result<u64> {
        let connection = self.connection();
        let unlink = |keys: &[&Vec<u8>]| {
            let mut cmd = redis::cmd("UNLINK");
            for key in keys {
                cmd.arg(*key);
            }
            cmd
        };
        if !connection.is_cluster() {
            let all: Vec<&Vec<u8>> = keys.iter().collect();
            return connection.query(Route::Write, &unlink(&all), name, "UNLINK").await;
        }
        let mut by_slot: HashMap<u16, Vec<&Vec<u8>>> = HashMap::new();
        for key in keys {
            by_slot.entry(keyschema::key_slot(key)).or_default().push(key);
        }
        let commands: Vec<redis::Cmd> = by_slot.values().map(|keys| unlink(keys)).collect();
        let counts = futures_util::future::try_join_all(
            commands
                .iter()
                .map(|cmd| connection.query::<u64>(Route::Write, cmd, name, "UNLINK")),
        )
        .await?;
        Ok(counts.iter().sum())
    }

    /// The counts of the cache `id`: this process's, or with `stats shared` every instance's
    /// (this process adds what it counted since it last did, then reads the total).
    pub async fn cache_stats(&self, id: KeyId) -> Result<CacheStats> {
        let counters = self.shared().caches.counters(id);
        let Some(stats_id) = self.companion_id(id, Companion::CacheStats) else {
            return Ok(counters.local());
        };
        let key = self.schema().keys[stats_id.index()].pattern.template.clone();
        let unshared = counters.take_unshared();
        let mut pipe = redis::pipe();
        for (field, value) in CacheStats::FIELDS.iter().zip(unshared) {
            pipe.cmd("HINCRBY").arg(&key).arg(*field).arg(value).ignore();
        }
        pipe.cmd("HMGET").arg(&key).arg(&CacheStats::FIELDS[..]);
        match self
            .connection()
            .pipeline::<(Vec<Option<u64>>,)>(&pipe, &key, "HINCRBY")
            .await
        {
            Ok((values,)) => Ok(CacheStats::from_values(std::array::from_fn(|i| {
                values.get(i).copied().flatten().unwrap_or(0)
            }))),
            Err(error) => {
                counters.restore_unshared(unshared);
                Err(error)
            }
        }
    }
}
