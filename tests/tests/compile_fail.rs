//! What must not compile: a transaction write whose value is not the key's type (the key's typed
//! handle carries its codec, so the mistake is the compiler's to catch, not the next read's), and
//! a generated module made for another contract than its keyschema-store.

#[test]
fn mistyped_writes_and_modules_of_another_contract_do_not_compile() {
    trybuild::TestCases::new().compile_fail("ui/*.rs");
}
