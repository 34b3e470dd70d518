//! `Translation` between the two Cordum layouts: any key of the base layout, with any values
//! (separators, braces and percent signs in text included), moves to the cluster layout and back
//! to itself, keeps its decoded values, and lands in the slot of its slot group.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema::{examples, Schema, Translation};
use proptest::prelude::*;

/// The two layouts and the translations between them, built once: checking a schema takes
/// longer than a hundred cases.
struct Layouts {
    base: Schema,
    cluster: Schema,
    forward: Translation,
    back: Translation,
}

fn layouts() -> &'static Layouts {
    static LAYOUTS: std::sync::OnceLock<Layouts> = std::sync::OnceLock::new();
    LAYOUTS.get_or_init(|| {
        let base = Schema::parse(examples::CORDUM, "cordum.keys").unwrap();
        let cluster = Schema::parse(examples::CORDUM_CLUSTER, "cordum-cluster.keys").unwrap();
        let forward = Translation::new(base.model_arc(), cluster.model_arc());
        let back = Translation::new(cluster.model_arc(), base.model_arc());
        Layouts {
            base,
            cluster,
            forward,
            back,
        }
    })
}

fn uuid(bytes: [u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

proptest! {
    #[test]
    fn keys_move_to_the_cluster_layout_and_back(
        id in any::<[u8; 16]>(),
        run in any::<[u8; 16]>(),
        step in "[a-z][a-z0-9_]{0,8}",
        attempt in 0i64..1000,
        tenant in "[a-z:{}%@ ]{1,12}",
        key in "[a-z:{}%]{1,12}",
        state in 0usize..10,
        layout in any::<bool>(),
    ) {
        let Layouts { base, cluster, forward, back } = layouts();
        let states = ["PENDING", "APPROVAL_REQUIRED", "SCHEDULED", "DISPATCHED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT", "DENIED"];
        let job = if layout {
            format!("{}:{step}@{attempt}", uuid(run))
        } else {
            uuid(id)
        };
        let keys = [
            base.format_key("job_state", &[("jobID", &job)]).unwrap(),
            base.format_key("job_events", &[("jobID", &job)]).unwrap(),
            base.format_key("job_index", &[("state", states[state])]).unwrap(),
            base.format_key("job_idempotency", &[("tenant", &tenant), ("key", &key)]).unwrap(),
        ];
        let (mut moved, mut returned) = (String::new(), String::new());
        for original in &keys {
            let pattern = forward.translate(original, &mut moved).unwrap();
            back.translate(&moved, &mut returned).unwrap();
            prop_assert_eq!(&returned, original);
            let before = base.matcher().match_key(original).unwrap();
            let after = cluster.matcher().match_key(&moved).unwrap();
            prop_assert_eq!(&cluster.model().keys[after.key].name, &base.model().keys[pattern].name);
            prop_assert_eq!(before.values.len(), after.values.len());
        }
        // A job's keys share one slot in the cluster layout.
        let mut state_key = String::new();
        let mut events_key = String::new();
        forward.translate(&keys[0], &mut state_key).unwrap();
        forward.translate(&keys[1], &mut events_key).unwrap();
        prop_assert_eq!(keyschema::key_slot(state_key.as_bytes()), keyschema::key_slot(events_key.as_bytes()));
    }
}
