//! The checker's pair prefilter never hides an ambiguity: for small random schemas mixing
//! literals, parameters and spanning parameters, every key (over a small alphabet, exhaustively)
//! that two patterns both match is covered by a W001 for that pair. Which patterns match a key is
//! found with one schema per pattern, independently of the checker (a schema's own
//! `also_matches` comes from the checker's pairs).

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema::{Code, Schema};
use proptest::prelude::*;
use std::collections::BTreeSet;

const SEGMENTS: [&str; 5] = ["a", "b", "<name>", "<key>", "<n>"];
const PARAMS: &str = "param name text\nparam key text spans\nparam n int\n";
const KEY_SEGMENTS: [&str; 4] = ["a", "b", "c", "7"];

fn patterns() -> impl Strategy<Value = Vec<String>> {
    let pattern = prop::collection::vec(prop::sample::select(SEGMENTS.as_slice()), 1..=4).prop_map(|s| s.join(":"));
    prop::collection::btree_set(pattern, 2..=5).prop_map(|set| set.into_iter().collect())
}

/// Every key of 1 to 5 segments over `KEY_SEGMENTS`.
fn keys() -> Vec<String> {
    let mut all = Vec::new();
    let mut level: Vec<String> = KEY_SEGMENTS.iter().map(|s| s.to_string()).collect();
    for _ in 0..5 {
        all.extend(level.iter().cloned());
        level = level
            .iter()
            .flat_map(|k| KEY_SEGMENTS.iter().map(move |s| format!("{k}:{s}")))
            .collect();
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_shared_key_is_reported_as_an_ambiguity(templates in patterns()) {
        let mut source = String::from(PARAMS);
        for (i, template) in templates.iter().enumerate() {
            source.push_str(&format!("{template} as k{i} string \"K{i}\"\n"));
        }
        let diagnostics = Schema::check(&source);
        // Patterns the checker refuses (two spanning parameters side by side) are not compared.
        prop_assume!(!diagnostics.iter().any(|d| d.is_error()));
        let reported: BTreeSet<(String, String)> = diagnostics
            .iter()
            .filter(|d| d.code == Code::AmbiguousPatterns)
            .map(|d| {
                let quoted: Vec<&str> = d.message.split('`').collect();
                let (x, y) = (quoted[1].to_string(), quoted[3].to_string());
                (x.clone().min(y.clone()), x.max(y))
            })
            .collect();
        let alone: Vec<Schema> = templates
            .iter()
            .map(|template| Schema::parse(&format!("{PARAMS}{template} string \"K\"\n"), "one.keys").unwrap())
            .collect();
        for key in keys() {
            let matching: Vec<&String> = templates
                .iter()
                .zip(&alone)
                .filter(|(_, schema)| schema.lint(&key).pattern.is_some())
                .map(|(template, _)| template)
                .collect();
            for (n, x) in matching.iter().enumerate() {
                for y in &matching[n + 1..] {
                    let pair = ((*x).clone().min((*y).clone()), (*x).clone().max((*y).clone()));
                    prop_assert!(reported.contains(&pair), "`{key}` matches {pair:?}, not reported in\n{source}");
                }
            }
        }
    }
}
