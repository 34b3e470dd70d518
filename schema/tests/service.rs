//! The language service on the repository's schemas: records and codecs of the service's own,
//! named inside codecs, have references and hover facts (and no definition: they are declared in
//! the service's code).
#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema::service::{Document, NameKind};

fn at(source: &str, needle: &str, into: usize) -> usize {
    source
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in the schema"))
        + into
}

#[test]
fn a_record_in_a_json_codec_has_its_uses_and_facts() {
    let source = include_str!("../examples/state.keys");
    let document = Document::new(source, "state.keys");
    assert!(document.schema().is_some());
    // `DatasourceContext`, inside `lz4(json(...))`, in two keys.
    let offset = at(source, "lz4(json(DatasourceContext))", 10);
    let here = document.occurrence_at(offset).unwrap();
    assert_eq!((here.kind, here.name.as_str()), (NameKind::Record, "DatasourceContext"));
    let references = document.references(offset);
    assert_eq!(references.len(), source.matches("json(DatasourceContext)").count());
    assert_eq!(references.len(), 2);
    for span in &references {
        assert_eq!(&source[span.start as usize..span.end as usize], "DatasourceContext");
    }
    assert_eq!(document.definition(offset), None, "declared in the service's code");
    let (hover, span) = document.hover(offset).unwrap();
    assert_eq!(&source[span.start as usize..span.end as usize], "DatasourceContext");
    assert!(hover.starts_with("**record `DatasourceContext`**"), "{hover}");
    assert!(hover.contains("the values of 2 key(s)"), "{hover}");
}

#[test]
fn a_codec_of_the_services_own_and_a_record_of_a_hash_field() {
    let source = include_str!("../examples/state.keys");
    let document = Document::new(source, "state.keys");
    let offset = at(source, "codec(OffsetCodec)", 7);
    let (hover, _) = document.hover(offset).unwrap();
    assert!(hover.starts_with("**codec `OffsetCodec`**"), "{hover}");
    assert!(hover.contains("the values of 1 key(s)"), "{hover}");
    assert_eq!(document.references(offset).len(), 1);

    let cordum = keyschema::examples::CORDUM;
    let document = Document::new(cordum, "cordum.keys");
    let offset = at(cordum, "labels: json(Labels)", 14);
    let here = document.occurrence_at(offset).unwrap();
    assert_eq!((here.kind, here.name.as_str()), (NameKind::Record, "Labels"));
    let (hover, _) = document.hover(offset).unwrap();
    assert!(hover.contains("job_meta"), "{hover}");
    // A record written once per key that uses it.
    let job_state = at(cordum, "json(JobState)", 6);
    assert_eq!(
        document.references(job_state).len(),
        cordum.matches("json(JobState)").count()
    );
}
