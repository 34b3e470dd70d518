//! A transaction as a script runs it: every key once, numbered as the script's `KEYS`; the type
//! checks; the expected values; the commands. Both of the transaction's scripts (one made for the
//! transaction's shape, or the general one) are rendered from it.

use crate::write::Write;

/// What a key must hold for the transaction to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expected<'a> {
    /// This value.
    Value(&'a [u8]),
    /// Nothing: the key must not exist.
    Absent,
    /// A fencing counter or watermark: at most this token (absent counts as 0).
    AtMost(u64),
}

/// A transaction laid out for its script. Key numbers start at 1, as Lua's `KEYS` does.
pub(super) struct Plan<'a> {
    /// Every key the transaction touches, once, in the order first met.
    pub(super) keys: Vec<&'a str>,
    /// The type `TYPE` must answer (or `none`) per key number: one per key and type, sorted.
    pub(super) checks: Vec<(usize, &'static str)>,
    /// What a key must hold, per key number: the fence first.
    pub(super) expectations: Vec<(usize, Expected<'a>)>,
    /// Each write with its key's number, in the order given.
    pub(super) writes: Vec<(usize, &'a Write)>,
}

impl<'a> Plan<'a> {
    /// The plan of `writes` under `expectations` (`None`: the key must be absent) and a fence
    /// (the key its token is checked against, and the token).
    pub(super) fn new(
        expectations: &'a [(String, Option<Vec<u8>>)],
        fence: Option<(&'a str, u64)>,
        writes: &'a [Write],
    ) -> Self {
        let mut plan = Self {
            keys: Vec::with_capacity(writes.len() + expectations.len() + 1),
            checks: Vec::new(),
            expectations: Vec::with_capacity(expectations.len() + 1),
            writes: Vec::with_capacity(writes.len()),
        };
        if let Some((checked, token)) = fence {
            let number = plan.number(checked);
            plan.checks.push((number, "string"));
            plan.expectations.push((number, Expected::AtMost(token)));
        }
        for (key, value) in expectations {
            let number = plan.number(key);
            plan.checks.push((number, "string"));
            let expected = value.as_deref().map_or(Expected::Absent, Expected::Value);
            plan.expectations.push((number, expected));
        }
        for write in writes {
            let number = plan.number(&write.key);
            if let Some(redis_type) = write.expected_type {
                plan.checks.push((number, redis_type));
            }
            plan.writes.push((number, write));
        }
        // One check per key and type, wherever the repeats are (a fenced write checks its
        // watermark as the fence's key and again as a written key): each is a `TYPE` call.
        plan.checks.sort_unstable();
        plan.checks.dedup();
        plan
    }

    /// The number of `key` in `KEYS`, adding it when new.
    fn number(&mut self, key: &'a str) -> usize {
        match self.keys.iter().position(|known| *known == key) {
            Some(at) => at + 1,
            None => {
                self.keys.push(key);
                self.keys.len()
            }
        }
    }

    /// The key of number `number`.
    pub(super) fn key(&self, number: usize) -> Option<&'a str> {
        number.checked_sub(1).and_then(|at| self.keys.get(at)).copied()
    }
}
