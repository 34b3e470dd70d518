//! Formatting a key allocates nothing beyond the output buffer; matching allocates nothing for
//! keys whose values need no unescaping.

// A counting global allocator needs `unsafe impl GlobalAlloc`; this file is the only place.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema::{examples, ParamValue, Schema};
use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is thread-local.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn formatting_allocates_only_the_output_buffer() {
    let schema = Schema::parse(examples::CORDUM, "cordum.keys").unwrap();
    let model = schema.model();
    let cases: Vec<(&str, Vec<ParamValue<'_>>)> = vec![
        (
            "job_idempotency",
            vec![
                ParamValue::Text(Cow::Borrowed("a:b{c}")),
                ParamValue::Text(Cow::Borrowed("k%")),
            ],
        ),
        ("job_index", vec![ParamValue::Enum(4)]),
        ("job_state", vec![ParamValue::Uuid([7; 16])]),
        (
            "cordum_rl",
            vec![ParamValue::Text(Cow::Borrowed("acme")), ParamValue::Int(1_700_000_000)],
        ),
        (
            "login_failed",
            vec![
                ParamValue::Text(Cow::Borrowed("bob")),
                ParamValue::Ip("2001:db8::1".parse().unwrap()),
            ],
        ),
    ];
    let mut out = String::with_capacity(256);
    for (name, values) in &cases {
        let key = model.key(name).unwrap();
        out.clear();
        let count = allocations_in(|| model.write_key(key, values, &mut out).unwrap());
        assert_eq!(count, 0, "formatting {name} allocated");
        assert!(!out.is_empty());
    }
}

#[test]
fn matching_plain_keys_allocates_nothing() {
    let schema = Schema::parse(examples::CORDUM, "cordum.keys").unwrap();
    let matcher = schema.matcher();
    for key in [
        "job:state:0f8fad5b-d9cb-469f-a165-70867728950e",
        "cordum:rl:acme:1700000000",
        "job:index:running",
    ] {
        let count = allocations_in(|| {
            let found = matcher.match_key(key).unwrap();
            assert!(!found.values.is_empty());
        });
        assert_eq!(count, 0, "matching {key} allocated");
    }
}
