//! The matcher: most specific pattern first, whatever the declaration order; decoding; failures.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema::{ParamValue, Schema};

#[test]
fn literal_beats_placeholder_and_narrow_beats_wide_whatever_the_order() {
    let orders = [
        "param a text\nparam n int\nparam u uuid\nx:<a> as xa string \"text\"\nx:<n> as xn string \"int\"\nx:<u> as xu string \"uuid\"\nx:all string \"literal\"\n",
        "param a text\nparam n int\nparam u uuid\nx:all string \"literal\"\nx:<u> as xu string \"uuid\"\nx:<n> as xn string \"int\"\nx:<a> as xa string \"text\"\n",
    ];
    for source in orders {
        let schema = Schema::parse(source, "t.keys").unwrap();
        let pattern = |key: &str| schema.lint(key).pattern.unwrap();
        assert_eq!(pattern("x:all"), "x:all");
        assert_eq!(pattern("x:42"), "x:<n>");
        assert_eq!(pattern("x:0f8fad5b-d9cb-469f-a165-70867728950e"), "x:<u>");
        assert_eq!(pattern("x:hello"), "x:<a>");
    }
}

#[test]
fn the_first_differing_segment_decides() {
    let source = "param a text\nparam b text\nparam n int\nk:<a>:lit string \"A\"\nk:<n>:<b> as kb string \"B\"\n";
    let schema = Schema::parse(source, "t.keys").unwrap();
    // At segment 2 the int placeholder is narrower than text, so `k:<n>:<b>` wins.
    assert_eq!(schema.lint("k:1:lit").pattern.unwrap(), "k:<n>:<b>");
    assert_eq!(schema.lint("k:1:lit").also_matches, ["k:<a>:lit"]);
    assert_eq!(schema.lint("k:x:lit").pattern.unwrap(), "k:<a>:lit");
}

#[test]
fn hostile_values_are_escaped_and_decoded_back() {
    let source = "param tenant text\nparam key text\nidem:<tenant>:<key> string \"Dedup\"\n";
    let schema = Schema::parse(source, "t.keys").unwrap();
    let a = schema.format_key("idem", &[("tenant", "a:b"), ("key", "c")]).unwrap();
    let b = schema.format_key("idem", &[("tenant", "a"), ("key", "b:c")]).unwrap();
    assert_ne!(a, b, "tenants must not collide");
    let braces = schema.format_key("idem", &[("tenant", "{x}"), ("key", "%\n")]).unwrap();
    assert_eq!(braces, "idem:%7Bx%7D:%25%0A");
    assert_eq!(
        keyschema::hash_tag(braces.as_bytes()),
        braces.as_bytes(),
        "a value never makes a hash tag"
    );
    let json = serde_json::to_value(schema.lint(&a)).unwrap();
    assert_eq!(json["params"], serde_json::json!({"tenant": "a:b", "key": "c"}));
}

#[test]
fn failures_name_the_nearest_pattern_and_the_reason() {
    let source = "param jobID uuid\njob:state:<jobID> string \"State\"\njob:meta:<jobID> hash \"Meta\"\n";
    let schema = Schema::parse(source, "t.keys").unwrap();
    let problem = |key: &str| schema.lint(key).problems[0].clone();
    assert_eq!(problem("job:state:nope").code.as_str(), "K002");
    assert!(problem("job:state:nope")
        .message
        .contains("`jobID` of `job:state:<jobID>`"));
    assert_eq!(
        problem("job:stat:0f8fad5b-d9cb-469f-a165-70867728950e").code.as_str(),
        "K001"
    );
    assert!(problem("job:stat:x").message.contains("nearest `job:state:<jobID>`"));
    assert!(problem("job:state:a:b").message.contains("segments"));
    assert_eq!(problem("").code.as_str(), "K004");
    assert_eq!(schema.lint_bytes(b"job:\xff").problems[0].code.as_str(), "K005");
    assert_eq!(
        schema.lint_bytes(&vec![b'a'; keyschema::MAX_KEY_LEN + 1]).problems[0]
            .code
            .as_str(),
        "K004"
    );
    let many = vec!["a"; keyschema::MAX_SEGMENTS + 1].join(":");
    assert_eq!(problem(&many).code.as_str(), "K004");
}

#[test]
fn typed_values_have_one_form() {
    let source =
        "param n int\nparam ip ip\nparam u uuid\nn:<n> string \"N\"\nip:<ip> string \"IP\"\nu:<u> string \"U\"\n";
    let schema = Schema::parse(source, "t.keys").unwrap();
    for bad in [
        "n:01",
        "n:-0",
        "n:+1",
        "ip:010.0.0.1",
        "ip:::1",
        "u:0F8FAD5B-D9CB-469F-A165-70867728950E",
    ] {
        assert!(schema.lint(bad).has_problems(), "{bad} must be rejected");
    }
    assert_eq!(
        schema.format_key("ip", &[("ip", "2001:DB8::1")]).unwrap(),
        "ip:2001%3Adb8%3A%3A1"
    );
    assert!(schema.lint("ip:2001%3Adb8%3A%3A1").problems.is_empty());
}

#[test]
fn a_key_longer_than_the_linter_reads_is_refused_when_formatted() {
    let schema = Schema::parse("param t text\nnote:<t> string text \"A note\"\n", "n.keys").unwrap();
    let model = schema.model();
    let mut out = String::from("kept:");
    let fits = "x".repeat(keyschema::MAX_KEY_LEN - "note:".len());
    model
        .write_key(&model.keys[0], &[ParamValue::Text(fits.as_str().into())], &mut out)
        .unwrap();
    assert_eq!(out.len(), "kept:".len() + keyschema::MAX_KEY_LEN);
    let mut out = String::from("kept:");
    let long = "x".repeat(70_000);
    let error = model
        .write_key(&model.keys[0], &[ParamValue::Text(long.as_str().into())], &mut out)
        .unwrap_err();
    assert!(
        matches!(error, keyschema::FormatError::KeyTooLong { len: 70_005, max, .. } if max == keyschema::MAX_KEY_LEN),
        "{error:?}"
    );
    assert_eq!(out, "kept:", "a refused key leaves the buffer as it was");
}

#[test]
fn a_key_declares_the_largest_value_it_takes() {
    let schema = Schema::parse(
        "param t text\nsmall:<t> string text max 64kb \"S\"\nplain:<t> string text \"P\"\n",
        "m.keys",
    )
    .unwrap();
    assert_eq!(schema.model().keys[0].max_value, Some(65_536));
    assert_eq!(schema.model().keys[1].max_value, None);
    for (bad, hint) in [("max 0", "positive"), ("max 1tb", "unit"), ("max 600mb", "512mb")] {
        let source = format!("param t text\nsmall:<t> string text {bad} \"S\"\n");
        let error = Schema::parse(&source, "m.keys").unwrap_err();
        let rendered = format!("{:?}", error.diagnostics);
        assert!(
            rendered.contains("invalid size") && rendered.contains(hint),
            "{bad}: {rendered}"
        );
    }
}
