// A module generated for another contract than the keyschema-store it is built with: the build
// fails with a message saying what to do, instead of the service failing at start-up.
const _: () = keyschema_store::__generated::require_contract(0);

fn main() {}
