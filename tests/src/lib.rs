//! The test harness of keyschema: real `redis-server` processes on free loopback ports, standalone
//! and as a 6-node cluster, and a minimal RESP client to talk to them.
//!
//! Servers are found on `PATH` (or through `REDIS_SERVER`); a test that needs Redis and cannot
//! start it fails with the reason and the server's log. Nothing here ever uses port 6379.

pub mod generated;
pub mod resp;
pub mod server;

pub use resp::{Connection, Reply};
pub use server::{shared_cluster, shared_standalone, RedisCluster, RedisServer, ServerOptions, Shard};

/// A value no other test or test run uses: for keys and names that must not collide on a
/// shared server (the process id, then a counter).
pub fn unique(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}
