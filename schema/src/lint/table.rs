//! Many keys linted into columns: per key its place in the input, its pattern, its slot and the
//! code of its problem, plus counts per pattern and per problem. A dump of a keyspace (a million
//! keys) is answered without building a [`LintResult`](super::LintResult) per key; a key's full
//! result is built when someone asks for it, from its place in the input.

use super::{readable, MAX_KEY_LEN};
use crate::diagnostics::Code;
use crate::slot::key_slot;
use crate::Schema;

/// The lint codes in the order of their numbers in [`LintTable::problems`]: number `n` is
/// `LINT_CODES[n - 1]`; 0 means no problem.
pub const LINT_CODES: [Code; 5] = [
    Code::NoPatternMatches,
    Code::WrongParamType,
    Code::BadEscape,
    Code::KeyOutOfBounds,
    Code::KeyNotUtf8,
];

/// How many keys are linted between two progress reports.
const PROGRESS_EVERY: usize = 1 << 16;

/// An input too large for a [`LintTable`], whose offsets are 32-bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an input of {len} bytes is larger than the 4 GiB a lint table indexes; lint it in parts")]
pub struct InputTooLarge {
    /// The input's length in bytes.
    pub len: usize,
}

/// The compact lint of every line of an input, in columns indexed by key.
///
/// The lines are those `keyschema lint` reads: split at `\n`, a `\r` before it dropped, every
/// line a key (an empty line is an empty key, `K004`), nothing after a final `\n`. Each key's
/// problem is the first problem of its [`LintResult`](super::LintResult), so
/// [`Schema::lint_bytes`] on [`LintTable::key`] gives the full result of any row.
///
/// ```
/// use keyschema::{examples, Schema, LINT_CODES};
///
/// let schema = Schema::parse(examples::CORDUM, "cordum.keys").unwrap();
/// let table = schema.lint_table(b"job:index:running\r\njob:index:RUNNING\n").unwrap();
/// assert_eq!(table.len(), 2);
/// let pattern = table.pattern(0).unwrap();
/// assert_eq!(schema.model().keys[pattern].pattern.template, "job:index:<state>");
/// assert_eq!(table.problem(0), None);
/// assert_eq!(table.problem(1), Some(LINT_CODES[1])); // K002: `RUNNING` is not lower case
/// assert_eq!(table.key(b"job:index:running\r\njob:index:RUNNING\n", 1), b"job:index:RUNNING");
/// assert_eq!(table.keys_per_problem()[0], 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintTable {
    starts: Vec<u32>,
    ends: Vec<u32>,
    patterns: Vec<i32>,
    slots: Vec<u16>,
    problems: Vec<u8>,
    keys_per_pattern: Vec<u32>,
    keys_per_problem: [u32; LINT_CODES.len() + 1],
}

impl LintTable {
    /// The number of keys.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether the input had no key.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Per key: the byte offset in the input where it starts.
    pub fn starts(&self) -> &[u32] {
        &self.starts
    }

    /// Per key: the byte offset in the input where it ends (its line break excluded).
    pub fn ends(&self) -> &[u32] {
        &self.ends
    }

    /// Per key: the index in [`KeySchema::keys`](crate::KeySchema::keys) of its pattern, or -1
    /// when it matches none.
    pub fn patterns(&self) -> &[i32] {
        &self.patterns
    }

    /// Per key: its cluster hash slot.
    pub fn slots(&self) -> &[u16] {
        &self.slots
    }

    /// Per key: the number of its problem's code (see [`LINT_CODES`]), 0 when it has none.
    pub fn problems(&self) -> &[u8] {
        &self.problems
    }

    /// Per key definition: how many keys matched it.
    pub fn keys_per_pattern(&self) -> &[u32] {
        &self.keys_per_pattern
    }

    /// Per problem number: how many keys have it; index 0 counts the keys without a problem.
    pub fn keys_per_problem(&self) -> &[u32] {
        &self.keys_per_problem
    }

    /// The key definition key `row` matched.
    pub fn pattern(&self, row: usize) -> Option<usize> {
        usize::try_from(self.patterns[row]).ok()
    }

    /// The code of the problem of key `row`.
    pub fn problem(&self, row: usize) -> Option<Code> {
        LINT_CODES.get(usize::from(self.problems[row]).checked_sub(1)?).copied()
    }

    /// The bytes of key `row` in `input` (the input the table was made from).
    pub fn key<'i>(&self, input: &'i [u8], row: usize) -> &'i [u8] {
        &input[self.starts[row] as usize..self.ends[row] as usize]
    }

    fn push(&mut self, start: usize, end: usize, pattern: Option<usize>, slot: u16, problem: Option<Code>) {
        // The caller checked that the input's length fits in 32 bits, and a schema holds far fewer
        // than 2^31 key definitions (its source is at most 4 MiB).
        self.starts.push(start as u32);
        self.ends.push(end as u32);
        self.patterns.push(pattern.map_or(-1, |p| p as i32));
        self.slots.push(slot);
        let number = problem
            .and_then(|code| LINT_CODES.iter().position(|&c| c == code))
            .map_or(0, |i| i + 1);
        self.problems.push(number as u8);
        self.keys_per_problem[number] += 1;
        if let Some(p) = pattern {
            self.keys_per_pattern[p] += 1;
        }
    }
}

impl Schema {
    /// Lints every line of `input` into a [`LintTable`].
    pub fn lint_table(&self, input: &[u8]) -> Result<LintTable, InputTooLarge> {
        self.lint_table_with_progress(input, |_, _| {})
    }

    /// [`Schema::lint_table`], calling `progress(keys, bytes)` with the keys and bytes done after
    /// every 65,536 keys and at the end (a page shows how far a million keys have got).
    pub fn lint_table_with_progress(
        &self,
        input: &[u8],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<LintTable, InputTooLarge> {
        if u32::try_from(input.len()).is_err() {
            return Err(InputTooLarge { len: input.len() });
        }
        let matcher = self.matcher();
        let mut table = LintTable {
            keys_per_pattern: vec![0; self.model().keys.len()],
            ..LintTable::default()
        };
        let whole = std::str::from_utf8(input).ok();
        let mut at = 0;
        while at < input.len() {
            let line_end = input[at..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(input.len(), |i| at + i);
            let end = if line_end > at && input[line_end - 1] == b'\r' {
                line_end - 1
            } else {
                line_end
            };
            let key = &input[at..end];
            // Most inputs are UTF-8 throughout (a JavaScript string always is): then a key is a
            // slice of the text (lines split at ASCII bytes are on char boundaries), and only its
            // length needs checking.
            let text = whole
                .and_then(|whole| whole.get(at..end))
                .filter(|key| key.len() <= MAX_KEY_LEN);
            match text.map_or_else(|| readable(key), Ok) {
                // The matcher's decision, as `lint` takes it: one behaviour for both.
                Ok(text) => match matcher.classify(text) {
                    Ok(found) => table.push(at, end, Some(found), key_slot(key), None),
                    Err(failure) => table.push(at, end, None, key_slot(key), Some(failure.code)),
                },
                Err(unreadable) => {
                    table.push(at, end, None, key_slot(key), Some(unreadable.code()));
                }
            }
            at = line_end + 1;
            if table.len() % PROGRESS_EVERY == 0 {
                progress(table.len(), at.min(input.len()));
            }
        }
        progress(table.len(), input.len());
        Ok(table)
    }
}
