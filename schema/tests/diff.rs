//! `keyschema::diff` against ground truth: hundreds of single mutations of the Cordum schema
//! (a literal segment changed, a hash tag added, a TTL shortened, a key renamed, removed or
//! retyped), each classified by `diff`, and each old key definition followed by hand: a sample
//! key formatted with the old schema, formatted again with the new one from the same values, and
//! linted against the new one. The classes `diff` reports for each key must be exactly the
//! classes that truth gives: never compatible when an old key stops matching, changes pattern,
//! type or slot, and nothing reported that did not change.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema::{diff, key_slot, ChangeClass, DiffSide, KeyDef, KeySchema, ParamType, Primitive, Schema};
use std::collections::BTreeSet;

const CORDUM: &str = include_str!("../examples/cordum.keys");

/// Words that start a key declaration.
const KEY_WORDS: &[&str] = &[
    "lock",
    "ratelimit",
    "breaker",
    "idempotency",
    "timers",
    "index",
    "cache",
    "state",
    "key",
    "entry",
];

/// The pattern of a key line, and where it starts and ends in the line.
fn pattern_of(line: &str) -> Option<(usize, usize)> {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') || !trimmed.contains('"') {
        return None;
    }
    let indent = line.len() - trimmed.len();
    let first = trimmed.split_whitespace().next()?;
    let (start, word) = if KEY_WORDS.contains(&first) {
        let rest = &trimmed[first.len()..];
        let word = rest.split_whitespace().next()?;
        (indent + first.len() + rest.find(word)?, word)
    } else if first.contains(':') && !first.ends_with(':') {
        (indent, first)
    } else {
        return None;
    };
    Some((start, start + word.len()))
}

/// Single mutations of the schema text: (what, text).
fn mutations() -> Vec<(String, String)> {
    let lines: Vec<&str> = CORDUM.lines().collect();
    let mut out = Vec::new();
    let with = |i: usize, line: Option<String>| {
        let mut copy: Vec<String> = lines.iter().map(|l| (*l).to_string()).collect();
        match line {
            Some(line) => copy[i] = line,
            None => {
                copy.remove(i);
            }
        }
        copy.join("\n") + "\n"
    };
    for (i, line) in lines.iter().enumerate() {
        let Some((start, end)) = pattern_of(line) else { continue };
        let pattern = &line[start..end];
        let edit = |new_pattern: &str| format!("{}{new_pattern}{}", &line[..start], &line[end..]);
        // A literal segment changed.
        if let Some(colon) = pattern.find(':') {
            let changed = format!("{}z{}", &pattern[..=colon], &pattern[colon + 1..]);
            out.push((
                format!("line {}: literal {pattern} -> {changed}", i + 1),
                with(i, Some(edit(&changed))),
            ));
        }
        // A hash tag added around the first parameter.
        if !pattern.contains('{') {
            if let (Some(open), Some(close)) = (pattern.find('<'), pattern.find('>')) {
                let tagged = format!(
                    "{}{{{}}}{}",
                    &pattern[..open],
                    &pattern[open..=close],
                    &pattern[close + 1..]
                );
                out.push((
                    format!("line {}: tag {pattern} -> {tagged}", i + 1),
                    with(i, Some(edit(&tagged))),
                ));
            }
        }
        // A TTL shortened to a second, or removed.
        for ttl in ["1s", "none"] {
            if let Some(changed) = with_ttl(line, ttl) {
                out.push((format!("line {}: ttl -> {ttl}", i + 1), with(i, Some(changed))));
            }
        }
        // A segment appended.
        let appended = format!("{pattern}:z");
        out.push((
            format!("line {}: appended {appended}", i + 1),
            with(i, Some(edit(&appended))),
        ));
        // Renamed in code (`as`), keys unchanged.
        if !line.contains(" as ") {
            out.push((
                format!("line {}: renamed", i + 1),
                with(i, Some(edit(&format!("{pattern} as zz_renamed_{i}")))),
            ));
        }
        // A string retyped as a list.
        if line.contains(" string json(") {
            out.push((
                format!("line {}: string -> list", i + 1),
                with(i, Some(line.replacen(" string json(", " list json(", 1))),
            ));
        }
        // Removed.
        out.push((format!("line {}: removed", i + 1), with(i, None)));
    }
    out
}

/// `diff` of two (schema, source, file) sides.
fn compare(old: (&Schema, &str, &str), new: (&Schema, &str, &str)) -> keyschema::DiffReport {
    let side = |(schema, source, file)| DiffSide { schema, source, file };
    diff(&side(old), &side(new))
}

/// `line` with its `ttl` attribute set to `ttl`, if it has one.
fn with_ttl(line: &str, ttl: &str) -> Option<String> {
    let at = line.find(" ttl ")?;
    let rest = &line[at + 5..];
    let word_end = rest.find(' ').unwrap_or(rest.len());
    Some(format!("{} ttl {ttl}{}", &line[..at], &rest[word_end..]))
}

/// A value per parameter type, independent of the engine's own samples (written apart on
/// purpose: the ground truth must not share the engine's choices).
fn value(schema: &KeySchema, index: usize) -> String {
    let param = &schema.params[index];
    let candidates: Vec<String> = match &param.ty {
        ParamType::Text | ParamType::Ident => vec!["t1".into(), "t2".into()],
        ParamType::Int => vec!["7".into(), "8".into()],
        ParamType::Uuid => vec!["6a1d8c9e-2f3b-4c5d-8e7f-0a1b2c3d4e5f".into()],
        ParamType::UnixSeconds => vec!["1600000000".into()],
        ParamType::Ip => vec!["192.0.2.1".into()],
        ParamType::Enum { variants, .. } => variants.clone(),
    };
    candidates
        .into_iter()
        .find(|v| !param.except.iter().any(|e| e.eq_ignore_ascii_case(v)))
        .unwrap()
}

fn format(schema: &KeySchema, key: &KeyDef, values: &[(String, String)]) -> Option<String> {
    let borrowed: Vec<(&str, &str)> = values.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    schema.format_key_from_text(&key.name, &borrowed).ok()
}

/// What truly changes for old key `key`: formatted, reformatted and linted by hand.
fn truth(old: &Schema, new: &Schema, key: &KeyDef) -> BTreeSet<ChangeClass> {
    let (from, to) = (old.model(), new.model());
    let mut classes = BTreeSet::new();
    let values: Vec<(String, String)> = key
        .pattern
        .params()
        .map(|p| (from.params[p].name.clone(), value(from, p)))
        .collect();
    let old_key = format(from, key, &values).unwrap();
    let shared = matches!(
        key.primitive,
        Some(
            Primitive::Lock { .. }
                | Primitive::RateLimit(_)
                | Primitive::Idempotency
                | Primitive::Timers { .. }
                | Primitive::DlqEntry { .. }
                | Primitive::DlqIndex { .. }
                | Primitive::Breaker(_)
        )
    );
    let successor = to.key(&key.name).or_else(|| {
        to.keys
            .iter()
            .find(|k| k.pattern.template == key.pattern.template && from.key(&k.name).is_none())
    });
    let Some(successor) = successor else {
        classes.insert(ChangeClass::Source);
        if shared {
            classes.insert(ChangeClass::Coordination);
        }
        return classes;
    };
    if successor.name != key.name {
        classes.insert(ChangeClass::Source);
    }
    let new_key = format(to, successor, &values);
    let Some(new_key) = new_key else {
        classes.insert(ChangeClass::Source);
        return classes;
    };
    if new_key != old_key {
        classes.insert(ChangeClass::Data);
        if shared {
            classes.insert(ChangeClass::Coordination);
        }
    }
    if key_slot(new_key.as_bytes()) != key_slot(old_key.as_bytes()) {
        classes.insert(ChangeClass::Cluster);
    }
    let linted = new.lint(&old_key);
    if let Some(name) = linted.name.as_deref().filter(|name| *name != successor.name) {
        assert!(!name.is_empty());
        classes.insert(ChangeClass::Matching);
    }
    if key.redis_type.kind() != successor.redis_type.kind() {
        classes.insert(ChangeClass::Data);
    }
    let (was, now) = (old.lint(&old_key).ttl_ms, new.lint(&new_key).ttl_ms);
    if matches!((was, now), (Some(_), None)) || matches!((was, now), (Some(w), Some(n)) if n < w) {
        classes.insert(ChangeClass::Lifetime);
    }
    classes
}

#[test]
fn diff_agrees_with_ground_truth_on_hundreds_of_single_mutations() {
    let old = Schema::parse(CORDUM, "cordum.keys").unwrap();
    let mut classified = 0;
    let mut seen_classes = BTreeSet::new();
    let mut disagreements = Vec::new();
    for (what, text) in mutations() {
        let Ok(new) = Schema::parse(&text, "mutated.keys") else {
            continue;
        };
        classified += 1;
        let report = compare((&old, CORDUM, "cordum.keys"), (&new, &text, "mutated.keys"));
        for key in &old.model().keys {
            if matches!(key.primitive, Some(Primitive::Companion { .. })) {
                continue;
            }
            let expected = truth(&old, &new, key);
            let found: BTreeSet<ChangeClass> = report
                .findings
                .iter()
                .filter(|f| f.key == key.name)
                .map(|f| f.class)
                .collect();
            seen_classes.extend(found.iter().copied());
            if found != expected {
                disagreements.push(format!("{what}: `{}` truth {expected:?}, diff {found:?}", key.name));
            }
        }
        // Every finding carries its positions; those about keys carry a witness.
        for finding in &report.findings {
            assert!(finding.old.is_some(), "{what}: {finding:?}");
            assert!(
                finding.witness.is_some()
                    || matches!(
                        finding.rule,
                        "SOURCE002" | "SOURCE004" | "LIFETIME001" | "LIFETIME002" | "LIFETIME003" | "COORDINATION006"
                    ),
                "{what}: {finding:?}"
            );
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(30)].join("\n")
    );
    assert!(classified >= 200, "only {classified} mutations parsed");
    for class in [
        ChangeClass::Source,
        ChangeClass::Data,
        ChangeClass::Cluster,
        ChangeClass::Coordination,
        ChangeClass::Lifetime,
    ] {
        assert!(seen_classes.contains(&class), "no mutation produced {class}");
    }
}

#[test]
fn the_cordum_move_to_hash_tags_is_data_and_cluster_for_each_tagged_pattern_and_coordination_for_moved_locks() {
    let cluster_text = include_str!("../examples/cordum-cluster.keys");
    let (old, new) = (
        Schema::parse(CORDUM, "cordum.keys").unwrap(),
        Schema::parse(cluster_text, "cordum-cluster.keys").unwrap(),
    );
    let report = compare(
        (&old, CORDUM, "cordum.keys"),
        (&new, cluster_text, "cordum-cluster.keys"),
    );
    let classes: BTreeSet<ChangeClass> = report.findings.iter().map(|f| f.class).collect();
    assert_eq!(
        classes,
        BTreeSet::from([ChangeClass::Data, ChangeClass::Cluster, ChangeClass::Coordination]),
        "{}",
        report.to_text()
    );
    let data: BTreeSet<&str> = report
        .findings
        .iter()
        .filter(|f| f.class == ChangeClass::Data)
        .map(|f| f.key.as_str())
        .collect();
    let cluster: BTreeSet<&str> = report
        .findings
        .iter()
        .filter(|f| f.class == ChangeClass::Cluster)
        .map(|f| f.key.as_str())
        .collect();
    assert_eq!(data, cluster, "each changed pattern moves slot");
    // Every pattern the cluster layout tags, and only those.
    for key in &old.model().keys {
        if matches!(key.primitive, Some(Primitive::Companion { .. })) {
            continue;
        }
        let tagged_now = new
            .model()
            .key(&key.name)
            .is_some_and(|k| k.pattern.template != key.pattern.template);
        assert_eq!(cluster.contains(key.name.as_str()), tagged_now, "`{}`", key.name);
    }
    for finding in report.findings.iter().filter(|f| f.class == ChangeClass::Cluster) {
        let witness = finding.witness.as_ref().unwrap();
        assert_ne!(Some(witness.old_slot), witness.new_slot, "{finding:?}");
        assert!(witness.new_key.as_deref().unwrap().contains('{'), "{finding:?}");
    }
    // The locks that moved are coordination hazards.
    let coordination: BTreeSet<&str> = report
        .findings
        .iter()
        .filter(|f| f.class == ChangeClass::Coordination)
        .map(|f| f.key.as_str())
        .collect();
    assert!(coordination.contains("cordum_scheduler_job"), "{coordination:?}");
    // The same schema twice: nothing.
    let same = compare((&old, CORDUM, "cordum.keys"), (&old, CORDUM, "cordum.keys"));
    assert!(same.findings.is_empty(), "{}", same.to_text());
}
