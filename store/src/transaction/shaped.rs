//! Scripts made for a transaction's shape: the same checks and writes as the general script
//! ([`super::general`]), written out as straight-line Lua (`TYPE`, `GET`, a comparison, each
//! command with its name and keywords in the source), so that the server runs what a hand-written
//! script would and `ARGV` carries only values. A shape is what stays the same between calls of
//! one code path: which keys are checked for which type, what is expected of which key, the
//! commands and their keywords; values, TTLs and the keys themselves are arguments.
//!
//! Shapes are bounded: a transaction of more than [`MAX_COMMANDS`] commands, or any new shape once
//! [`MAX_SHAPES`] are known to the process, runs the general script. Each shape is one script in
//! the server's script cache (which Redis 7.0 never evicts), so the bound is also the most a
//! process adds there.

use super::plan::{Expected, Plan};
use crate::script::{ScriptCall, StoredScript};
use crate::write::Arg;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

/// The most commands a transaction with a script of its own has.
pub(super) const MAX_COMMANDS: usize = 32;

/// The most shapes a process keeps a script for.
pub(super) const MAX_SHAPES: usize = 64;

/// One step of a transaction's script: what the source says, never a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Step {
    /// The key of this number must have this type, or not exist.
    Check(usize, &'static str),
    /// The key of this number must hold what an argument says (a value, at most a token).
    Expect(usize, Kind),
    /// The key of this number must not exist.
    ExpectAbsent(usize),
    /// A command: its name, then its arguments as the next steps.
    Command(&'static str),
    /// An argument: the key of this number.
    Key(usize),
    /// An argument: a keyword, in the source.
    Word(&'static str),
    /// An argument: a value, from `ARGV`.
    Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Value,
    AtMost,
}

/// The scripts of the shapes a process has met, up to a bound.
pub(super) struct Shapes {
    max: usize,
    scripts: RwLock<HashMap<Vec<Step>, Arc<StoredScript>, BuildHasherDefault<StepHasher>>>,
}

/// FNV-1a: a shape is hashed on every transaction, and std's SipHash (a defence against keys
/// chosen to collide) was the largest cost of a guarded write on the client. Shapes come from the
/// program's code paths, never from data, so no one chooses them.
struct StepHasher(u64);

impl Default for StepHasher {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for StepHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

static SHAPES: LazyLock<Shapes> = LazyLock::new(|| Shapes::new(MAX_SHAPES));

/// The script of `plan`'s shape, made on first use; `None` when the plan is too long or the
/// process already knows [`MAX_SHAPES`] other shapes.
pub(super) fn script(plan: &Plan<'_>) -> Option<Arc<StoredScript>> {
    SHAPES.script(plan)
}

impl Shapes {
    /// No shapes yet; room for `max`.
    pub(super) fn new(max: usize) -> Self {
        Self {
            max,
            scripts: RwLock::new(HashMap::default()),
        }
    }

    /// The script of `plan`'s shape, made on first use; `None` when the plan is too long or
    /// `max` other shapes are known.
    pub(super) fn script(&self, plan: &Plan<'_>) -> Option<Arc<StoredScript>> {
        let commands: usize = plan.writes.iter().map(|(_, write)| write.commands.len()).sum();
        let named = || {
            plan.writes
                .iter()
                .flat_map(|(_, write)| &write.commands)
                .all(|c| literal(c.name))
        };
        // (A command name that cannot be written between quotes names no Redis command; the
        // general script lets the server say so.)
        if commands > MAX_COMMANDS || !named() {
            return None;
        }
        thread_local! {
            // The shape of this thread's last transaction: looked up without an allocation.
            static STEPS: std::cell::RefCell<Vec<Step>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        STEPS.with_borrow_mut(|steps| {
            write_steps(plan, steps);
            // A poisoned lock still holds a consistent map: entries are inserted whole.
            if let Some(script) = self
                .scripts
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(steps.as_slice())
            {
                return Some(Arc::clone(script));
            }
            let mut scripts = self.scripts.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(script) = scripts.get(steps.as_slice()) {
                return Some(Arc::clone(script));
            }
            if scripts.len() >= self.max {
                return None;
            }
            let script = Arc::new(StoredScript::new(source(steps)));
            scripts.insert(steps.clone(), Arc::clone(&script));
            Some(script)
        })
    }

    /// How many shapes have a script.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.scripts.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// The call of `script` (made for `plan`'s shape): the keys, then the values in the order the
/// source reads them.
pub(super) fn call<'s>(script: &'s StoredScript, plan: &Plan<'_>) -> ScriptCall<'s> {
    let mut call = script.call(&plan.keys);
    for (_, expected) in &plan.expectations {
        match expected {
            Expected::Value(value) => call.push(*value),
            Expected::AtMost(token) => call.push(token),
            Expected::Absent => &mut call,
        };
    }
    for (_, write) in &plan.writes {
        for command in &write.commands {
            for arg in &command.args {
                match arg {
                    Arg::Bytes(bytes) => call.push(bytes.as_slice()),
                    Arg::Int(n) => call.push(*n),
                    Arg::Word(word) if !literal(word) => call.push(*word),
                    Arg::Word(_) | Arg::Key => &mut call,
                };
            }
        }
    }
    call
}

/// Whether a keyword can be written in the source as it is, between single quotes (every
/// keyword the write path uses can; anything else travels as a value).
fn literal(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_graphic() && b != b'\'' && b != b'\\')
}

/// The shape of `plan`, written into `steps`.
fn write_steps(plan: &Plan<'_>, steps: &mut Vec<Step>) {
    steps.clear();
    steps.extend(
        plan.checks
            .iter()
            .map(|&(number, redis_type)| Step::Check(number, redis_type)),
    );
    steps.extend(plan.expectations.iter().map(|&(number, expected)| match expected {
        Expected::Value(_) => Step::Expect(number, Kind::Value),
        Expected::AtMost(_) => Step::Expect(number, Kind::AtMost),
        Expected::Absent => Step::ExpectAbsent(number),
    }));
    for (number, write) in &plan.writes {
        for command in &write.commands {
            steps.push(Step::Command(command.name));
            steps.extend(command.args.iter().map(|arg| match arg {
                Arg::Key => Step::Key(*number),
                Arg::Word(word) if literal(word) => Step::Word(word),
                Arg::Word(_) | Arg::Bytes(_) | Arg::Int(_) => Step::Value,
            }));
        }
    }
}

/// The Lua of a shape. Answers as the general script does: 1 (applied), 0 (a conflict),
/// `{0, newest token}` (a stale fence) or `{key number, type found}`.
fn source(steps: &[Step]) -> String {
    let mut lua = String::from("-- keyschema: a transaction's checks and writes, made for its shape\nlocal found\n");
    let mut argv = 0;
    let mut next = || {
        argv += 1;
        argv
    };
    let mut command_open = false;
    // Checks and expectations come first, then the commands (`steps` makes them so). Writing to
    // a String cannot fail: the results of `write!` are ignored below for that reason.
    for step in steps {
        match *step {
            Step::Check(key, redis_type) => {
                let _ = writeln!(
                    lua,
                    "found = redis.call('TYPE', KEYS[{key}])['ok']\n\
                     if found ~= 'none' and found ~= '{redis_type}' then return {{{key}, found}} end"
                );
            }
            Step::Expect(key, Kind::Value) => {
                let _ = writeln!(
                    lua,
                    "if redis.call('GET', KEYS[{key}]) ~= ARGV[{}] then return 0 end",
                    next()
                );
            }
            Step::Expect(key, Kind::AtMost) => {
                let _ = writeln!(
                    lua,
                    "found = redis.call('GET', KEYS[{key}])\n\
                     if (tonumber(found) or 0) > tonumber(ARGV[{}]) then return {{0, found}} end",
                    next()
                );
            }
            Step::ExpectAbsent(key) => {
                let _ = writeln!(lua, "if redis.call('EXISTS', KEYS[{key}]) == 1 then return 0 end");
            }
            Step::Command(name) => {
                if command_open {
                    lua.push_str(")\n");
                }
                let _ = write!(lua, "redis.call('{name}'");
                command_open = true;
            }
            Step::Key(key) => {
                let _ = write!(lua, ", KEYS[{key}]");
            }
            Step::Word(word) => {
                let _ = write!(lua, ", '{word}'");
            }
            Step::Value => {
                let _ = write!(lua, ", ARGV[{}]", next());
            }
        }
    }
    if command_open {
        lua.push_str(")\n");
    }
    lua.push_str("return 1\n");
    lua
}
