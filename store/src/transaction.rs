//! Transactions over one slot group: writes to keys sharing a hash tag, each with its key's TTL
//! and cap, applied all or nothing by one script that checks types and expected values first.
//! Generated code builds them per slot group, so their keys share a slot by construction; the
//! check here is a guard for hand-built ones.

use crate::core::Core;
use crate::error::{Error, Result};
use crate::policy::KeyId;
use crate::script::ScriptCall;
use crate::write::{Arg, Write};
use keyschema::Companion;

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

/// What a guarded transaction's token is checked against, on the transaction's slot.
enum FenceCheck {
    /// The lock's counter (the transaction is on the lock's slot): refused once a newer token
    /// was issued.
    Counter,
    /// The lock's watermark on this slot: refused once a newer token wrote here; raised to the
    /// token by the same script.
    Watermark(String),
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
}

/// Checks every key's type and every expected value, then runs the queued commands: a wrongly
/// typed key or a changed value writes nothing. `ARGV`: the number of type checks and per check a
/// key index and the type `TYPE` must answer (or `none`); the number of expectations and per
/// expectation a key index, `1`/`0`/`f` (a value is expected / the key must be absent / a fencing
/// counter must not exceed the value) and the value;
/// then per command its argument count, its kinds (one byte per argument: `k` a key, passed as
/// its index in KEYS so that every key is in KEYS, or `v` a value) and its arguments as they are.
/// Answers 1 (applied), 0 (a conflict), `{0, newest token}` (a stale fence) or
/// `{key index, type found}`. Arguments are never cut or copied in Lua (Lua interns every string
/// it makes, hashing it): the kinds travel apart.
pub const CHECKED_SOURCE: &str = r"
local i = 1
local checks = tonumber(ARGV[i])
i = i + 1
for _ = 1, checks do
  local found = redis.call('TYPE', KEYS[tonumber(ARGV[i])])['ok']
  if found ~= 'none' and found ~= ARGV[i + 1] then
    return {tonumber(ARGV[i]), found}
  end
  i = i + 2
end
local expectations = tonumber(ARGV[i])
i = i + 1
for _ = 1, expectations do
  local current = redis.call('GET', KEYS[tonumber(ARGV[i])])
  if ARGV[i + 1] == '1' then
    if current ~= ARGV[i + 2] then return 0 end
  elseif ARGV[i + 1] == 'f' then
    if (tonumber(current) or 0) > tonumber(ARGV[i + 2]) then return {0, current} end
  elseif current then
    return 0
  end
  i = i + 3
end
local byte = string.byte
while i <= #ARGV do
  local argc = tonumber(ARGV[i])
  local kinds = ARGV[i + 1]
  local args = {}
  for a = 1, argc do
    local arg = ARGV[i + 1 + a]
    if byte(kinds, a) == 107 then
      arg = KEYS[tonumber(arg)]
    end
    args[a] = arg
  end
  i = i + 2 + argc
  redis.call(unpack(args))
end
return 1
";

static CHECKED: std::sync::LazyLock<crate::script::StoredScript> =
    std::sync::LazyLock::new(|| crate::script::StoredScript::new(CHECKED_SOURCE));

impl<'s> Transaction<'s> {
    /// An empty transaction on `core` ([`Store::transaction`](crate::Store::transaction)).
    pub(crate) fn new(core: &'s Core) -> Self {
        Self {
            core,
            writes: Vec::new(),
            first: None,
            expectations: Vec::new(),
            fence: None,
        }
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

    /// Where the fence is checked for a transaction on `first`'s slot, adding the watermark's
    /// raise to the writes when it is off the lock's slot.
    fn fence_check(&mut self, fence: &Fence, first: &str) -> Result<FenceCheck> {
        let slot = keyschema::key_slot(first.as_bytes());
        // On the lock's slot, or anywhere on a standalone-only schema: the counter itself.
        if keyschema::key_slot(fence.counter.as_bytes()) == slot || self.core.schema().standalone {
            return Ok(FenceCheck::Counter);
        }
        let core = self.core;
        let watermark = core.policy(fence.lock).companion(Companion::Watermark);
        let key = watermark.and_then(|_| core.schema().watermark_key(fence.lock.index(), &fence.lock_key, slot));
        let (Some(watermark), Some(key)) = (watermark, key) else {
            // A schema that could not declare watermarks (its `keyschema_slot` is not an int).
            return Err(Error::CrossSlot {
                key: first.to_string(),
                first: fence.counter.clone(),
            });
        };
        let policy = core.policy(watermark);
        let raise = Write::set(policy, &key, fence.token.to_string().into_bytes(), policy.ttl);
        self.writes.push(raise);
        Ok(FenceCheck::Watermark(key))
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
    pub async fn execute(mut self) -> Result<()> {
        let Some((_, first)) = self.first.clone() else {
            return Ok(());
        };
        let first = &first;
        let check = match self.fence.clone() {
            Some(fence) => Some((self.fence_check(&fence, first)?, fence)),
            None => None,
        };
        let checked = check.as_ref().map(|(check, fence)| match check {
            FenceCheck::Counter => (fence.counter.clone(), fence.token),
            FenceCheck::Watermark(key) => (key.clone(), fence.token),
        });
        let (call, keys) = self.script_call(checked.as_ref());
        let answer = self.core.apply_scripted(&call, first, &self.writes).await?;
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
                let key = keys
                    .get(index.saturating_sub(1))
                    .map_or_else(|| first.clone(), |key| (*key).to_string());
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

    /// The call of [`CHECKED`]: `KEYS` (every key the transaction touches, once, also answered
    /// for naming a key in an error) and `ARGV`, written straight into the command; `fence`: the
    /// key the fencing token is checked against (counter or watermark) and the token.
    fn script_call<'a>(&'a self, fence: Option<&'a (String, u64)>) -> (ScriptCall, Vec<&'a str>) {
        let mut keys: Vec<&'a str> = Vec::new();
        let mut index_of = |key: &'a str| -> usize {
            match keys.iter().position(|k| *k == key) {
                Some(i) => i + 1,
                None => {
                    keys.push(key);
                    keys.len()
                }
            }
        };
        // Type checks: expected keys are strings (GET them), written keys as their commands need.
        let mut checks: Vec<(usize, &'static str)> = Vec::new();
        for key in self
            .expectations
            .iter()
            .map(|(key, _)| key.as_str())
            .chain(fence.map(|(checked, _)| checked.as_str()))
        {
            checks.push((index_of(key), "string"));
        }
        let mut write_keys = Vec::with_capacity(self.writes.len());
        for write in &self.writes {
            let index = index_of(&write.key);
            write_keys.push(index);
            if let Some(redis_type) = write.expected_type {
                checks.push((index, redis_type));
            }
        }
        // One check per key and type, wherever the repeats are (a fenced write checks the
        // watermark as the fence's key and again as a written key): each is a `TYPE` call.
        checks.sort_unstable();
        checks.dedup();
        let fence_index = fence.map(|(checked, token)| (index_of(checked), *token));
        let expectation_keys: Vec<usize> = self.expectations.iter().map(|(key, _)| index_of(key)).collect();
        let mut call = CHECKED.call(&keys);
        call.push(checks.len());
        for (index, redis_type) in checks {
            call.push(index).push(redis_type);
        }
        call.push(self.expectations.len() + usize::from(fence.is_some()));
        if let Some((index, token)) = fence_index {
            call.push(index).push("f").push(token);
        }
        for ((_, expected), index) in self.expectations.iter().zip(expectation_keys) {
            call.push(index);
            match expected {
                Some(value) => call.push("1").push(value.as_slice()),
                None => call.push("0").push(""),
            };
        }
        let mut kinds = Vec::new();
        for (write, key) in self.writes.iter().zip(write_keys) {
            for command in &write.commands {
                kinds.clear();
                kinds.push(b'v');
                kinds.extend(command.args.iter().map(|arg| match arg {
                    Arg::Key => b'k',
                    _ => b'v',
                }));
                call.push(command.args.len() + 1)
                    .push(kinds.as_slice())
                    .push(command.name);
                for arg in &command.args {
                    match arg {
                        Arg::Key => call.push(key),
                        Arg::Bytes(bytes) => call.push(bytes.as_slice()),
                        Arg::Word(word) => call.push(*word),
                        Arg::Int(n) => call.push(*n),
                    };
                }
            }
        }
        (call, keys)
    }
}
