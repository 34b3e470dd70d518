//! The lint table against `lint_bytes`, key by key: the same lines as `keyschema lint` reads,
//! and for each the pattern, slot and first problem of the full result.

use keyschema::{examples, LintResult, LintTable, Schema, LINT_CODES};
use proptest::prelude::*;

fn cordum() -> Schema {
    Schema::parse(examples::CORDUM, "cordum.keys").expect("the bundled schema is valid")
}

/// The lines as the CLI reads them (`read_until(b'\n')`, then `\n` and `\r` dropped).
fn cli_lines(input: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        lines.push(line.strip_suffix(b"\r").unwrap_or(line));
        rest = next;
    }
    lines
}

fn assert_agrees(schema: &Schema, input: &[u8], table: &LintTable) {
    let lines = cli_lines(input);
    assert_eq!(table.len(), lines.len(), "one row per line");
    let mut per_pattern = vec![0u32; schema.model().keys.len()];
    let mut per_problem = [0u32; 6];
    for (row, line) in lines.iter().enumerate() {
        assert_eq!(table.key(input, row), *line, "row {row}");
        let full: LintResult = schema.lint_bytes(line);
        let name = table.pattern(row).map(|p| schema.model().keys[p].name.as_str());
        assert_eq!(name, full.name.as_deref(), "pattern of {line:?}");
        assert_eq!(table.slots()[row], full.slot, "slot of {line:?}");
        assert_eq!(
            table.problem(row),
            full.problems.first().map(|p| p.code),
            "problem of {line:?}"
        );
        if let Some(p) = table.pattern(row) {
            per_pattern[p] += 1;
        }
        per_problem[table.problems()[row] as usize] += 1;
    }
    assert_eq!(table.keys_per_pattern(), per_pattern.as_slice());
    assert_eq!(table.keys_per_problem(), per_problem.as_slice());
}

#[test]
fn every_kind_of_line_agrees_with_lint_bytes() {
    let schema = cordum();
    let long = "a".repeat(70_000);
    let mut input = Vec::new();
    for line in [
        "job:state:0f8fad5b-d9cb-469f-a165-70867728950e",
        "job:index:running\r",
        "job:index:RUNNING",
        "",
        "\r",
        "session:bad%ZZ",
        "user:id:0f8fad5b-d9cb-469f-a165-70867728950e",
        "nope",
        &long,
        "ключ:значение",
        "job:state:",
    ] {
        input.extend_from_slice(line.as_bytes());
        input.push(b'\n');
    }
    input.extend_from_slice(b"bad:\xff\xfe:utf8\nlast:line:without:break");
    let table = schema.lint_table(&input).expect("a small input");
    assert_agrees(&schema, &input, &table);
    // Every lint code is among the planted keys.
    for (i, code) in LINT_CODES.iter().enumerate() {
        assert!(table.keys_per_problem()[i + 1] > 0, "no key with {code}");
    }
    assert_eq!(table.len(), 13);
}

#[test]
fn progress_reports_every_65536_keys_and_at_the_end() {
    let schema = cordum();
    let input = "job:index:running\n".repeat(150_000);
    let mut reports = Vec::new();
    let table = schema
        .lint_table_with_progress(input.as_bytes(), |keys, bytes| reports.push((keys, bytes)))
        .expect("a small input");
    assert_eq!(table.len(), 150_000);
    assert_eq!(table.keys_per_problem()[0], 150_000);
    assert_eq!(
        reports,
        [(65_536, 65_536 * 18), (131_072, 131_072 * 18), (150_000, input.len())]
    );
}

#[test]
fn an_empty_input_has_no_key() {
    let table = cordum().lint_table(b"").expect("an empty input");
    assert!(table.is_empty());
    assert_eq!(table.keys_per_problem(), [0; 6]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any bytes: lines of keys, hostile values, stray `\r`, invalid UTF-8.
    #[test]
    fn any_input_agrees_with_lint_bytes(
        parts in prop::collection::vec(
            prop_oneof![
                Just(b"job:state:0f8fad5b-d9cb-469f-a165-70867728950e".to_vec()),
                Just(b"job:index:".to_vec()),
                Just(b"running".to_vec()),
                Just(b"cordum:rl:".to_vec()),
                Just(b":".to_vec()),
                Just(b"\n".to_vec()),
                Just(b"\r".to_vec()),
                Just(b"%".to_vec()),
                prop::collection::vec(any::<u8>(), 0..8),
            ],
            0..40,
        )
    ) {
        let schema = cordum();
        let input = parts.concat();
        let table = schema.lint_table(&input).expect("a small input");
        assert_agrees(&schema, &input, &table);
    }
}
