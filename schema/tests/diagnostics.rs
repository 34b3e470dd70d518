//! Every diagnostic, rendered: snapshots of what `keyschema check` prints for broken schemas.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema::{render, Code, Schema};

fn check(source: &str) -> String {
    render(&Schema::check(source), source, "test.keys")
}

fn codes(source: &str) -> Vec<&'static str> {
    Schema::check(source).iter().map(|d| d.code.as_str()).collect()
}

const CASES: &[(&str, &str)] = &[
    ("syntax_several_errors", "param\nparam jobID uuid\nparam x enum(A B)\njob:state:<jobID> string json(JobState) bogus \"Job\"\nttl t = env(X 5s)\ngroup g {\n  k:a string \"A\"\n"),
    ("unterminated_string", "param id int\nthing:<id> string \"A thing\n"),
    ("unknown_param_type", "param jobID uid\njob:<jobID> string \"Job\"\n"),
    ("unknown_param", "param jobID uuid\njob:state:<jobId> string \"Job state\"\n"),
    ("unknown_ttl", "ttl job_meta = 7d\njob:recent zset ttl job_mata \"Recent\"\n"),
    ("duplicate_names", "param id int\nparam id text\nthing:<id> string \"A\"\nthing:<id>:x string as thing \"B\"\n"),
    ("hash_tags", "param id int\na:{}:<id> string \"A\"\nb:{<id>}:{x} string \"B\"\nc:<id>} string \"C\"\nd:{x{<id>}} string \"D\"\n"),
    ("invalid_durations", "ttl a = 7\nttl b = 7y\nk string ttl a \"K\"\n"),
    ("non_injective", "param a text\nparam b int\nparam c ident\nx:<a>@<b> string \"X\"\ny:<c><b> string \"Y\"\n"),
    ("misplaced_options", "param id int\na:<id> string cap 10 \"A\"\nb:<id> set score time \"B\"\nc:<id> hash json(X) \"C\"\n"),
    ("missing_things", "param id int\na:<id> \"no type\"\nlock b:<id> \"lock without ttl\"\nindex c:<id> set \"index without of\"\n"),
    ("unknown_references", "param id int\na:<id> string \"A\"\nindex b set member id of nope \"B\"\nservice s {\n  uses a, ghosts\n}\n"),
    ("ambiguous_patterns", "param workflowID text\nparam user text\nparam ip ip\nwf:runs:<workflowID> zset ttl 1d \"Runs\"\nwf:runs:all zset ttl 1d \"All\"\nlogin:failed:<user>:<ip> string \"Per IP\"\nlogin:failed:global:<user> string \"Global\"\n"),
    ("ambiguity_resolved_by_type_or_exclusion", "param jobID uuid\nparam workflowID text except(all)\njob:<jobID>:output_decision string \"Out\"\njob:state:<jobID> string \"State\"\nwf:runs:<workflowID> zset ttl 1d \"Runs\"\nwf:runs:all zset ttl 1d \"All\"\n"),
    ("ambiguity_when_the_type_is_wide", "param jobID text\njob:<jobID>:output_decision string \"Out\"\njob:state:<jobID> string \"State\"\n"),
    ("cluster_hazards", "param id int\ngroup g tag id {\n  a:<id> string \"A\"\n  b:{<id>}:x string \"B\"\n}\nc:{global}:<id> string \"C\"\nd:<id> set \"D\"\ne:<id> list \"E\"\n"),
    ("self_trimming_collections", "param id int\ntimers t:timers member id \"Timers: claimed ones leave\"\ndlq letters {\n  entry t:dlq:<id> string text ttl 1d \"Entry\"\n  index t:dlq:index member id score time \"Pruned\"\n}\nt:seen set \"Nothing removes members\"\n"),
    ("no_follow_on_errors_after_a_typo", "param jobID uuid\nparam s enum(A, B)\njob:state:<jobID> strng json(J) \"S\"\nindex job:index:<s> set member jobID of job_state \"I\"\ndlq failed_jobs {\n  entry dlq:<jobId> string text ttl 1d \"E\"\n  index dlq:index member jobID score time \"I\"\n}\n"),
    ("unknown_layout", "layout cluster\na string \"A\"\n"),
    ("missing_purpose", "param id int\na:<id> string\n"),
    ("empty_schema", "# nothing here\nkeyspace empty\n"),
    ("bad_separator", "keyspace k separator \"ab\"\nparam id int\na:<id> string \"A\"\n"),
    ("zero_ttls", "ttl none_really = 0s\na string ttl 0ms \"A\"\nb string ttl env(B_TTL, 0s) \"B\"\nc string ttl 0 * 5s \"C\"\nd string ttl none_really \"D\"\n"),
    ("codecs_and_per_write_ttls", "a string lz4(json(State)) ttl per_write(max = 1h) \"A\"\nb string lz4() \"B\"\nc string codec \"C\"\nd string ttl per_write(max = none) \"D\"\ne string ttl per_write(1h) \"E\"\nf string lz4(lz4(lz4(lz4(lz4(text))))) \"F\"\n"),
    ("composite_layouts", "param run uuid\nparam step ident\nparam n int\nparam job uuid | <run>:<step>@<n> | <step>@<n>\nparam bad uuid | <nope>\njob:<job> string \"J\"\nparam job2 ident | <step>\njob2:<job2> string \"J2\"\n"),
    ("caches_and_state", "param id int\ncache a:<id> string json(A) \"No TTL\"\ncache b:<id> string ttl 5m stats everywhere \"Bad stats\"\nstate c:<id> string lz4(json(C)) ttl 1h \"Fixed TTL\"\nstate d:<id> string ttl per_write(max = none) \"No bound, no max_age\"\nstate e:<id> string ttl per_write(max = 1h) ttl_factor 0 \"Zero factor\"\nstate f:<id> string ttl per_write(max = 1h) ttl_factor 3 max_age 2h \"Fine\"\n"),
];

#[test]
fn rendered_diagnostics() {
    for (name, source) in CASES {
        insta::assert_snapshot!(*name, check(source), source);
    }
}

#[test]
fn valid_schemas_have_no_error() {
    let source = "keyspace k\nparam id int\nttl t = 2 * env(POLL, 5s)\nlock l:<id> ttl t \"Lock\"\n";
    assert!(Schema::check(source).iter().all(|d| !d.is_error()));
    assert!(Schema::parse(source, "k.keys").is_ok());
}

#[test]
fn codes_are_stable() {
    assert_eq!(codes("param x uid\nk:<x> string \"K\"\n"), ["E003"]);
    assert_eq!(codes("k:<x> string \"K\"\n"), ["E004"]);
    assert_eq!(codes("k string ttl nope \"K\"\n"), ["E005"]);
    assert_eq!(codes("k:{} string \"K\"\n"), ["E007"]);
    assert_eq!(codes("k string ttl 5 \"K\"\n"), ["E008"]);
    assert_eq!(codes("k string\n"), ["W004"]);
    for code in Code::ALL {
        assert!(code.as_str().len() == 4, "{code}");
    }
}

#[test]
fn errors_carry_file_line_column_caret_and_hint() {
    let error = Schema::parse(
        "param jobID uuid\njob:state:<jobId> string \"Job state\"\n",
        "jobs.keys",
    )
    .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("--> jobs.keys:2:11"), "{text}");
    assert!(text.contains("^^^^^^^"), "{text}");
    assert!(text.contains("did you mean `jobID`"), "{text}");
}

#[test]
fn json_positions_count_utf16_units() {
    let source = "# é𝄞\nk:<nope> string \"K\"\n";
    let diagnostics = Schema::check(source);
    let index = keyschema::LineIndex::new(source);
    let position = index.position(diagnostics[0].span.start);
    assert_eq!((position.line, position.column), (2, 3));
}

#[test]
fn deeply_nested_ttl_expressions_are_an_error_not_a_stack_overflow() {
    // 18,000 factors (72 KB) used to overflow the parser's stack and abort the process.
    let factors = "1 * ".repeat(18_000);
    let source = format!("ttl a = {factors}1s\nk string ttl a \"K\"\n");
    let diagnostics = Schema::check(&source);
    assert!(
        diagnostics.iter().any(|d| d.message.contains("nested too deeply")),
        "{diagnostics:?}"
    );
    let nested = format!(
        "k string ttl {}1s{} \"K\"\n",
        "per_write(max = ".repeat(10_000),
        ")".repeat(10_000)
    );
    assert!(Schema::check(&nested).iter().any(|d| d.code == Code::Syntax));
    // A few factors are fine.
    assert_eq!(
        codes("ttl a = 2 * 3 * env(POLL, 5s)\nk string ttl a \"K\"\n"),
        Vec::<&str>::new()
    );
}

#[test]
fn a_long_chain_of_ttl_names_is_not_a_cycle_and_a_hostile_one_is_bounded() {
    let chain = |n: usize| {
        let mut source: String = (0..n).map(|i| format!("ttl a{i} = a{}\n", i + 1)).collect();
        source.push_str(&format!("ttl a{n} = 1s\nk string ttl a0 \"K\"\n"));
        source
    };
    // 18 names deep used to be reported as a cycle.
    assert_eq!(codes(&chain(18)), Vec::<&str>::new());
    let deep = Schema::check(&chain(20_000));
    assert!(
        deep.iter().any(|d| d.message.contains("chained more than 64")),
        "{deep:?}"
    );
    let cycle = Schema::check("ttl a = b\nttl b = c\nttl c = a\nk string ttl a \"K\"\n");
    assert_eq!(cycle.len(), 1, "{cycle:?}");
    assert!(cycle[0].message.contains("a → b → c → a"), "{}", cycle[0].message);
}

#[test]
fn a_byte_order_mark_is_accepted() {
    // It used to be read as part of the first word: `unknown key attribute 'id'`.
    let source = "\u{feff}keyspace k\nparam id int\nk:<id> string \"K\"\n";
    assert_eq!(codes(source), Vec::<&str>::new());
    assert!(Schema::parse(source, "bom.keys").is_ok());
}

#[test]
fn a_misspelled_keyword_is_named_with_the_keyword_meant() {
    // Used to be blamed on the next word: `unknown key attribute 'userID'`.
    let diagnostics = Schema::check("parm userID uuid\nlok app:leader ttl 5s \"L\"\nk string \"K\"\n");
    let messages: Vec<(&str, Option<&str>)> = diagnostics
        .iter()
        .map(|d| (d.message.as_str(), d.hint.as_deref()))
        .collect();
    assert_eq!(
        messages,
        [
            ("unknown keyword `parm`", Some("did you mean `param`?")),
            ("unknown keyword `lok`", Some("did you mean `lock`?")),
        ]
    );
}

#[test]
fn repeated_diagnostics_are_capped_and_long_lines_shown_as_a_window() {
    // 10,000 repeats of one placeholder (40 KB) used to print 9,999 diagnostics, 601 MB.
    let source = format!("param t text\nk:{} string \"K\"\n", "<t>".repeat(10_000));
    let diagnostics = Schema::check(&source);
    assert_eq!(diagnostics.len(), 1, "{}", diagnostics.len());
    let rendered = render(&diagnostics, &source, "amp.keys");
    assert!(rendered.len() < 1_000, "{} bytes", rendered.len());
    assert!(
        rendered.contains("2 | k:<t><t>") && rendered.contains('…'),
        "{rendered}"
    );
    assert!(
        rendered.contains("\n  |      ^^^\n"),
        "the caret stays under the span: {rendered}"
    );
    // Fifty different mistakes on one line: twenty, then one summary.
    let params: String = (0..50).map(|i| format!("<x{i}>")).collect();
    let source = format!("k:{params} string \"K\"\n");
    let diagnostics = Schema::check(&source);
    assert_eq!(diagnostics.len(), 21);
    assert!(
        diagnostics[20].message.contains("and 30 more E004"),
        "{}",
        diagnostics[20].message
    );
}

#[test]
fn large_and_spanning_schemas_check_with_the_right_findings() {
    // 400 patterns led by a spanning parameter (every pair used to reach the automaton search:
    // 29.6 s): none can share a key, the segments after the parameter differ.
    let mut source = String::from("param key text spans\n");
    for i in 0..400 {
        source.push_str(&format!("<key>:svc{}:e{} string \"E\"\n", i % 20, i / 20));
    }
    assert_eq!(codes(&source), ["W005"]);
    // The same with one pattern that does share keys with the others' shape: found, not hidden.
    source.push_str("<key>:e3 string \"Legacy\"\n");
    let ambiguous = codes(&source).iter().filter(|&&c| c == "W001").count();
    assert_eq!(
        ambiguous, 20,
        "`<key>:e3` meets `<key>:svcS:e3` for each of 20 services"
    );
    // 20,000 patterns, 1 MB: checked without a finding (the size is bounded by the source cap).
    let mut source = String::from("param id uuid\n");
    for i in 0..20_000 {
        source.push_str(&format!("svc{}:entity{}:<id> string \"E\"\n", i % 100, i / 100));
    }
    assert!(Schema::check(&source).is_empty());
}
