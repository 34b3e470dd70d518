//! The module generated from `tests/schemas/every_shape.keys` (every parameter type, codec,
//! Redis type, TTL form and primitive) works, not only builds: key types give back what they
//! were made of for hostile values, enums are written in their declared case, and a value of
//! each string codec is read back from a real server with its declared TTL.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_store::{KeyTtl, StringKey};
use keyschema_tests::generated::shapes::*;
use keyschema_tests::generated::{ProtoThing, Thing};
use keyschema_tests::shared_standalone;
use std::net::IpAddr;
use std::time::Duration;

type Uuid = keyschema_store::uuid::Uuid;
type Time = keyschema_store::chrono::DateTime<keyschema_store::chrono::Utc>;

/// Values that contain what keys use as syntax: the separator, braces, `%`, control bytes and
/// non-ASCII text.
const HOSTILE: [&str; 6] = ["a:b", "{tag}", "100%", "tab\there", "naïve:ü", ":"];

#[test]
fn key_types_of_every_shape_parse_back_what_they_format() {
    for text in HOSTILE {
        let key = SJsonKey { name: text.into() };
        assert_eq!(SJsonKey::parse(&key.to_key().unwrap()).unwrap(), key);
        let legacy = SLegacyKey { path: text.into() };
        assert_eq!(SLegacyKey::parse(&legacy.to_key().unwrap()).unwrap(), legacy);
    }
    let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    let ip: IpAddr = "2001:db8::1".parse().unwrap();
    let time = Time::from_timestamp(1_700_000_000, 0).unwrap();
    // Infallible key types: every value of their Rust type formats.
    assert_eq!(SBytesKey { id }.to_key(), format!("s:bytes:{id}"));
    assert_eq!(SFloatKey { addr: ip }.to_key(), "s:float:2001%3Adb8%3A%3A1");
    assert_eq!(
        SFloatKey::parse("s:float:2001%3Adb8%3A%3A1").unwrap(),
        SFloatKey { addr: ip }
    );
    assert_eq!(STextKey { n: -7 }.to_key(), "s:text:-7");
    assert_eq!(SIntKey { sec: time }.to_key().unwrap(), "s:int:1700000000");
    // Enums in their declared case: `case lower`, `case upper`, and as declared.
    assert_eq!(
        SCustomKey {
            color: Color::DarkGreen
        }
        .to_key(),
        "s:custom:dark_green"
    );
    assert_eq!(SLz4Key { level: Level::High }.to_key(), "s:lz4:HIGH");
    assert_eq!(EByStateKey { kind: Kind::Beta }.to_key(), "e:by_state:Beta");
    assert!(SCustomKey::parse("s:custom:DARK_GREEN").is_err());
    // A composite parameter in each of its forms.
    let layout = Ref::Layout1 {
        slug: "run.1".into(),
        n: 3,
        kind: Kind::Alpha,
    };
    let key = SRefKey { r#ref: layout.clone() }.to_key().unwrap();
    assert_eq!(key, "s:ref:run.1:3@Alpha");
    assert_eq!(SRefKey::parse(&key).unwrap().r#ref, layout);
    let simple = SRefKey { r#ref: Ref::Simple(id) };
    assert_eq!(SRefKey::parse(&simple.to_key().unwrap()).unwrap(), simple);
    // `except` refuses a value instead of writing a key the schema reserves.
    assert!(SKeepKey {
        region: "global".into()
    }
    .to_key()
    .is_err());
    assert!(SKeepKey::parse("s:keep:global").is_err());
    // Text that is empty is no value.
    assert!(SJsonKey { name: String::new() }.to_key().is_err());
}

async fn read_back<C>(key: StringKey<'_, C>, value: &C::Value, ttl: Duration)
where
    C: keyschema_store::Codec,
    C::Value: PartialEq + std::fmt::Debug,
{
    key.set(value).await.unwrap();
    assert_eq!(key.get().await.unwrap().as_ref(), Some(value), "{}", key.key());
    match key.ttl().await.unwrap() {
        KeyTtl::Expires(left) => assert!(
            left <= ttl && left > ttl - Duration::from_secs(10),
            "{}: {left:?} left, declared {ttl:?}",
            key.key()
        ),
        other => panic!("{}: {other:?}, declared {ttl:?}", key.key()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_string_codec_reads_back_with_its_ttl() {
    let store = ShapesStore::connect(&shared_standalone().url()).await.unwrap();
    let thing = Thing { state: "Alpha".into() };
    let hour = Duration::from_secs(3600);
    let ten_minutes = Duration::from_secs(600);
    let id = Uuid::new_v4();
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    read_back(store.s_json("a:b").unwrap(), &thing, hour).await;
    let message = ProtoThing { name: "ü".into() };
    read_back(store.s_proto("slug").unwrap(), &message, hour).await;
    // `env(SHAPES_TTL_MINUTES, 30m, unit=minutes)`, unset here.
    read_back(store.s_text(-1), &"text".to_string(), Duration::from_secs(1800)).await;
    // `2 * from_env`.
    read_back(store.s_bytes(id), &vec![0, 255, 10], Duration::from_secs(3600)).await;
    read_back(
        store.s_int(Time::from_timestamp(7, 0).unwrap()).unwrap(),
        &-42,
        ten_minutes,
    )
    .await;
    read_back(store.s_float(ip), &1.5, ten_minutes).await;
    read_back(store.s_custom(Color::Red), &u64::MAX, ten_minutes).await;
    // `per_write(max = 6h)`: a write that chooses nothing gets the bound; one that chooses gets
    // its choice.
    read_back(store.s_lz4(Level::Low), &thing, Duration::from_secs(6 * 3600)).await;
    let chosen = store.s_lz4(Level::High).with_ttl(Duration::from_secs(60)).unwrap();
    read_back(chosen, &thing, Duration::from_secs(60)).await;
    assert!(store
        .s_lz4(Level::High)
        .with_ttl(Duration::from_secs(7 * 3600))
        .is_err());
    let layout = Ref::Layout1 {
        slug: "s".into(),
        n: 1,
        kind: Kind::Beta,
    };
    read_back(store.s_ref(layout).unwrap(), &"r".to_string(), ten_minutes).await;
}
