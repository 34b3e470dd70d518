//! `SCAN` over a whole keyspace: the one server of a standalone connection (its primary), or
//! every primary of a cluster, found from the cluster itself (`CLUSTER SLOTS`) and scanned in
//! parallel, each by address.

use super::{Kind, RedisConnection};
use crate::error::{Error, Result};
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Value};

/// One batch of keys a scan returned, and where to go on from.
type Page = (u64, Vec<Vec<u8>>);

impl RedisConnection {
    /// Scans every primary for keys matching `glob`, `count` keys asked per call, handing each
    /// page of keys to `page` as it arrives (pages of different primaries interleave). Keys are
    /// raw bytes, as stored.
    pub(crate) async fn scan_primaries<F, Fut>(&self, glob: &str, count: usize, page: F) -> Result<()>
    where
        F: Fn(Vec<Vec<u8>>) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        match &self.kind {
            Kind::Cluster(handle) => {
                let connection = handle.connection();
                let primaries = self.primaries().await?;
                let scans = primaries.into_iter().map(|(host, port)| {
                    let mut connection = connection.clone();
                    let page = &page;
                    async move {
                        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port,
                        });
                        let mut cursor = 0;
                        loop {
                            let reply = connection
                                .route_command(scan(cursor, glob, count), routing.clone())
                                .await
                                .map_err(|source| Error::command(&format!("{host}:{port}"), "SCAN", source))?;
                            let (next, keys) = page_of(reply, &host)?;
                            page(keys).await?;
                            if next == 0 {
                                return Ok::<(), Error>(());
                            }
                            cursor = next;
                        }
                    }
                });
                futures_util::future::try_join_all(scans).await.map(drop)
            }
            // A standalone server, or the primary of one with replicas (the keys are all there).
            _ => {
                let mut cursor = 0;
                loop {
                    let reply: Value = self
                        .query(super::Route::Write, &scan(cursor, glob, count), glob, "SCAN")
                        .await?;
                    let (next, keys) = page_of(reply, glob)?;
                    page(keys).await?;
                    if next == 0 {
                        return Ok(());
                    }
                    cursor = next;
                }
            }
        }
    }

    /// The primaries of a cluster as `(host, port)`, from `CLUSTER SLOTS`.
    async fn primaries(&self) -> Result<Vec<(String, u16)>> {
        let slots: Vec<Value> = self
            .query(
                super::Route::Write,
                redis::cmd("CLUSTER").arg("SLOTS"),
                "",
                "CLUSTER SLOTS",
            )
            .await?;
        let mut primaries: Vec<(String, u16)> = Vec::new();
        for range in slots {
            // [start, end, [host, port, id, ...], replicas...]
            let Value::Array(parts) = range else { continue };
            let Some(Value::Array(node)) = parts.get(2) else {
                continue;
            };
            let (Some(host), Some(Value::Int(port))) = (node.first(), node.get(1)) else {
                continue;
            };
            let host = match host {
                Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                Value::SimpleString(text) => text.clone(),
                _ => continue,
            };
            let Ok(port) = u16::try_from(*port) else { continue };
            if !primaries.iter().any(|(h, p)| *h == host && *p == port) {
                primaries.push((host, port));
            }
        }
        Ok(primaries)
    }
}

fn scan(cursor: u64, glob: &str, count: usize) -> Cmd {
    let mut cmd = redis::cmd("SCAN");
    cmd.arg(cursor).arg("MATCH").arg(glob).arg("COUNT").arg(count);
    cmd
}

/// `[cursor, [key, ...]]`.
fn page_of(reply: Value, node: &str) -> Result<Page> {
    redis::from_redis_value::<(String, Vec<Vec<u8>>)>(reply.clone())
        .ok()
        .and_then(|(cursor, keys)| Some((cursor.parse().ok()?, keys)))
        .ok_or_else(|| Error::unexpected(node, "SCAN", &reply))
}
