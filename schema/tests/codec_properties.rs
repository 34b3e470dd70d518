//! Properties of the key codec: formatting then parsing gives back the pattern and values, and two
//! different (pattern, values) never give the same key.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema::{ParamType, ParamValue, Schema};
use proptest::prelude::*;
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

/// Patterns that overlap when parameters are wide, so injectivity is really tested.
const SOURCE: &str = r#"
param tenant text
param key    text
param id     ident
param n      int
param t      unix_seconds
param u      uuid
param ip     ip
param s      enum(PENDING, RUNNING) case lower
idem:<tenant>:<key>       string "A"
idem:<key> as idem_untenanted string "B"
item:<id>:<n>             string "C"
item:<n> as item_by_number string "D"
at:<t>:<u>                string "E"
ip:<ip>:<s>               string "F"
{<tenant>}:tagged:<key>   string "G"
"#;

fn value_for(ty: &ParamType) -> BoxedStrategy<ParamValue<'static>> {
    match ty {
        ParamType::Text => "\\PC{1,12}|[:{}%a\\x00-\\x1f]{1,6}"
            .prop_map(|s| ParamValue::Text(Cow::Owned(s)))
            .boxed(),
        ParamType::Ident => "[A-Za-z0-9_.-]{1,10}"
            .prop_map(|s| ParamValue::Text(Cow::Owned(s)))
            .boxed(),
        ParamType::Int => any::<i64>().prop_map(ParamValue::Int).boxed(),
        ParamType::UnixSeconds => (0..i64::MAX).prop_map(ParamValue::Int).boxed(),
        ParamType::Uuid => any::<[u8; 16]>().prop_map(ParamValue::Uuid).boxed(),
        ParamType::Ip => any::<IpAddr>().prop_map(ParamValue::Ip).boxed(),
        ParamType::Enum { variants, .. } => (0..variants.len()).prop_map(ParamValue::Enum).boxed(),
    }
}

/// Parsed once: checking a schema searches pattern automata, too slow to redo per case.
fn schema() -> &'static Schema {
    static SCHEMA: std::sync::LazyLock<Schema> =
        std::sync::LazyLock::new(|| Schema::parse(SOURCE, "props.keys").unwrap());
    &SCHEMA
}

/// A key definition and values for its placeholders.
fn keyed_values() -> impl Strategy<Value = (usize, Vec<ParamValue<'static>>)> {
    let schema = schema();
    let model = schema.model();
    let strategies: Vec<BoxedStrategy<(usize, Vec<ParamValue<'static>>)>> = model
        .keys
        .iter()
        .enumerate()
        .map(|(index, key)| {
            let values: Vec<BoxedStrategy<ParamValue<'static>>> =
                key.pattern.params().map(|p| value_for(&model.params[p].ty)).collect();
            values.prop_map(move |v| (index, v)).boxed()
        })
        .collect();
    proptest::strategy::Union::new(strategies)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn format_then_match_round_trips((key, values) in keyed_values()) {
        let schema = schema();
        let model = schema.model();
        let mut text = String::new();
        model.write_key(&model.keys[key], &values, &mut text).unwrap();
        let found = schema.matcher().match_key(&text).unwrap();
        prop_assert_eq!(found.key, key, "{} matched the wrong pattern", text);
        let decoded: Vec<ParamValue<'_>> = found.values.into_iter().map(|(_, v)| v).collect();
        prop_assert_eq!(decoded, values);
        prop_assert_eq!(found.slot, keyschema::key_slot(text.as_bytes()));
    }

    #[test]
    fn distinct_inputs_give_distinct_keys(inputs in proptest::collection::vec(keyed_values(), 2..40)) {
        let schema = schema();
        let model = schema.model();
        let mut seen: HashMap<String, (usize, Vec<ParamValue<'static>>)> = HashMap::new();
        for (key, values) in inputs {
            let mut text = String::new();
            model.write_key(&model.keys[key], &values, &mut text).unwrap();
            if let Some(previous) = seen.get(&text) {
                prop_assert_eq!(previous, &(key, values.clone()), "two inputs share the key {}", text);
            }
            seen.insert(text, (key, values));
        }
    }

    #[test]
    fn values_never_create_a_hash_tag_or_a_segment(tenant in "\\PC{1,16}", key in "\\PC{1,16}") {
        let schema = schema();
        let text = schema.format_key("idem", &[("tenant", &tenant), ("key", &key)]).unwrap();
        prop_assert_eq!(text.matches(':').count(), 2);
        prop_assert!(!text.contains(['{', '}']), "{} has a brace", text);
        let tagged = schema.format_key("tagged", &[("tenant", &tenant), ("key", &key)]).unwrap();
        prop_assert_eq!(keyschema::key_slot(tagged.as_bytes()), keyschema::key_slot(format!("{{{}}}", &tagged[1..tagged.find('}').unwrap()]).as_bytes()));
    }

    #[test]
    fn any_input_lints_without_panicking(key in "\\PC{0,64}|[:{}%<>a0-9-]{0,40}") {
        let schema = schema();
        let result = schema.lint(&key);
        prop_assert_eq!(result.slot, keyschema::key_slot(key.as_bytes()));
    }

    #[test]
    fn any_schema_checks_without_panicking(source in "[a-z<>{}():,=*|\" \\n0-9#]{0,200}") {
        let _ = Schema::check(&source);
    }
}
