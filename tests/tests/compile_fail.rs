//! What must not compile: a transaction write whose value is not the key's type (the key's typed
//! handle carries its codec, so the mistake is the compiler's to catch, not the next read's).

#[test]
fn a_mistyped_transaction_write_does_not_compile() {
    trybuild::TestCases::new().compile_fail("ui/*.rs");
}
