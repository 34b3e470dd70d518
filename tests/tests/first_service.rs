//! The guide's first program (`examples/first-service`) run against a real server: what it
//! prints is what Redis holds, with the TTLs its schema declares.

use keyschema_tests::{shared_standalone, Reply};

#[tokio::test]
async fn the_first_program_of_the_guide_works_against_a_real_server() {
    let server = shared_standalone();
    let report = first_service::run(&server.url()).await.expect("the first program runs");

    assert_eq!(report.failed_logins_allowed, 5, "the schema's `limit 5`");
    assert!(report.fence >= 1);
    let session = report.session.expect("the session was read back");
    assert_eq!(session.changes, 1, "changed once under the lock");

    let mut redis = server.connect();
    let Reply::Int(pttl) = redis.cmd(&["PTTL", &report.session_key]).unwrap() else {
        panic!("PTTL answers an integer");
    };
    assert!(
        (1_790_000..=1_800_000).contains(&pttl),
        "`ttl 30m` on {}: PTTL {pttl}",
        report.session_key
    );
    let lock_key = report.session_key.replace("session:", "account:lock:");
    assert_eq!(
        redis.cmd(&["EXISTS", &lock_key]).unwrap(),
        Reply::Int(0),
        "the lock was released"
    );
}
