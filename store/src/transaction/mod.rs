//! Transactions over one slot group: writes to keys sharing a hash tag, each with its key's TTL
//! and cap, applied all or nothing by one script that checks types and expected values first.
//! Generated code builds them per slot group, so their keys share a slot by construction; the
//! check here is a guard for hand-built ones.
//!
//! The script is made for the transaction's shape ([`shaped`]: straight-line Lua, as one would
//! write it by hand) or, for long or rare shapes, the general one ([`general`]), which reads the
//! same checks and commands from its arguments. Both are rendered from one [`Plan`].

use crate::bridge::{self, BridgeStep};
use crate::core::Core;
use crate::error::{Error, Result};
use crate::policy::KeyId;
use crate::telemetry::{self, op, Op};
use crate::write::Write;
use keyschema::Companion;
use plan::Plan;

mod general;
mod plan;
mod shaped;

pub use general::CHECKED_SOURCE;

/// A fencing token and the lock it came from: give it to a guarded write
/// ([`Transaction::fenced`](crate::Transaction::fenced)). On the lock's slot the server refuses
/// it once a newer token has been issued; on any other slot, once a guarded write with a newer
/// token has been applied there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub(crate) counter: String,
    pub(crate) token: u64,
    pub(crate) lock: KeyId,
    pub(crate) lock_key: String,
}

impl Fence {
    /// The token: every acquisition of the lock gets a larger one.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// The counter key (`{cordum:reconciler:default}:fence`).
    pub fn counter_key(&self) -> &str {
        &self.counter
    }

    /// The lock's key.
    pub fn lock_key(&self) -> &str {
        &self.lock_key
    }
}

/// Writes to keys of one slot, sent as one script that checks every key's type and every
/// expected value ([`Transaction::expect`]) before writing. The transaction keeps its writes as
/// built by the write path and renders the script's arguments from them.
pub struct Transaction<'s> {
    core: &'s Core,
    writes: Vec<Write>,
    first: Option<(u16, String)>,
    expectations: Vec<(String, Option<Vec<u8>>)>,
    fence: Option<Fence>,
    /// What bridged keys need around the writes, during a layout change.
    bridges: Vec<BridgeStep>,
    /// The key definition of the first typed write, naming the transaction in telemetry.
    first_id: Option<KeyId>,
}

impl<'s> Transaction<'s> {
    /// An empty transaction on `core` ([`Store::transaction`](crate::Store::transaction)).
    pub(crate) fn new(core: &'s Core) -> Self {
        Self {
            core,
            writes: Vec::new(),
            first: None,
            expectations: Vec::new(),
            fence: None,
            bridges: Vec::new(),
            first_id: None,
        }
    }

    /// Notes the key definition of a typed write (the first names the transaction).
    pub(crate) fn note(&mut self, id: KeyId) {
        self.first_id.get_or_insert(id);
    }

    /// Notes what a bridged key's write needs around it ([`crate::bridge`]).
    pub(crate) fn bridge(&mut self, step: Option<BridgeStep>) {
        self.bridges.extend(step);
    }

    /// Notes the transaction's first key; refuses a key on another slot, unless the schema is
    /// declared `layout standalone` (a standalone server runs a script over any keys).
    fn check(&mut self, key: &str) -> Result<()> {
        let slot = keyschema::key_slot(key.as_bytes());
        match &self.first {
            None => self.first = Some((slot, key.to_string())),
            Some((first_slot, _)) if *first_slot == slot || self.core.schema().standalone => {}
            Some((_, first)) => {
                return Err(Error::CrossSlot {
                    key: key.to_string(),
                    first: first.clone(),
                })
            }
        }
        Ok(())
    }

    /// Adds a write built by the write path.
    pub(crate) fn push_write(&mut self, write: Write) -> Result<&mut Self> {
        self.check(&write.key)?;
        self.writes.push(write);
        Ok(self)
    }

    /// Adds an expected value (already encoded; `None`: the key must not exist) for `key`.
    pub(crate) fn expect_encoded(&mut self, key: &str, expected: Option<Vec<u8>>) -> Result<&mut Self> {
        self.check(key)?;
        self.expectations.push((key.to_string(), expected));
        Ok(self)
    }

    /// Guards the transaction with a lock's fencing token, for keys on any slot, on standalone
    /// and cluster alike: a holder whose lock expired while it was paused cannot overwrite the
    /// work of the next holder. The script checks the token on the transaction's own slot:
    ///
    /// - on the lock's slot (its slot group: `cordum:wf:run:lock:{<runID>}` guarding
    ///   `wf:run:{<runID>}`), against the lock's counter: refused ([`Error::Fenced`]) once a
    ///   newer token has been issued;
    /// - on any other slot, against the lock's watermark there (`<lock>:fenced:{<slot tag>}`,
    ///   declared by the schema), which every guarded write raises to its token: refused once a
    ///   guarded write with a newer token has been applied on that slot. Tokens applied on a
    ///   slot therefore only increase.
    ///
    /// Only the check is deferred to [`Transaction::execute`]; this never fails.
    pub fn fenced(&mut self, fence: &Fence) -> Result<&mut Self> {
        self.fence = Some(fence.clone());
        Ok(self)
    }

    /// The key the fence is checked against for a transaction on `first`'s slot: on the lock's
    /// slot its counter (refused once a newer token was issued); elsewhere the lock's watermark
    /// on this slot (refused once a newer token wrote here), whose raise to the token is added to
    /// the writes.
    fn fence_check(&mut self, fence: Fence, first: &str) -> Result<String> {
        let slot = keyschema::key_slot(first.as_bytes());
        // On the lock's slot, or anywhere on a standalone-only schema: the counter itself.
        if keyschema::key_slot(fence.counter.as_bytes()) == slot || self.core.schema().standalone {
            return Ok(fence.counter);
        }
        let core = self.core;
        let watermark = core.policy(fence.lock).companion(Companion::Watermark);
        let key = watermark.and_then(|_| core.schema().watermark_key(fence.lock.index(), &fence.lock_key, slot));
        let (Some(watermark), Some(key)) = (watermark, key) else {
            // A schema that could not declare watermarks (its `keyschema_slot` is not an int).
            return Err(Error::CrossSlot {
                key: first.to_string(),
                first: fence.counter,
            });
        };
        let policy = core.policy(watermark);
        let raise = Write::set(policy, &key, fence.token.to_string().into_bytes(), policy.ttl);
        self.writes.push(raise);
        Ok(key)
    }

    /// Deletes a key.
    pub fn delete(&mut self, key: &str) -> Result<&mut Self> {
        self.push_write(Write::delete(key))
    }

    /// Applies every write at once, all or nothing: one script checks that every key has its
    /// schema type and every expected value is still there, then writes. A wrongly typed key is
    /// [`Error::WrongType`] and a changed value [`Error::Conflict`]; in both cases nothing is
    /// written. (MULTI/EXEC would not do: a command failing inside EXEC, such as `WRONGTYPE`,
    /// leaves the others applied.)
    pub async fn execute(self) -> Result<()> {
        let op = match self.first_id {
            Some(id) => Op::on(id, op!("TRANSACTION")),
            None => Op::keyless(op!("TRANSACTION")),
        };
        telemetry::observe(self.core, op, self.execute_all()).await
    }

    /// [`Transaction::execute`], observed by its caller.
    async fn execute_all(mut self) -> Result<()> {
        if self.bridges.is_empty() {
            return self.apply().await;
        }
        // Boxed: the bridge's steps stay out of every other transaction's future.
        let bridges = std::mem::take(&mut self.bridges);
        let core = self.core;
        Box::pin(async move {
            bridge::before(core, &bridges).await?;
            self.apply().await?;
            bridge::after(core, &bridges).await
        })
        .await
    }

    /// The writes, checked and applied in one script.
    async fn apply(mut self) -> Result<()> {
        // Their values were encoded when queued, outside the observed operation.
        #[cfg(feature = "telemetry")]
        crate::recording::bytes_out(self.writes.iter().map(Write::value_bytes).sum());
        let Some((_, first)) = self.first.take() else {
            return Ok(());
        };
        let first = &first;
        let checked = match self.fence.take() {
            Some(fence) => {
                let token = fence.token;
                Some((self.fence_check(fence, first)?, token))
            }
            None => None,
        };
        let fence_key = checked.as_ref().map(|(key, token)| (key.as_str(), *token));
        let plan = Plan::new(&self.expectations, fence_key, &self.writes);
        let answer = match shaped::script(&plan) {
            Some(script) => {
                let call = shaped::call(&script, &plan);
                self.core.apply_scripted(&call, first, &self.writes).await?
            }
            None => {
                let call = general::call(&plan);
                self.core.apply_scripted(&call, first, &self.writes).await?
            }
        };
        match answer {
            redis::Value::Int(1) => Ok(()),
            redis::Value::Array(ref items) if crate::util::int_at(items, 0) == 0 => {
                let (checked_key, token) = checked.unwrap_or_default();
                Err(Error::Fenced {
                    key: first.clone(),
                    counter: checked_key,
                    token,
                    current: u64::try_from(crate::util::int_at(items, 1)).unwrap_or(0),
                })
            }
            redis::Value::Int(_) => Err(Error::Conflict { key: first.clone() }),
            redis::Value::Array(found) => {
                let (index, found): (usize, String) = redis::from_redis_value(redis::Value::Array(found))
                    .map_err(|e| Error::command(first, "EVALSHA", e.into()))?;
                let key = plan.key(index).unwrap_or(first).to_string();
                let expected = self
                    .expected_type(&key, checked.as_ref())
                    .unwrap_or("string")
                    .to_string();
                Err(Error::WrongType { key, expected, found })
            }
            other => Err(Error::command(
                first,
                "EVALSHA",
                redis::RedisError::from((
                    redis::ErrorKind::UnexpectedReturnType,
                    "unexpected reply",
                    format!("{other:?}"),
                )),
            )),
        }
    }

    /// The type a key of this transaction must have.
    fn expected_type(&self, key: &str, fence: Option<&(String, u64)>) -> Option<&'static str> {
        if self.expectations.iter().any(|(k, _)| k == key) || fence.is_some_and(|(checked, _)| checked == key) {
            return Some("string");
        }
        self.writes.iter().find(|w| w.key == key).and_then(|w| w.expected_type)
    }
}

#[cfg(test)]
mod tests;
