//! The one write path. Every write of the store (an accessor's, a batch's, a transaction's, a
//! script's) is built here from the key's [`KeyPolicy`]: the write itself, then what the policy
//! adds (trim to the cap, drop what the time window expired, the TTL). Callers only choose how
//! to send it: one command, MULTI/EXEC, inside a pipeline, or as a script's arguments.

use crate::error::{Error, Result};
use crate::policy::{KeyPolicy, SERVER_MAX_ARG};
use std::time::Duration;

/// An argument of a command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    /// The write's key (a script receives it in `KEYS`).
    Key,
    /// A value.
    Bytes(Vec<u8>),
    /// A keyword or a number already in text form.
    Word(&'static str),
    /// An integer.
    Int(i64),
}

/// One Redis command on the write's key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Command {
    pub(crate) name: &'static str,
    pub(crate) args: Vec<Arg>,
}

impl Command {
    fn new(name: &'static str) -> Self {
        // Room for the longest single write (`SET key value NX GET PX ms`) without growing.
        let mut args = Vec::with_capacity(6);
        args.push(Arg::Key);
        Self { name, args }
    }

    fn arg(mut self, arg: Arg) -> Self {
        self.args.push(arg);
        self
    }

    /// The command for redis-rs, `key` in place of [`Arg::Key`].
    pub(crate) fn to_cmd(&self, key: &str) -> redis::Cmd {
        // Sized for its arguments (an integer takes at most 20 bytes): one allocation for the
        // bytes and one for the argument list, rather than growing both as arguments come.
        let bytes = self.name.len()
            + self
                .args
                .iter()
                .map(|arg| match arg {
                    Arg::Key => key.len(),
                    Arg::Bytes(bytes) => bytes.len(),
                    Arg::Word(word) => word.len(),
                    Arg::Int(_) => 20,
                })
                .sum::<usize>();
        let mut cmd = redis::Cmd::with_capacity(1 + self.args.len(), bytes);
        cmd.arg(self.name);
        for arg in &self.args {
            match arg {
                Arg::Key => cmd.arg(key),
                Arg::Bytes(bytes) => cmd.arg(bytes.as_slice()),
                Arg::Word(word) => cmd.arg(*word),
                Arg::Int(n) => cmd.arg(*n),
            };
        }
        cmd
    }
}

/// A write on one key: its commands, applied together, and which one answers for the write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Write {
    pub(crate) key: String,
    pub(crate) commands: Vec<Command>,
    /// The command whose reply is the write's result (`RPUSH`'s length, `XADD`'s id).
    pub(crate) answer: usize,
    /// The Redis type the key must have (or not exist) for the commands to succeed, as `TYPE`
    /// names it; `None` when they succeed on any key (`DEL`, a record replaced whole).
    pub(crate) expected_type: Option<&'static str>,
    /// The largest value (member, field) the key takes, in bytes.
    pub(crate) max_value: usize,
}

fn millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Write {
    fn new(key: &str, commands: Vec<Command>) -> Self {
        Self {
            key: key.to_string(),
            commands,
            answer: 0,
            expected_type: None,
            max_value: SERVER_MAX_ARG,
        }
    }

    /// The same write, its values limited as `policy` says.
    fn limited(mut self, policy: &KeyPolicy) -> Self {
        self.max_value = policy.max_value;
        self
    }

    /// Refuses a key longer than keyschema reads back, or a value over the key's limit, before
    /// anything is sent.
    pub(crate) fn check_sizes(&self) -> Result<()> {
        if self.key.len() > keyschema::MAX_KEY_LEN {
            return Err(Error::key_too_long(&self.key));
        }
        for command in &self.commands {
            for arg in &command.args {
                if let Arg::Bytes(bytes) = arg {
                    if bytes.len() > self.max_value {
                        return Err(Error::ValueTooLarge {
                            key: self.key.clone(),
                            size: bytes.len(),
                            max: self.max_value,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// The bytes of the values it sends (its byte arguments: values, members, fields).
    #[cfg(feature = "telemetry")]
    pub(crate) fn value_bytes(&self) -> usize {
        self.commands
            .iter()
            .flat_map(|command| &command.args)
            .map(|arg| match arg {
                Arg::Bytes(bytes) => bytes.len(),
                _ => 0,
            })
            .sum()
    }

    fn typed(mut self, redis_type: &'static str) -> Self {
        self.expected_type = Some(redis_type);
        self
    }

    /// The command that answers, for error messages.
    pub(crate) fn name(&self) -> &'static str {
        self.commands.get(self.answer).map_or("MULTI", |c| c.name)
    }

    /// The TTL step every write ends with: `PEXPIRE key ms`, with `NX` under `keepttl`, so an
    /// existing TTL stays and a key without one (new, or written before the schema said so)
    /// gets it. This is the store's one `keepttl` behaviour, on every path.
    fn expire(mut self, policy: &KeyPolicy, ttl: Option<Duration>) -> Self {
        if let Some(ttl) = ttl {
            let expire = Command::new("PEXPIRE").arg(Arg::Int(millis(ttl)));
            self.commands.push(if policy.keep_ttl {
                expire.arg(Arg::Word("NX"))
            } else {
                expire
            });
        }
        self
    }

    /// A string value. With a refreshed TTL this is one command (`SET key value PX ms`).
    pub(crate) fn set(policy: &KeyPolicy, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> Self {
        let set = Command::new("SET").arg(Arg::Bytes(value));
        let write = match ttl {
            Some(ttl) if !policy.keep_ttl => Self::new(key, vec![set.arg(Arg::Word("PX")).arg(Arg::Int(millis(ttl)))]),
            _ if policy.keep_ttl => Self::new(key, vec![set.arg(Arg::Word("KEEPTTL"))]).expire(policy, ttl),
            _ => Self::new(key, vec![set]),
        };
        write.limited(policy)
    }

    /// A string value only if the key does not exist (`SET NX PX`): a new key, so its TTL is
    /// set whatever `keepttl` says. Answers `OK` or nil.
    pub(crate) fn set_if_absent(key: &str, value: Vec<u8>, ttl: Option<Duration>) -> Self {
        let mut set = Command::new("SET").arg(Arg::Bytes(value)).arg(Arg::Word("NX"));
        if let Some(ttl) = ttl {
            set = set.arg(Arg::Word("PX")).arg(Arg::Int(millis(ttl)));
        }
        Self::new(key, vec![set])
    }

    /// A value copied from the previous layout (bridge): written only if the key does not
    /// exist (`SET key value NX [PX ms]`), with the old key's remaining TTL. Answers `OK` or nil.
    pub(crate) fn copy_value(key: &str, value: Vec<u8>, ttl_ms: Option<i64>) -> Self {
        let mut set = Command::new("SET").arg(Arg::Bytes(value)).arg(Arg::Word("NX"));
        if let Some(ms) = ttl_ms {
            set = set.arg(Arg::Word("PX")).arg(Arg::Int(ms));
        }
        Self::new(key, vec![set])
    }

    /// A key of any type copied from the previous layout (bridge) as `DUMP` gave it: `RESTORE
    /// key ms payload`, refused with `BUSYKEY` when the key exists (no `REPLACE`); 0 ms is no
    /// TTL.
    pub(crate) fn restore(key: &str, payload: Vec<u8>, ttl_ms: Option<i64>) -> Self {
        let restore = Command::new("RESTORE")
            .arg(Arg::Int(ttl_ms.unwrap_or(0)))
            .arg(Arg::Bytes(payload));
        Self::new(key, vec![restore])
    }

    /// An idempotency claim: the value only if the key does not exist, answering the value
    /// already there (`SET key value NX GET PX ms`, Redis 7.0+): nil means the claim is ours.
    pub(crate) fn claim(policy: &KeyPolicy, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> Self {
        let mut write = Self::set_if_absent(key, value, ttl);
        if let Some(set) = write.commands.first_mut() {
            set.args.insert(3, Arg::Word("GET"));
        }
        write.typed("string").limited(policy)
    }

    /// A new value for an existing key, keeping its TTL (`SET key value XX KEEPTTL`): an
    /// idempotency key's final result. Answers `OK`, or nil when the key is gone.
    pub(crate) fn replace_keeping_ttl(policy: &KeyPolicy, key: &str, value: Vec<u8>) -> Self {
        let set = Command::new("SET")
            .arg(Arg::Bytes(value))
            .arg(Arg::Word("XX"))
            .arg(Arg::Word("KEEPTTL"));
        Self::new(key, vec![set]).limited(policy)
    }

    /// Reads the value and deletes the key in one step (`GETDEL`): a write, since it deletes.
    /// Answers the value, or nil.
    pub(crate) fn get_and_delete(key: &str) -> Self {
        Self::new(key, vec![Command::new("GETDEL")]).typed("string")
    }

    /// One command on a key as a scan found it (raw bytes, perhaps not UTF-8, sent as found):
    /// `name key args...`. For the writes of keyspace operations, which act on keys of no
    /// particular definition.
    pub(crate) fn raw(key: &[u8], name: &'static str, args: Vec<Arg>) -> Self {
        let mut command = Command::new(name);
        command.args[0] = Arg::Bytes(key.to_vec());
        command.args.extend(args);
        Self::new(&String::from_utf8_lossy(key), vec![command])
    }

    /// Removes `key` and `others` (which must share its slot on a cluster, or its node) without
    /// blocking the server (`UNLINK`); answers how many were removed.
    pub(crate) fn unlink(key: &[u8], others: &[Vec<u8>]) -> Self {
        Self::raw(
            key,
            "UNLINK",
            others.iter().map(|other| Arg::Bytes(other.clone())).collect(),
        )
    }

    /// Adds `counts` to the fields of a counter hash (`HINCRBY`, zeros skipped) and reads every
    /// field back (`HMGET`), in one MULTI/EXEC; answers the `HMGET` reply.
    pub(crate) fn add_counts(key: &str, fields: &[&'static str], counts: &[u64]) -> Self {
        let mut commands: Vec<Command> = fields
            .iter()
            .zip(counts)
            .filter(|(_, count)| **count > 0)
            .map(|(field, count)| {
                Command::new("HINCRBY")
                    .arg(Arg::Word(field))
                    .arg(Arg::Int(i64::try_from(*count).unwrap_or(i64::MAX)))
            })
            .collect();
        commands.push(
            fields
                .iter()
                .fold(Command::new("HMGET"), |cmd, field| cmd.arg(Arg::Word(field))),
        );
        let answer = commands.len() - 1;
        Self {
            answer,
            ..Self::new(key, commands).typed("hash")
        }
    }

    /// A whole hash record, replacing what was there.
    pub(crate) fn replace_record(
        policy: &KeyPolicy,
        key: &str,
        fields: Vec<(&'static str, Vec<u8>)>,
        ttl: Option<Duration>,
    ) -> Self {
        let mut commands = vec![Command::new("DEL")];
        if !fields.is_empty() {
            let mut hset = Command::new("HSET");
            for (name, value) in fields {
                hset = hset.arg(Arg::Word(name)).arg(Arg::Bytes(value));
            }
            commands.push(hset);
        }
        Self::new(key, commands).expire(policy, ttl).limited(policy)
    }

    /// Fields of a hash (`HSET`); answers how many were new.
    pub(crate) fn set_fields(
        policy: &KeyPolicy,
        key: &str,
        fields: Vec<(Vec<u8>, Vec<u8>)>,
        ttl: Option<Duration>,
    ) -> Self {
        let mut hset = Command::new("HSET");
        for (name, value) in fields {
            hset = hset.arg(Arg::Bytes(name)).arg(Arg::Bytes(value));
        }
        Self::new(key, vec![hset])
            .expire(policy, ttl)
            .typed("hash")
            .limited(policy)
    }

    /// Appends to a list, keeping the newest `cap` elements; answers the length before the trim.
    pub(crate) fn push(policy: &KeyPolicy, key: &str, values: Vec<Vec<u8>>, ttl: Option<Duration>) -> Self {
        let mut commands = vec![values
            .into_iter()
            .fold(Command::new("RPUSH"), |cmd, value| cmd.arg(Arg::Bytes(value)))];
        if let Some(cap) = policy.cap {
            commands.push(Command::new("LTRIM").arg(Arg::Int(-count(cap))).arg(Arg::Int(-1)));
        }
        Self::new(key, commands)
            .expire(policy, ttl)
            .typed("list")
            .limited(policy)
    }

    /// Adds set members; answers how many were new.
    pub(crate) fn add(policy: &KeyPolicy, key: &str, members: Vec<Vec<u8>>, ttl: Option<Duration>) -> Self {
        let sadd = members
            .into_iter()
            .fold(Command::new("SADD"), |cmd, member| cmd.arg(Arg::Bytes(member)));
        Self::new(key, vec![sadd])
            .expire(policy, ttl)
            .typed("set")
            .limited(policy)
    }

    /// Adds scored members to a sorted set, keeping the `cap` highest scores and, for a time
    /// index with a TTL, dropping members older than the TTL; answers how many were new.
    pub(crate) fn add_scored(
        policy: &KeyPolicy,
        key: &str,
        members: Vec<(f64, Vec<u8>)>,
        ttl: Option<Duration>,
    ) -> Self {
        let mut zadd = Command::new("ZADD");
        for (score, member) in members {
            zadd = zadd
                .arg(Arg::Bytes(score.to_string().into_bytes()))
                .arg(Arg::Bytes(member));
        }
        let mut commands = vec![zadd];
        if let Some(cap) = policy.cap {
            commands.push(
                Command::new("ZREMRANGEBYRANK")
                    .arg(Arg::Int(0))
                    .arg(Arg::Int(-count(cap) - 1)),
            );
        }
        if let Some(before) = policy.expired_before() {
            commands.push(
                Command::new("ZREMRANGEBYSCORE")
                    .arg(Arg::Word("-inf"))
                    .arg(Arg::Bytes(format!("({before}").into_bytes())),
            );
        }
        Self::new(key, commands)
            .expire(policy, ttl)
            .typed("zset")
            .limited(policy)
    }

    /// Appends a stream entry with one `data` field, approximately trimmed to the cap; answers
    /// the entry's id.
    pub(crate) fn append(policy: &KeyPolicy, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> Self {
        let mut xadd = Command::new("XADD");
        if let Some(cap) = policy.cap {
            xadd = xadd
                .arg(Arg::Word("MAXLEN"))
                .arg(Arg::Word("~"))
                .arg(Arg::Int(count(cap)));
        }
        let xadd = xadd.arg(Arg::Word("*")).arg(Arg::Word("data")).arg(Arg::Bytes(value));
        Self::new(key, vec![xadd])
            .expire(policy, ttl)
            .typed("stream")
            .limited(policy)
    }

    /// Deletes the key; answers how many keys were removed.
    pub(crate) fn delete(key: &str) -> Self {
        Self::new(key, vec![Command::new("DEL")])
    }

    /// Removes members of a set (`SREM`) or sorted set (`ZREM`), or fields of a hash (`HDEL`).
    /// Nothing is added, so no TTL is applied.
    pub(crate) fn remove(command: &'static str, key: &str, items: Vec<Vec<u8>>) -> Self {
        let cmd = items
            .into_iter()
            .fold(Command::new(command), |cmd, item| cmd.arg(Arg::Bytes(item)));
        let redis_type = match command {
            "HDEL" => "hash",
            "SREM" => "set",
            _ => "zset",
        };
        Self::new(key, vec![cmd]).typed(redis_type)
    }

    /// Appends the write's commands to `pipe`, every reply ignored but the answer's.
    pub(crate) fn append_to(&self, pipe: &mut redis::Pipeline, keep_answer: bool) {
        for (index, command) in self.commands.iter().enumerate() {
            pipe.add_command(command.to_cmd(&self.key));
            if !(keep_answer && index == self.answer) {
                pipe.ignore();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::KeyPolicies;

    fn policy(source: &str) -> KeyPolicy {
        let schema = keyschema::Schema::parse(source, "t.keys").unwrap();
        KeyPolicies::from_lookup(schema.model(), |_| None)
            .unwrap()
            .get(crate::policy::KeyId::new(0))
            .clone()
    }

    fn rendered(write: &Write) -> Vec<String> {
        write
            .commands
            .iter()
            .map(|c| {
                let args: Vec<String> = c
                    .args
                    .iter()
                    .map(|a| match a {
                        Arg::Key => write.key.clone(),
                        Arg::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                        Arg::Word(w) => (*w).to_string(),
                        Arg::Int(n) => n.to_string(),
                    })
                    .collect();
                format!("{} {}", c.name, args.join(" "))
            })
            .collect()
    }

    #[test]
    fn a_string_with_a_ttl_is_one_command_and_keepttl_adds_pexpire_nx() {
        let fixed = policy("keyspace t\na string text ttl 60s \"x\"\n");
        let write = Write::set(&fixed, "a", b"v".to_vec(), fixed.ttl);
        assert_eq!(rendered(&write), ["SET a v PX 60000"]);
        let keep = policy("keyspace t\na string text ttl 60s keepttl \"x\"\n");
        let write = Write::set(&keep, "a", b"v".to_vec(), keep.ttl);
        assert_eq!(rendered(&write), ["SET a v KEEPTTL", "PEXPIRE a 60000 NX"]);
        let none = policy("keyspace t\na string text ttl none \"x\"\n");
        assert_eq!(rendered(&Write::set(&none, "a", b"v".to_vec(), None)), ["SET a v"]);
    }

    #[test]
    fn collections_trim_to_their_cap_then_expire() {
        let list = policy("keyspace t\nl list text cap 10 ttl 1h \"x\"\n");
        let write = Write::push(&list, "l", vec![b"1".to_vec(), b"2".to_vec()], list.ttl);
        assert_eq!(rendered(&write), ["RPUSH l 1 2", "LTRIM l -10 -1", "PEXPIRE l 3600000"]);
        let zset = policy("keyspace t\nz zset member text score int cap 3 ttl 1h \"x\"\n");
        let write = Write::add_scored(&zset, "z", vec![(1.5, b"m".to_vec())], zset.ttl);
        assert_eq!(
            rendered(&write),
            ["ZADD z 1.5 m", "ZREMRANGEBYRANK z 0 -4", "PEXPIRE z 3600000"]
        );
        let stream = policy("keyspace t\ns stream text cap 100 ttl none \"x\"\n");
        let write = Write::append(&stream, "s", b"e".to_vec(), None);
        assert_eq!(rendered(&write), ["XADD s MAXLEN ~ 100 * data e"]);
    }
    #[test]
    fn sizes_are_checked_against_the_keys_limit_and_the_linters() {
        let small = policy("keyspace t\na string text ttl 60s max 4b \"x\"\n");
        assert_eq!(small.max_value, 4);
        assert!(Write::set(&small, "a", b"four".to_vec(), small.ttl)
            .check_sizes()
            .is_ok());
        let error = Write::set(&small, "a", b"fives".to_vec(), small.ttl)
            .check_sizes()
            .unwrap_err();
        assert!(
            matches!(error, Error::ValueTooLarge { size: 5, max: 4, .. }),
            "{error:?}"
        );
        // Members of a collection are values too.
        let list = policy("keyspace t\nl list text max 1kb \"x\"\n");
        let write = Write::push(&list, "l", vec![b"ok".to_vec(), vec![b'x'; 1025]], None);
        assert!(matches!(
            write.check_sizes(),
            Err(Error::ValueTooLarge { size: 1025, .. })
        ));
        // No `max`: the server's limit.
        let plain = policy("keyspace t\na string text \"x\"\n");
        assert_eq!(plain.max_value, SERVER_MAX_ARG);
        let long_key = "k".repeat(keyschema::MAX_KEY_LEN + 1);
        let error = Write::delete(&long_key).check_sizes().unwrap_err();
        assert!(matches!(&error, Error::KeyTooLong { len, .. } if *len == keyschema::MAX_KEY_LEN + 1));
        assert!(error.to_string().contains("nothing was sent"));
    }

    #[test]
    fn getdel_unlink_and_counts_are_writes_like_any_other() {
        assert_eq!(rendered(&Write::get_and_delete("a")), ["GETDEL a"]);
        let unlink = Write::unlink(b"k1", &[b"k2".to_vec(), b"k3".to_vec()]);
        assert_eq!(rendered(&unlink), ["UNLINK k1 k2 k3"]);
        let counts = Write::add_counts("s", &["hits", "misses"], &[2, 0]);
        assert_eq!(rendered(&counts), ["HINCRBY s hits 2", "HMGET s hits misses"]);
        assert_eq!(counts.name(), "HMGET");
        let raw = Write::raw(b"\xffkey", "PEXPIRE", vec![Arg::Int(5), Arg::Word("NX")]);
        assert_eq!(
            raw.commands[0].args[0],
            Arg::Bytes(b"\xffkey".to_vec()),
            "a scanned key is sent as found"
        );
    }
}
