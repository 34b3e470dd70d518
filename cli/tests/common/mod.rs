//! Helpers shared by the CLI tests that interrupt a long command and read its reports.

#![allow(dead_code)] // Each test binary uses its own part of these.

use serde_json::Value;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// The keys a checkpoint file says were done so far (0 while there is none).
pub fn checkpoint_keys(path: &Path) -> u64 {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|checkpoint| checkpoint["state"]["keys"].as_u64())
        .unwrap_or(0)
}

/// Kills `child` with SIGKILL once its checkpoint at `path` holds at least `keys` keys, failing
/// if it ends first or makes no progress for a minute.
pub fn kill_after(child: &mut Child, path: &Path, keys: u64) {
    wait_for_checkpoint(child, path, keys);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// Waits until the checkpoint at `path` of the running `child` holds at least `keys` keys,
/// failing if the child ends first or makes no progress for a minute.
pub fn wait_for_checkpoint(child: &mut Child, path: &Path, keys: u64) {
    let started = Instant::now();
    while checkpoint_keys(path) < keys {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the command ended before its checkpoint held {keys} keys"
        );
        assert!(started.elapsed() < Duration::from_secs(60), "no checkpoint");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The entry of a report's list whose `name` is `name`.
pub fn named<'r>(list: &'r Value, name: &str) -> &'r Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["name"] == name)
        .unwrap_or_else(|| panic!("no `{name}` in {list}"))
}

/// Asserts that a command exited with `code`, showing its standard error when it did not.
pub fn assert_exit(output: &std::process::Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
