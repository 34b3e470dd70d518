//! Checkpoints of the long operations (a migration, an audit): where the scan of every node
//! stands and what has been counted up to there, written to a temporary file renamed over the
//! old one, so a crash leaves the previous checkpoint whole. A resumed run starts each node's scan
//! at its cursor: `SCAN` returns every key present for the whole scan at least once, so nothing
//! is skipped.

use super::OpsError;
use crate::connection::Node;
use crate::util::locked;
use keyschema::KeySchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// 2: a finished migration's record, and its ledger.
const CHECKPOINT_VERSION: u32 = 2;

/// Where one node's scan stands.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct NodeProgress {
    /// The cursor to continue from (0 before the first page).
    pub(crate) cursor: u64,
    /// Whether the node's scan finished.
    pub(crate) done: bool,
}

/// A checkpoint of an operation whose counts so far are a `T`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Checkpoint<T> {
    version: u32,
    /// What the operation is (`audit`, `migrate`): a checkpoint only resumes its own kind.
    operation: String,
    /// The schemas involved, by fingerprint: a checkpoint only resumes the same operation.
    schemas: Vec<u64>,
    /// Per node scanned (`host:port`, or `standalone`).
    pub(crate) nodes: BTreeMap<String, NodeProgress>,
    /// What was done so far.
    pub(crate) state: T,
    /// Set when the operation finished (one that keeps its checkpoint: a migration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) finished: Option<Finished>,
}

/// When an operation finished, and the servers it left.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Finished {
    /// Seconds since the Unix epoch.
    pub(crate) at: u64,
    /// The servers read (a migration's source).
    pub(crate) source: Endpoint,
    /// The servers written (a migration's target).
    pub(crate) target: Endpoint,
}

/// What identifies a deployment's state: each primary's `run_id` (new at every start of a
/// server) and the keys it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Endpoint {
    /// `run_id` per primary (`host:port`, or `standalone`).
    pub(crate) run_ids: BTreeMap<String, String>,
    /// Keys on all of them.
    pub(crate) keys: u64,
}

impl Endpoint {
    /// Reads the identity of the primaries `nodes`: `INFO server` and `DBSIZE` of each.
    pub(crate) async fn of(nodes: &[Node]) -> Result<Self, OpsError> {
        let mut endpoint = Self {
            run_ids: BTreeMap::new(),
            keys: 0,
        };
        for node in nodes {
            let mut pipe = node.pipe();
            pipe.cmd("INFO").arg("server").cmd("DBSIZE");
            let replies = node.pipeline(pipe, 2).await?;
            let run_id = super::nodes::info_field(replies.first(), "run_id").unwrap_or_default();
            endpoint.run_ids.insert(node.name(), run_id);
            if let Some(redis::Value::Int(keys)) = replies.get(1) {
                endpoint.keys += u64::try_from(*keys).unwrap_or(0);
            }
        }
        Ok(endpoint)
    }

    /// How `now` differs from `self`, in words; `None` when it does not.
    pub(crate) fn change(&self, now: &Self) -> Option<String> {
        if self.run_ids != now.run_ids {
            return Some("a server was restarted or replaced (its run_id changed)".to_string());
        }
        (self.keys != now.keys).then(|| format!("it held {} keys then and holds {} now", self.keys, now.keys))
    }
}

fn fingerprints(schemas: &[&KeySchema]) -> Vec<u64> {
    schemas
        .iter()
        .map(|schema| keyschema::model_fingerprint(schema, keyschema::VERSION))
        .collect()
}

impl<T: Serialize + DeserializeOwned> Checkpoint<T> {
    pub(crate) fn new(operation: &str, schemas: &[&KeySchema], nodes: &[String], state: T) -> Self {
        Self {
            version: CHECKPOINT_VERSION,
            operation: operation.to_string(),
            schemas: fingerprints(schemas),
            nodes: nodes
                .iter()
                .map(|node| (node.clone(), NodeProgress::default()))
                .collect(),
            state,
            finished: None,
        }
    }

    /// The checkpoint at `path`, if there is one, checked to be of this operation.
    pub(crate) fn load(
        path: &Path,
        operation: &str,
        schemas: &[&KeySchema],
        nodes: &[String],
    ) -> Result<Option<Self>, OpsError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(OpsError::CheckpointRead {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        let checkpoint: Self = serde_json::from_slice(&bytes).map_err(|source| OpsError::CheckpointFormat {
            path: path.display().to_string(),
            source,
        })?;
        let mismatch = |what: &str| OpsError::CheckpointMismatch {
            path: path.display().to_string(),
            what: what.to_string(),
        };
        if checkpoint.version != CHECKPOINT_VERSION {
            return Err(mismatch("written by another version of keyschema"));
        }
        if checkpoint.operation != operation {
            return Err(mismatch(&format!("it is the checkpoint of a {}", checkpoint.operation)));
        }
        if checkpoint.schemas != fingerprints(schemas) {
            return Err(mismatch("its schemas differ from these"));
        }
        if checkpoint.nodes.keys().ne(nodes.iter()) {
            return Err(mismatch(&format!(
                "the primaries were {}, they are {}",
                checkpoint.nodes.keys().cloned().collect::<Vec<_>>().join(", "),
                nodes.join(", ")
            )));
        }
        Ok(Some(checkpoint))
    }

    /// Writes the checkpoint whole, or not at all.
    pub(crate) fn save(&self, path: &Path) -> Result<(), OpsError> {
        let failed = |source| OpsError::CheckpointWrite {
            path: path.display().to_string(),
            source,
        };
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let bytes = serde_json::to_vec(self).map_err(|error| failed(std::io::Error::other(error)))?;
        std::fs::write(&temporary, bytes).map_err(failed)?;
        std::fs::rename(&temporary, path).map_err(failed)
    }
}

/// The lock of a checkpoint: `<checkpoint>.lock`, naming the process and host of the run that
/// uses the checkpoint, created whole (written aside, then linked into place, which fails if a
/// lock is there) and removed when dropped. A lock left by a run that died on this host is taken
/// over; any other is refused ([`OpsError::CheckpointLocked`]), since two runs on one checkpoint
/// would overwrite each other's progress.
pub(crate) struct CheckpointLock {
    path: PathBuf,
}

impl CheckpointLock {
    /// Takes the lock of the checkpoint at `checkpoint`.
    pub(crate) fn acquire(checkpoint: &Path) -> Result<Self, OpsError> {
        let mut path = checkpoint.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        let failed = |source| OpsError::CheckpointWrite {
            path: path.display().to_string(),
            source,
        };
        let holder = format!("{} {}\n", std::process::id(), host());
        let mut aside = path.as_os_str().to_owned();
        aside.push(format!(".{}", std::process::id()));
        let aside = PathBuf::from(aside);
        std::fs::write(&aside, holder).map_err(failed)?;
        let mut taken = std::fs::hard_link(&aside, &path);
        if matches!(&taken, Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists) {
            let (pid, host) = holder_of(&path);
            if pid.is_some_and(|pid| !alive_here(pid, &host)) {
                // Its run died: take the lock over (once; a run racing for it wins or loses here).
                let _ = std::fs::remove_file(&path);
                taken = std::fs::hard_link(&aside, &path);
            }
        }
        let _ = std::fs::remove_file(&aside);
        match taken {
            Ok(()) => Ok(Self { path }),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                let (pid, host) = holder_of(&path);
                Err(OpsError::CheckpointLocked {
                    path: checkpoint.display().to_string(),
                    pid: pid.map_or_else(|| "?".to_string(), |pid| pid.to_string()),
                    host,
                })
            }
            Err(source) => Err(failed(source)),
        }
    }
}

impl Drop for CheckpointLock {
    fn drop(&mut self) {
        // Nothing to do if it is gone already.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// This host's name, as locks record it.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map_or_else(|| "unknown".to_string(), |name| name.trim().to_string())
}

/// The process and host a lock names.
fn holder_of(lock: &Path) -> (Option<u32>, String) {
    let text = std::fs::read_to_string(lock).unwrap_or_default();
    let mut words = text.split_whitespace();
    let pid = words.next().and_then(|pid| pid.parse().ok());
    (pid, words.next().unwrap_or("?").to_string())
}

/// Whether process `pid` on `host` may still run: only a process of this host can be known dead
/// (`/proc/<pid>` gone, on Linux).
fn alive_here(pid: u32, host: &str) -> bool {
    host != self::host() || !Path::new("/proc").exists() || Path::new(&format!("/proc/{pid}")).exists()
}

/// Scans every node in `nodes` from where `state` says it stands, handing each page to `page`
/// (up to `in_flight` pages at once per node). In scan order, each page done moves the node's
/// cursor in `state`, which is saved to `path` (the first page at once, then at most once per
/// `save_every`, and when a node finishes). The first error of a page or a save stops every scan
/// and is returned; `page` breaking stops its node.
pub(crate) async fn scan_nodes<T, P, Fut>(
    nodes: &[Node],
    state: &Mutex<Checkpoint<T>>,
    path: Option<&Path>,
    save_every: Duration,
    scan_count: usize,
    in_flight: usize,
    page: P,
) -> Result<(), OpsError>
where
    T: Serialize + DeserializeOwned,
    P: Fn(Node, Vec<Vec<u8>>) -> Fut,
    Fut: Future<Output = Result<ControlFlow<()>, OpsError>>,
{
    let failure: Mutex<Option<OpsError>> = Mutex::new(None);
    let last_save = Mutex::new(Instant::now().checked_sub(save_every).unwrap_or_else(Instant::now));
    let scans = nodes.iter().map(|node| {
        let (failure, last_save, page) = (&failure, &last_save, &page);
        async move {
            let progress = locked(state).nodes.get(&node.name()).copied().unwrap_or_default();
            if progress.done {
                return Ok(());
            }
            // A failure is kept for the caller and breaks this node's scan; the others stop at
            // their next page.
            let run = |node: Node, keys: Vec<Vec<u8>>| async move {
                if locked(failure).is_some() {
                    return Ok(ControlFlow::Break(()));
                }
                Ok(page(node, keys).await.unwrap_or_else(|error| {
                    *locked(failure) = Some(error);
                    ControlFlow::Break(())
                }))
            };
            let done = |flow: ControlFlow<()>, next: u64| {
                if locked(failure).is_some() {
                    return Ok(ControlFlow::Break(()));
                }
                let Some(path) = path else { return Ok(flow) };
                let mut state = locked(state);
                state.nodes.insert(
                    node.name(),
                    NodeProgress {
                        cursor: next,
                        done: next == 0,
                    },
                );
                let mut last = locked(last_save);
                if last.elapsed() >= save_every || next == 0 {
                    *last = Instant::now();
                    if let Err(error) = state.save(path) {
                        *locked(failure) = Some(error);
                        return Ok(ControlFlow::Break(()));
                    }
                }
                Ok(flow)
            };
            node.scan_from(progress.cursor, "*", scan_count.max(1), in_flight, &run, done)
                .await
        }
    });
    futures_util::future::try_join_all(scans).await?;
    match failure.into_inner().unwrap_or_else(PoisonError::into_inner) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::RedisConnection;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// The promise `--checkpoint-every` makes: a scan saves its checkpoint after its first page,
    /// then at most once per interval (and when a node finishes), however many pages it reads.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(clippy::unwrap_used)] // A test: a panic with the value is the clearest failure.
    async fn a_checkpoint_is_saved_at_most_once_per_interval() {
        let server = keyschema_tests::RedisServer::start();
        let mut admin = server.connect();
        for batch in 0..10 {
            let mut words = vec!["MSET".to_string()];
            for i in 0..100 {
                words.push(format!("k:{batch}:{i}"));
                words.push("v".into());
            }
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            admin.cmd(&words).unwrap();
        }
        let connection = RedisConnection::standalone(&server.url()).await.unwrap();
        let nodes = connection.nodes().await.unwrap();
        let names: Vec<String> = nodes.iter().map(Node::name).collect();
        let path = std::env::temp_dir().join(format!("keyschema-save-every-{}.json", std::process::id()));
        let state = Mutex::new(Checkpoint::new("audit", &[], &names, 0_u64));
        // Each page notes the checkpoint it finds on disk: a save changes the cursor written.
        let saved: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
        let pages = AtomicU64::new(0);
        let every = Duration::from_millis(300);
        let started = Instant::now();
        scan_nodes(&nodes, &state, Some(&path), every, 10, 1, |_node, _keys| {
            let (saved, pages, path) = (&saved, &pages, &path);
            async move {
                pages.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(15)).await;
                if let Ok(bytes) = std::fs::read(path) {
                    let mut saved = locked(saved);
                    if saved.last() != Some(&bytes) {
                        saved.push(bytes);
                    }
                }
                Ok(ControlFlow::Continue(()))
            }
        })
        .await
        .unwrap();
        let elapsed = started.elapsed();
        let file = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let mut saves = saved.into_inner().unwrap();
        if saves.last() != Some(&file) {
            saves.push(file); // The save when the node finished.
        }
        let pages = pages.into_inner();
        // About 100 pages of 10 keys in 1.5 s or more: the first save, one per 300 ms, the last.
        let most = u64::try_from(elapsed.as_millis() / every.as_millis()).unwrap() + 2;
        assert!(pages >= 90, "{pages} pages");
        assert!(
            (3..=most).contains(&(saves.len() as u64)),
            "{} saves over {pages} pages in {elapsed:?}: at most {most} allowed",
            saves.len()
        );
    }
}
