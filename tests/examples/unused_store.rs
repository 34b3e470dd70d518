//! A service crate that includes generated stores and uses almost none of them: it must build
//! without a warning under `#![deny(warnings, clippy::all, clippy::pedantic)]` and clippy (`scripts/test` builds every example
//! with clippy `-D warnings`), whatever subset of the module a service calls. It also uses the
//! re-exported `chrono` and `uuid` the way generated methods need (`Utc::now()`, `Uuid::new_v4()`).

// Generated code is held to clippy's pedantic lints too (a service may turn them on).
#![deny(warnings, clippy::all, clippy::pedantic)]

// The value types the schemas name, as a service defines them (here: the test crate's), all in
// scope as the modules' `super::` paths need them.
#[allow(clippy::wildcard_imports)]
use keyschema_tests::generated::*;

mod cordum {
    include!(concat!(env!("OUT_DIR"), "/cordum.rs"));
}

mod collector {
    include!(concat!(env!("OUT_DIR"), "/state.rs"));
}

mod cordum_cluster {
    include!(concat!(env!("OUT_DIR"), "/cordum_cluster.rs"));
}

mod catalog {
    include!(concat!(env!("OUT_DIR"), "/catalog.rs"));
}

mod opensensor {
    include!(concat!(env!("OUT_DIR"), "/opensensor.rs"));
}

// Parameters of Copy types in every generated form that passes one along.
mod copies {
    include!(concat!(env!("OUT_DIR"), "/copy_params.rs"));
}

// Every shape the schema language allows: each parameter type, codec, Redis type, TTL form,
// primitive and layout.
mod shapes {
    include!(concat!(env!("OUT_DIR"), "/every_shape.rs"));
}

// Stores bridged from a previous layout (`Config::previous`): the previous model, the keys'
// `to_previous_key` and the bridged accessors.
mod bridged_cordum {
    include!(concat!(env!("OUT_DIR"), "/from_cordum/cordum_cluster.rs"));
}

mod bridged {
    include!(concat!(env!("OUT_DIR"), "/from_bridge_v1/bridge_v2.rs"));
}

fn main() {
    let now = keyschema_store::chrono::Utc::now();
    let job = keyschema_store::uuid::Uuid::new_v4();
    let key = cordum::JobIndexKey {
        state: cordum::State::Running,
    }
    .to_key();
    println!(
        "{key} {job} {now} {}",
        collector::CtxPartitionOffsetKey { partition: 3 }.to_key()
    );
    // `Config::type_attribute("ItemNameKey", "#[derive(PartialOrd, Ord)]")` in tests/build.rs.
    let mut names = [copies::ItemNameKey { id: job }, copies::ItemNameKey { id: job }];
    names.sort();
    println!("{}", names[0].to_key());
}
