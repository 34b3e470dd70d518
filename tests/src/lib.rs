//! The test harness of keyschema: the servers of `keyschema-testing` (real `redis-server`
//! processes on free loopback ports, standalone and as a 6-node cluster, and a minimal RESP
//! client), and the typed stores generated from the example schemas.
//!
//! Servers are found on `PATH` (or through `REDIS_SERVER`); a test that needs Redis and cannot
//! start it fails with the reason and the server's log. Nothing here ever uses port 6379.

pub mod generated;
pub mod telemetry;

pub use keyschema_testing::{
    resp, server, shared_cluster, shared_standalone, unique, Connection, RedisCluster, RedisServer, Reply,
    ServerOptions, Shard,
};
