//! `keyschema fmt`'s layout: canonical, idempotent, and never a change of the model, on every
//! schema of the repository and on 1,000 generated ones written with careless spacing.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema::{format_schema, model_fingerprint, Schema};
use proptest::prelude::*;

fn fingerprint(source: &str) -> u64 {
    model_fingerprint(Schema::parse(source, "x.keys").unwrap().model(), "")
}

/// Formats `source`, and checks that formatting again changes nothing and that the model is the
/// same; answers the formatted text.
fn formatted(source: &str) -> String {
    let once = format_schema(source, "x.keys").unwrap();
    let twice = format_schema(&once, "x.keys").unwrap();
    assert_eq!(once, twice, "formatting twice differs from once:\n{once}");
    assert_eq!(fingerprint(source), fingerprint(&once), "the model changed:\n{once}");
    once
}

#[test]
fn every_schema_of_the_repository_formats_idempotently_to_the_same_model() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut files = Vec::new();
    for folder in [
        "schema/examples",
        "tests/schemas",
        "codegen/tests",
        "examples/first-service/schema",
        "examples/stateful-service/schema",
    ] {
        for entry in std::fs::read_dir(format!("{root}/{folder}")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "keys") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 12, "{files:?}");
    for path in files {
        let source = std::fs::read_to_string(&path).unwrap();
        let once = formatted(&source);
        // Comments are kept, each once.
        let comments = |text: &str| text.lines().filter(|l| l.trim_start().starts_with('#')).count();
        assert_eq!(comments(&source), comments(&once), "{}", path.display());
    }
}

#[test]
fn columns_align_within_a_run_and_spacing_is_canonical() {
    let source = "keyspace  demo   separator \":\"\n\n\n\
        param id   int\nparam tenantName text except( global ,  none )\n\
        ttl short=   env(SHORT_TTL ,5s, unit=seconds)\nttl long = 2*short\n\n\
        group things   ttl short \"Things\" {\n\
        thing:<id>   string json( Thing )   \"A thing\"\n\
        # a comment between keys\n\
        lock    thing:lock:<id>  ttl 10s \"Its lock\"\n\
        owner:<tenantName>:<id> hash fields(a,b: json(B)) \"Its owner\"\n\
        }\n\n\n";
    let expected = "keyspace demo separator \":\"\n\n\
        param id         int\nparam tenantName text except(global, none)\n\
        ttl short = env(SHORT_TTL, 5s, unit = seconds)\nttl long  = 2 * short\n\n\
        group things ttl short \"Things\" {\n\
        \x20 thing:<id>              string json(Thing)         \"A thing\"\n\
        \x20 # a comment between keys\n\
        \x20 lock thing:lock:<id>    ttl 10s                    \"Its lock\"\n\
        \x20 owner:<tenantName>:<id> hash fields(a, b: json(B)) \"Its owner\"\n\
        }\n";
    assert_eq!(formatted(source), expected);
}

#[test]
fn line_endings_and_trailing_comments_are_kept() {
    let source = "param id int  # the id\r\nthing:<id> string text \"A thing\"\r\n";
    assert_eq!(
        formatted(source),
        "param id int # the id\r\nthing:<id> string text \"A thing\"\r\n"
    );
}

#[test]
fn a_schema_with_errors_is_not_formatted() {
    let error = format_schema("param id int\nthing:<nope> string text \"A thing\"\n", "x.keys").unwrap_err();
    assert!(error.to_string().contains("x.keys"), "{error}");
}

/// A declaration as a careless author writes it: random spacing, comments, blank lines.
fn careless(parts: &[&str], spaces: &[usize]) -> String {
    let mut line = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            line.push_str(&" ".repeat(1 + spaces[i % spaces.len()] % 4));
        }
        line.push_str(part);
    }
    line
}

prop_compose! {
    fn schema()(
        params in prop::collection::vec((0usize..6, 0usize..3), 1..5),
        keys in prop::collection::vec((0usize..5, 0usize..4, 0usize..3, any::<bool>()), 1..8),
        spaces in prop::collection::vec(0usize..6, 4..12),
        grouped in any::<bool>(),
        commented in any::<bool>(),
        crlf in any::<bool>(),
    ) -> String {
        const TYPES: [&str; 6] = ["int", "text", "ident", "uuid", "enum(A, B_C) case lower", "unix_seconds"];
        let mut lines = vec![careless(&["keyspace", "gen"], &spaces), String::new()];
        for (i, (ty, modifier)) in params.iter().enumerate() {
            let name = format!("p{i}");
            let ty = TYPES[*ty];
            let mut parts = vec!["param", &name, ty];
            if *modifier == 1 && ty == "text" {
                parts.push("except(x,  y)");
            }
            lines.push(careless(&parts, &spaces));
        }
        lines.push(careless(&["ttl", "t", "=", "env(T_TTL,", "7d)"], &spaces));
        lines.push(String::new());
        if grouped {
            lines.push(careless(&["group", "g", "ttl", "t", "\"A group\"", "{"], &spaces));
        }
        for (i, (param, shape, ttl, purpose_space)) in keys.iter().enumerate() {
            let param = param % params.len();
            let pattern = format!("k{i}:<p{param}>");
            let shape = ["string text", "hash fields(a, b:  json(B))", "list json(E) cap 10", "set member p0"][*shape];
            let ttl = ["", "ttl 1h", "ttl t"][*ttl];
            let purpose = format!("\"Key {i}{}\"", if *purpose_space { " with  spaces" } else { "" });
            if commented && i % 2 == 1 {
                lines.push(format!("{}# about k{i}", " ".repeat(spaces[i % spaces.len()])));
            }
            let mut parts = vec![pattern.as_str(), shape];
            if !ttl.is_empty() {
                parts.push(ttl);
            }
            parts.push(&purpose);
            lines.push(format!("{}{}", " ".repeat(spaces[i % spaces.len()]), careless(&parts, &spaces)));
        }
        if grouped {
            lines.push("}".into());
        }
        let newline = if crlf { "\r\n" } else { "\n" };
        lines.join(newline) + newline
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn generated_schemas_format_idempotently_to_the_same_model(source in schema()) {
        prop_assume!(Schema::parse(&source, "x.keys").is_ok());
        let once = format_schema(&source, "x.keys").unwrap();
        prop_assert_eq!(&format_schema(&once, "x.keys").unwrap(), &once);
        prop_assert_eq!(fingerprint(&source), fingerprint(&once));
        prop_assert_eq!(source.contains("\r\n"), once.contains("\r\n"));
    }
}
