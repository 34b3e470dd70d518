//! The checkpoint of a migration: where the scan of every source node stands and what has been
//! counted, written after each page is copied (to a temporary file renamed over the old one,
//! so a crash leaves the previous checkpoint whole). A resumed run starts each node's scan
//! at its cursor: `SCAN` returns every key present for the whole scan at least once, so nothing
//! is skipped, and keys copied twice are found already on the target.

use super::report::MigrationReport;
use super::MigrateError;
use keyschema::KeySchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

const CHECKPOINT_VERSION: u32 = 1;

/// Where one source node's scan stands.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(super) struct NodeProgress {
    /// The cursor to continue from (0 before the first page).
    pub(super) cursor: u64,
    /// Whether the node's scan finished.
    pub(super) done: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Checkpoint {
    version: u32,
    /// The two schemas, by fingerprint: a checkpoint only resumes the same migration.
    from_schema: u64,
    to_schema: u64,
    /// Per source node (`host:port`, or `standalone`).
    pub(super) nodes: BTreeMap<String, NodeProgress>,
    /// What was done so far.
    pub(super) report: MigrationReport,
}

fn fingerprint(schema: &KeySchema) -> u64 {
    keyschema::model_fingerprint(schema, keyschema::VERSION)
}

impl Checkpoint {
    pub(super) fn new(from: &KeySchema, to: &KeySchema, nodes: &[String], report: MigrationReport) -> Self {
        Self {
            version: CHECKPOINT_VERSION,
            from_schema: fingerprint(from),
            to_schema: fingerprint(to),
            nodes: nodes
                .iter()
                .map(|node| (node.clone(), NodeProgress::default()))
                .collect(),
            report,
        }
    }

    /// The checkpoint at `path`, if there is one, checked to be of this migration.
    pub(super) fn load(
        path: &Path,
        from: &KeySchema,
        to: &KeySchema,
        nodes: &[String],
    ) -> Result<Option<Self>, MigrateError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(MigrateError::CheckpointRead {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        let checkpoint: Self = serde_json::from_slice(&bytes).map_err(|source| MigrateError::CheckpointFormat {
            path: path.display().to_string(),
            source,
        })?;
        let mismatch = |what: &str| MigrateError::CheckpointMismatch {
            path: path.display().to_string(),
            what: what.to_string(),
        };
        if checkpoint.version != CHECKPOINT_VERSION {
            return Err(mismatch("written by another version of keyschema"));
        }
        if checkpoint.from_schema != fingerprint(from) || checkpoint.to_schema != fingerprint(to) {
            return Err(mismatch("its schemas differ from these"));
        }
        if checkpoint.nodes.keys().ne(nodes.iter()) {
            return Err(mismatch(&format!(
                "the source's primaries were {}, they are {}",
                checkpoint.nodes.keys().cloned().collect::<Vec<_>>().join(", "),
                nodes.join(", ")
            )));
        }
        Ok(Some(checkpoint))
    }

    /// Writes the checkpoint whole, or not at all.
    pub(super) fn save(&self, path: &Path) -> Result<(), MigrateError> {
        let failed = |source| MigrateError::CheckpointWrite {
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
