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

/// The dependency lines docs/store.md shows, in a crate outside this repository: the guide's
/// first program and its own test (on `keyschema-testing`'s servers) copied to a temporary folder with a `Cargo.toml` made of the documented block
/// (the checkout's path put in for `../keyschema/`) builds. (The documented `keyschema-store =
/// "0.1"` did not resolve, and the example's own manifest inherits workspace fields a service
/// cannot copy.)
#[test]
fn the_documented_dependencies_build_a_service_outside_the_repository() {
    let repository = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let guide = std::fs::read_to_string(repository.join("docs/store.md")).unwrap();
    let block = guide
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/store.md opens with the dependencies in a ```toml block");
    assert!(
        !block.contains("= \"0.1\""),
        "a version dependency does not resolve: {block}"
    );
    let dependencies = block.replace("../keyschema/", &format!("{}/", repository.display()));

    let service = std::env::temp_dir().join(format!("keyschema-outside-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&service);
    let example = repository.join("examples/first-service");
    for file in [
        "build.rs",
        "schema/app.keys",
        "src/lib.rs",
        "src/main.rs",
        "tests/against_redis.rs",
    ] {
        let target = service.join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(example.join(file), &target).unwrap();
    }
    let manifest = format!(
        "[package]\nname = \"outside-service\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [lib]\nname = \"first_service\"\n\n{dependencies}\n[workspace]\n"
    );
    std::fs::write(service.join("Cargo.toml"), manifest).unwrap();
    // The repository's lock: the same versions as its own build, offline, and its compiled
    // dependencies shared through its target folder.
    std::fs::copy(repository.join("Cargo.lock"), service.join("Cargo.lock")).unwrap();
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repository.join("target"), Into::into);
    let output = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["check", "--tests", "--offline", "--quiet"])
        .current_dir(&service)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the documented dependencies do not build a service:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&service);
}
