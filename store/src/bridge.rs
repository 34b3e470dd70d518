//! Bridge reads and writes while a layout changes: a store generated with a previous schema
//! (`Config::previous` in keyschema-codegen) gives each moved key the key the previous layout
//! used for the same values, and its accessors read the new key first and the old one on a
//! miss. What happens to the old key is the [`BridgeMode`]'s choice; writes go to the new layout
//! only. This module holds the one implementation the accessors, batches and transactions call.

use crate::core::{BridgeMode, Core};
use crate::error::{Error, Result};
use crate::script::StoredScript;
use crate::write::Write;
use std::sync::LazyLock;

/// Re-encodes a string value written with the previous layout's codec into the current one's
/// (for a key whose codec changed); the key names the value in errors.
pub(crate) type Recode = fn(&str, &[u8]) -> Result<Vec<u8>>;

/// The key the previous layout used for the same values, and how its value is read.
#[derive(Clone, Debug)]
pub(crate) struct Previous {
    pub(crate) key: String,
    /// Strings only: set when the codec changed; `None` when the bytes are read as they are.
    pub(crate) recode: Option<Recode>,
    /// Whether the key is a string (moved by value) or another type (moved by `DUMP`).
    pub(crate) string: bool,
    /// The mode of the store whose accessor made it (a batch or transaction of another store
    /// handle keeps it).
    pub(crate) mode: BridgeMode,
}

/// Reads a key's value and remaining TTL (`GET` or `DUMP`, then `PTTL`) in one step: `false`
/// when it does not exist.
const TAKE_SOURCE: &str = r"
local value = redis.call(ARGV[1], KEYS[1])
if not value then
  return false
end
return {value, redis.call('PTTL', KEYS[1])}
";
static TAKE: LazyLock<StoredScript> = LazyLock::new(|| StoredScript::new(TAKE_SOURCE));

/// Deletes the key if it still holds what was copied from it (compared by `GET` or `DUMP`):
/// 1, or 0 when it changed or is gone.
const RETIRE_SOURCE: &str = r"
if redis.call(ARGV[1], KEYS[1]) == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0
";
static RETIRE: LazyLock<StoredScript> = LazyLock::new(|| StoredScript::new(RETIRE_SOURCE));

/// On one server, the old key copied (`COPY`) or moved (`RENAMENX`) to the new one in one
/// step, both keeping the TTL: 1 when done, 0 when the new key exists, -1 when there is no old
/// key.
const SETTLE_LOCAL_SOURCE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
if ARGV[1] == 'move' then
  return redis.call('RENAMENX', KEYS[1], KEYS[2])
end
return redis.call('COPY', KEYS[1], KEYS[2])
";
static SETTLE_LOCAL: LazyLock<StoredScript> = LazyLock::new(|| StoredScript::new(SETTLE_LOCAL_SOURCE));

/// What [`settle`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// No key in the old layout.
    Nothing,
    /// The old key was copied (or moved) to the new one.
    Copied,
    /// Both exist: the new key is the current one and is left as it is.
    NewExists,
}

/// Brings the old key's content to `key` when `key` does not exist yet: copied with its
/// remaining TTL, and under [`BridgeMode::Move`] the old key deleted if unchanged. Safe to run
/// from many instances at once: the copy is made only if the new key does not exist (`NX`), so
/// a value written meanwhile is never overwritten, and the old key is deleted only while it
/// still holds what was copied. On a standalone server, without re-encoding, it is one script
/// over both keys; on a cluster the two keys are on different slots, so it is a read of the old
/// key, a conditional write of the new one, and a conditional delete.
pub(crate) async fn settle(core: &Core, key: &str, previous: &Previous) -> Result<Settled> {
    let moving = previous.mode == BridgeMode::Move;
    if previous.recode.is_none() && !core.connection().is_cluster() {
        let mode = if moving { "move" } else { "copy" };
        let call = SETTLE_LOCAL.call(&[&previous.key, key]).arg(mode);
        return match core.run_script(&call, &previous.key).await? {
            redis::Value::Int(1) => Ok(Settled::Copied),
            redis::Value::Int(0) => Ok(Settled::NewExists),
            redis::Value::Int(_) => Ok(Settled::Nothing),
            other => Err(Error::unexpected(&previous.key, "EVALSHA", &other)),
        };
    }
    let read = if previous.string { "GET" } else { "DUMP" };
    let taken = core
        .run_script(&TAKE.call(&[&previous.key]).arg(read), &previous.key)
        .await?;
    let (stored, pttl): (Vec<u8>, i64) = match taken {
        redis::Value::Nil => return Ok(Settled::Nothing),
        other => redis::from_redis_value(other).map_err(|e| Error::command(&previous.key, "EVALSHA", e.into()))?,
    };
    // PTTL answers -1 for a key without TTL, and -2 when it expired since the read.
    let ttl = match pttl {
        -2 => return Ok(Settled::Nothing),
        -1 => None,
        ms => Some(ms.max(1)),
    };
    let write = if previous.string {
        let value = match previous.recode {
            Some(recode) => recode(&previous.key, &stored)?,
            None => stored.clone(),
        };
        Write::copy_value(key, value, ttl)
    } else {
        Write::restore(key, stored.clone(), ttl)
    };
    let copied = match core.apply(&write).await {
        Ok(redis::Value::Nil) => false,
        Ok(_) => true,
        // RESTORE without REPLACE: the new key exists.
        Err(error) if error.is_busy_key() => false,
        Err(error) => return Err(error),
    };
    if !copied {
        return Ok(Settled::NewExists);
    }
    if moving {
        let call = RETIRE.call(&[&previous.key]).arg(read).arg(stored);
        core.run_script(&call, &previous.key).await?;
    }
    Ok(Settled::Copied)
}

/// After a write that replaced a whole value of `key`: under [`BridgeMode::Move`], the old
/// key is deleted, since the new one now answers for it.
pub(crate) async fn retire(core: &Core, previous: &Previous) -> Result<()> {
    if previous.mode == BridgeMode::Move {
        core.delete(&previous.key).await?;
    }
    Ok(())
}

/// What a batch or a transaction does around a write of a bridged key.
#[derive(Debug, Clone)]
pub(crate) struct BridgeStep {
    pub(crate) key: String,
    pub(crate) previous: Previous,
    pub(crate) around: Around,
}

/// What a write of a bridged key needs around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Around {
    /// It adds to the value (or compares it): the old key is settled before it.
    Settle,
    /// It replaces the whole value: the old key is retired after it (under `Move`).
    Retire,
    /// It deletes the key: the old key is deleted after it, in every mode, so no read falls
    /// back to it.
    Delete,
}

/// Settles every step that adds to a value, before the writes are sent.
pub(crate) async fn before(core: &Core, steps: &[BridgeStep]) -> Result<()> {
    for step in steps.iter().filter(|step| step.around == Around::Settle) {
        settle(core, &step.key, &step.previous).await?;
    }
    Ok(())
}

/// Retires (or deletes) the old keys of the steps that replaced or deleted a value, once the
/// writes are applied.
pub(crate) async fn after(core: &Core, steps: &[BridgeStep]) -> Result<()> {
    for step in steps {
        match step.around {
            Around::Settle => {}
            Around::Retire => retire(core, &step.previous).await?,
            Around::Delete => {
                core.delete(&step.previous.key).await?;
            }
        }
    }
    Ok(())
}
