//! The general transaction script: one script for every transaction, reading the checks,
//! expectations and commands from its arguments. Used for transactions too long or too varied to
//! get a script of their own ([`super::shaped`]).

use super::plan::{Expected, Plan};
use crate::script::{ScriptCall, StoredScript};
use crate::write::Arg;
use std::sync::LazyLock;

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

static CHECKED: LazyLock<StoredScript> = LazyLock::new(|| StoredScript::new(CHECKED_SOURCE));

/// The call of the general script for `plan`, its arguments written straight into the command.
pub(super) fn call(plan: &Plan<'_>) -> ScriptCall<'static> {
    let mut call = CHECKED.call(&plan.keys);
    call.push(plan.checks.len());
    for (number, redis_type) in &plan.checks {
        call.push(number).push(*redis_type);
    }
    call.push(plan.expectations.len());
    for (number, expected) in &plan.expectations {
        call.push(number);
        match expected {
            Expected::Value(value) => call.push("1").push(*value),
            Expected::Absent => call.push("0").push(""),
            Expected::AtMost(token) => call.push("f").push(token),
        };
    }
    let mut kinds = Vec::new();
    for (number, write) in &plan.writes {
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
                    Arg::Key => call.push(number),
                    Arg::Bytes(bytes) => call.push(bytes.as_slice()),
                    Arg::Word(word) => call.push(*word),
                    Arg::Int(n) => call.push(*n),
                };
            }
        }
    }
    call
}
