//! Real `redis-server` processes for tests: a service's own, and keyschema's. Each server runs on
//! a free loopback port in a temporary folder of its own and is killed when dropped; a 3-primary +
//! 3-replica cluster is created with `redis-cli --cluster create`. Nothing here ever uses port 6379.
//!
//! Servers are found on `PATH` (or through `REDIS_SERVER`, and `redis-cli` beside it); a test that
//! needs Redis and cannot start it **fails** with the reason and the server's log, never skips.
//!
//! ```no_run
//! // In a service's tests (`[dev-dependencies] keyschema-testing = ...`):
//! let server = keyschema_testing::RedisServer::start();
//! let url = server.url(); // redis://127.0.0.1:<free port>
//! let cluster = keyschema_testing::RedisCluster::start();
//! let nodes = cluster.urls(); // every node's URL; give them to `Store::connect_cluster`
//! ```
//!
//! [`shared_standalone`] and [`shared_cluster`] start one of each per test binary, for tests that
//! can share (each using keys of its own, see [`unique`]).

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
