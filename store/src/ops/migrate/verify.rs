//! The verification pass after a migration: every source key that was to be copied is looked
//! for under its new name on the target; on every `compare_every`-th key the value (`DUMP`, byte
//! for byte) and the remaining TTL (within a tolerance) are compared too. Read-only on both
//! sides.

use super::report::{PatternCheck, VerifyReport, MIGRATION_VERSION};
use super::{destination, locked, Destination};
use crate::connection::{Node, SlotOwners};
use crate::ops::{sized_cmd, OpsError};
use crate::Store;
use keyschema::Translation;
use redis::Value;
use std::ops::ControlFlow;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How a verification runs.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Keys asked for per `SCAN` call.
    pub scan_count: usize,
    /// Compare value and TTL of every n-th key (1: all; `u64::MAX`: presence only).
    pub compare_every: u64,
    /// How far a key's remaining TTL on the target may be from the source's.
    pub ttl_tolerance: Duration,
    /// Whether keys matching no pattern were copied unchanged (and so are looked for).
    pub copy_unmatched: bool,
    /// Example keys kept.
    pub examples: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            scan_count: 1000,
            compare_every: 100,
            ttl_tolerance: Duration::from_secs(2),
            copy_unmatched: false,
            examples: 10,
        }
    }
}

/// Verifies that the keys of `source` are on `target` in its layout; see the module
/// documentation.
pub async fn verify(source: &Store, target: &Store, options: &VerifyOptions) -> Result<VerifyReport, OpsError> {
    let translation = Translation::new(source.schema_arc(), target.schema_arc());
    let patterns = translation
        .from_schema()
        .keys
        .iter()
        .map(|def| PatternCheck {
            name: def.name.clone(),
            source_keys: 0,
            on_target: 0,
        })
        .collect();
    let report = Mutex::new(VerifyReport {
        version: MIGRATION_VERSION,
        checked: 0,
        compared: 0,
        missing: 0,
        value_differs: 0,
        ttl_differs: 0,
        examples: Vec::new(),
        patterns,
    });
    let owners = target.connection().slot_owners().await?;
    let seen = std::sync::atomic::AtomicU64::new(0);
    let (report_ref, translation, owners, seen) = (&report, &translation, &owners, &seen);
    source
        .connection()
        .scan_primaries("*", options.scan_count.max(1), |node, keys| async move {
            check_page(owners, translation, &node, &keys, options, report_ref, seen).await?;
            Ok(ControlFlow::Continue(()))
        })
        .await?;
    let mut report = report.into_inner().unwrap_or_else(PoisonError::into_inner);
    report.patterns.retain(|p| p.source_keys > 0);
    Ok(report)
}

/// What the source says of one key to check.
struct Expected<'k> {
    key: &'k [u8],
    to: String,
    pattern: Option<usize>,
    compare: bool,
}

async fn check_page(
    owners: &SlotOwners,
    translation: &Translation,
    node: &Node,
    keys: &[Vec<u8>],
    options: &VerifyOptions,
    report: &Mutex<VerifyReport>,
    seen: &std::sync::atomic::AtomicU64,
) -> crate::Result<()> {
    let mut expected = Vec::new();
    for key in keys {
        let (pattern, to) = match destination(translation, key) {
            Destination::Pattern { pattern, to } => (Some(pattern), to),
            Destination::Unmatched(_) if options.copy_unmatched => match std::str::from_utf8(key) {
                Ok(text) => (None, text.to_string()),
                Err(_) => continue,
            },
            _ => continue,
        };
        expected.push(Expected {
            key,
            to,
            pattern,
            compare: false,
        });
    }
    if expected.is_empty() {
        return Ok(());
    }
    // Positions in the whole pass, reserved for this page: every n-th key is compared, whatever
    // order the pages finish in.
    let first = seen.fetch_add(expected.len() as u64, std::sync::atomic::Ordering::Relaxed);
    if options.compare_every != u64::MAX {
        let every = options.compare_every.max(1);
        for (position, item) in (first..).zip(expected.iter_mut()) {
            item.compare = position % every == 0;
        }
    }
    // The target first: one PTTL per key (-2: missing), and the value of the keys compared.
    let mut asked = Vec::with_capacity(expected.len() * 2);
    for item in &expected {
        let to = item.to.as_bytes();
        asked.push((to, sized_cmd(&[b"PTTL", to])));
        if item.compare {
            asked.push((to, sized_cmd(&[b"DUMP", to])));
        }
    }
    let mut target_replies = owners.send(asked).await?.into_iter();
    let on_target: Vec<(i64, Option<Value>)> = expected
        .iter()
        .map(|item| {
            let ttl = match target_replies.next() {
                Some(Value::Int(ttl)) => ttl,
                _ => -2,
            };
            (ttl, item.compare.then(|| target_replies.next().unwrap_or(Value::Nil)))
        })
        .collect();
    // Then the source, only where it is needed: the TTL and value of the keys compared, and
    // whether a key missing on the target is still on the source (gone from both is no loss).
    let mut read = node.pipe();
    let mut reads = 0;
    for (item, (ttl, _)) in expected.iter().zip(&on_target) {
        if item.compare {
            read.add_command(sized_cmd(&[b"PTTL", item.key]));
            read.add_command(sized_cmd(&[b"DUMP", item.key]));
            reads += 2;
        } else if *ttl == -2 {
            read.add_command(sized_cmd(&[b"PTTL", item.key]));
            reads += 1;
        }
    }
    let mut source_replies = if reads > 0 {
        node.pipeline(read, reads).await?.into_iter()
    } else {
        Vec::new().into_iter()
    };

    let tolerance = i64::try_from(options.ttl_tolerance.as_millis()).unwrap_or(i64::MAX);
    let mut report = locked(report);
    for (item, (target_ttl, target_value)) in expected.iter().zip(on_target) {
        let source = if item.compare || target_ttl == -2 {
            let ttl = match source_replies.next() {
                Some(Value::Int(ttl)) => ttl,
                _ => -2,
            };
            let value = if item.compare { source_replies.next() } else { None };
            Some((ttl, value))
        } else {
            None
        };
        if matches!(source, Some((-2, _))) {
            continue; // Gone from the source since the scan.
        }
        report.checked += 1;
        if let Some(pattern) = item.pattern {
            report.patterns[pattern].source_keys += 1;
        }
        let mut problem = false;
        if target_ttl == -2 {
            report.missing += 1;
            problem = true;
        } else {
            if let Some(pattern) = item.pattern {
                report.patterns[pattern].on_target += 1;
            }
            if let Some((source_ttl, source_value)) = source.filter(|_| item.compare) {
                report.compared += 1;
                if source_value != target_value {
                    report.value_differs += 1;
                    problem = true;
                }
                let ttl_ok = match (source_ttl, target_ttl) {
                    (-1i64, -1i64) => true,
                    (a, b) if a >= 0 && b >= 0 => (a - b).abs() <= tolerance,
                    _ => false,
                };
                if !ttl_ok {
                    report.ttl_differs += 1;
                    problem = true;
                }
            }
        }
        if problem && report.examples.len() < options.examples {
            report.examples.push(String::from_utf8_lossy(item.key).into_owned());
        }
    }
    Ok(())
}
