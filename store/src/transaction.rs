//! Transactions over one slot group: writes to keys sharing a hash tag, applied together by
//! MULTI/EXEC, each with its key's TTL and cap. Generated code builds them per slot group, so
//! their keys share a slot by construction; the check here is a guard for hand-built ones.

use crate::codec::Codec;
use crate::keys::{HashRecord, Score};
use crate::store::encode;
use crate::{Error, Result, Store};
use keyschema::{RedisType, TtlOnWrite};

/// Writes to keys of one slot, sent as one MULTI/EXEC, or, when the transaction expects values
/// ([`Transaction::expect`]), as one script that checks them before writing.
pub struct Transaction<'s> {
    store: &'s Store,
    pipe: redis::Pipeline,
    first: Option<(u16, String)>,
    expectations: Vec<(String, Option<Vec<u8>>)>,
}

/// Checks expected values, then runs the queued commands. `ARGV`: the number of expectations;
/// per expectation a key index, `1`/`0` (a value is expected / the key must be absent) and the
/// value; then per command its argument count and its arguments, each tagged `k<index>` (a key,
/// so that every key is passed in KEYS) or `v<bytes>`.
static CHECKED: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
local n = tonumber(ARGV[1])
local i = 2
for _ = 1, n do
  local current = redis.call('GET', KEYS[tonumber(ARGV[i])])
  if ARGV[i + 1] == '1' then
    if current ~= ARGV[i + 2] then return 0 end
  elseif current then
    return 0
  end
  i = i + 3
end
while i <= #ARGV do
  local argc = tonumber(ARGV[i])
  i = i + 1
  local args = {}
  for a = 1, argc do
    local arg = ARGV[i]
    i = i + 1
    if string.sub(arg, 1, 1) == 'k' then
      args[a] = KEYS[tonumber(string.sub(arg, 2))]
    else
      args[a] = string.sub(arg, 2)
    end
  end
  redis.call(unpack(args))
end
return 1
",
    )
});

impl Store {
    /// An empty transaction.
    pub fn transaction(&self) -> Transaction<'_> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        Transaction {
            store: self,
            pipe,
            first: None,
            expectations: Vec::new(),
        }
    }
}

impl<'s> Transaction<'s> {
    fn check(&mut self, key: &str) -> Result<()> {
        let slot = keyschema::key_slot(key.as_bytes());
        match &self.first {
            None => self.first = Some((slot, key.to_string())),
            Some((first_slot, _)) if *first_slot == slot => {}
            Some((_, first)) => {
                return Err(Error::CrossSlot {
                    key: key.to_string(),
                    first: first.clone(),
                })
            }
        }
        Ok(())
    }

    fn keep_ttl(&self, def: usize) -> bool {
        self.store
            .schema()
            .keys
            .get(def)
            .is_some_and(|k| k.ttl_on_write == TtlOnWrite::Keep)
    }

    fn cap(&self, def: usize) -> Option<i64> {
        match self.store.schema().keys.get(def).map(|k| &k.redis_type) {
            Some(RedisType::List { cap, .. } | RedisType::Zset { cap, .. }) => {
                cap.map(|c| i64::try_from(c).unwrap_or(i64::MAX))
            }
            _ => None,
        }
    }

    /// Writes a string value (its TTL refreshed, or kept under `keepttl`).
    pub fn set<C: Codec>(&mut self, def: usize, key: &str, value: &C::Value) -> Result<&mut Self> {
        self.check(key)?;
        let bytes = encode::<C>(key, value)?;
        if self.keep_ttl(def) {
            // KEEPTTL, then PEXPIRE NX: a new key gets its TTL, an existing one keeps its own.
            self.pipe.cmd("SET").arg(key).arg(bytes).arg("KEEPTTL").ignore();
            self.store.push_expire(&mut self.pipe, def, key);
        } else {
            let set = self.pipe.cmd("SET").arg(key).arg(bytes);
            if let Some(ttl) = self.store.ttl_of(def) {
                set.arg("PX").arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
            }
            set.ignore();
        }
        Ok(self)
    }

    /// Replaces a hash record.
    pub fn set_record<R: HashRecord>(&mut self, def: usize, key: &str, record: &R) -> Result<&mut Self> {
        self.check(key)?;
        let fields = record.to_fields(key)?;
        self.pipe.cmd("DEL").arg(key).ignore();
        if !fields.is_empty() {
            let hset = self.pipe.cmd("HSET").arg(key);
            for (name, value) in &fields {
                hset.arg(*name).arg(value);
            }
            hset.ignore();
        }
        self.store.push_expire(&mut self.pipe, def, key);
        Ok(self)
    }

    /// Appends to a list, trimmed to its cap.
    pub fn push<C: Codec>(&mut self, def: usize, key: &str, values: &[C::Value]) -> Result<&mut Self> {
        self.check(key)?;
        let rpush = self.pipe.cmd("RPUSH").arg(key);
        for value in values {
            rpush.arg(encode::<C>(key, value)?);
        }
        rpush.ignore();
        if let Some(cap) = self.cap(def) {
            self.pipe.cmd("LTRIM").arg(key).arg(-cap).arg(-1).ignore();
        }
        self.store.push_expire(&mut self.pipe, def, key);
        Ok(self)
    }

    /// Adds members to a set.
    pub fn add<C: Codec>(&mut self, def: usize, key: &str, members: &[C::Value]) -> Result<&mut Self> {
        self.check(key)?;
        let sadd = self.pipe.cmd("SADD").arg(key);
        for member in members {
            sadd.arg(encode::<C>(key, member)?);
        }
        sadd.ignore();
        self.store.push_expire(&mut self.pipe, def, key);
        Ok(self)
    }

    /// Adds scored members to a sorted set, trimmed to its cap.
    pub fn add_scored<C: Codec, S: Score>(
        &mut self,
        def: usize,
        key: &str,
        members: &[(C::Value, S)],
    ) -> Result<&mut Self> {
        self.check(key)?;
        let zadd = self.pipe.cmd("ZADD").arg(key);
        for (member, score) in members {
            zadd.arg(score.to_score()).arg(encode::<C>(key, member)?);
        }
        zadd.ignore();
        if let Some(cap) = self.cap(def) {
            self.pipe.cmd("ZREMRANGEBYRANK").arg(key).arg(0).arg(-cap - 1).ignore();
        }
        if let Some(before) = crate::keys::expired_before(self.store, def) {
            self.pipe
                .cmd("ZREMRANGEBYSCORE")
                .arg(key)
                .arg("-inf")
                .arg(format!("({before}"))
                .ignore();
        }
        self.store.push_expire(&mut self.pipe, def, key);
        Ok(self)
    }

    /// Optimistic concurrency: the transaction applies only if the string at `key` still holds
    /// `value` (`None`: the key must not exist) when it runs; otherwise [`Error::Conflict`], and
    /// nothing is written. Read, decide, expect what was read, write; retry on conflict.
    pub fn expect<C: Codec>(&mut self, key: &str, value: Option<&C::Value>) -> Result<&mut Self> {
        self.check(key)?;
        let expected = value.map(|value| encode::<C>(key, value)).transpose()?;
        self.expectations.push((key.to_string(), expected));
        Ok(self)
    }

    /// Deletes a key.
    pub fn delete(&mut self, key: &str) -> Result<&mut Self> {
        self.check(key)?;
        self.pipe.cmd("DEL").arg(key).ignore();
        Ok(self)
    }

    /// Applies every write at once: MULTI/EXEC, or the checking script when values are expected.
    pub async fn execute(self) -> Result<()> {
        let Some((_, first)) = self.first else { return Ok(()) };
        if self.expectations.is_empty() {
            return self.store.run_atomic::<()>(&self.pipe, &first).await;
        }
        let mut keys: Vec<&str> = Vec::new();
        let index_of = |key: &str, keys: &mut Vec<String>| -> usize {
            match keys.iter().position(|k| k == key) {
                Some(i) => i + 1,
                None => {
                    keys.push(key.to_string());
                    keys.len()
                }
            }
        };
        let mut all_keys: Vec<String> = Vec::new();
        let mut argv: Vec<Vec<u8>> = vec![self.expectations.len().to_string().into_bytes()];
        for (key, expected) in &self.expectations {
            argv.push(index_of(key, &mut all_keys).to_string().into_bytes());
            argv.push(if expected.is_some() {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            });
            argv.push(expected.clone().unwrap_or_default());
        }
        // The keys the commands touch: every written key went through `check`, and is the
        // second argument (the first after the command name) of its command.
        for cmd in self.pipe.cmd_iter() {
            let args: Vec<&[u8]> = cmd
                .args_iter()
                .filter_map(|arg| match arg {
                    redis::Arg::Simple(bytes) => Some(bytes),
                    // Transactions hold no cursor commands.
                    _ => None,
                })
                .collect();
            if args.len() > 1 {
                if let Ok(key) = std::str::from_utf8(args[1]) {
                    index_of(key, &mut all_keys);
                }
            }
            argv.push(args.len().to_string().into_bytes());
            for arg in args {
                match all_keys.iter().position(|k| k.as_bytes() == arg) {
                    Some(i) => argv.push(format!("k{}", i + 1).into_bytes()),
                    None => {
                        let mut tagged = Vec::with_capacity(arg.len() + 1);
                        tagged.push(b'v');
                        tagged.extend_from_slice(arg);
                        argv.push(tagged);
                    }
                }
            }
        }
        keys.extend(all_keys.iter().map(String::as_str));
        let mut invocation = CHECKED.prepare_invoke();
        for key in &keys {
            invocation.key(*key);
        }
        for arg in &argv {
            invocation.arg(arg.as_slice());
        }
        let applied: i64 = invocation
            .invoke_async(&mut self.store.connection())
            .await
            .map_err(|source| Error::Command {
                key: first.clone(),
                command: "EVALSHA",
                source,
            })?;
        if applied == 1 {
            Ok(())
        } else {
            Err(Error::Conflict { key: first })
        }
    }
}
