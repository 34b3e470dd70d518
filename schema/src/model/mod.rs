//! The checked model of a schema: what every other part of keyschema works from.

mod key;
mod param;
mod primitive;
mod relations;
mod ttl;

pub use key::*;
pub use param::*;
pub use primitive::*;
pub use ttl::*;

use serde::{Deserialize, Serialize};

/// A whole keyspace: parameters, keys, groups and services, names resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct KeySchema {
    /// The keyspace's name.
    pub keyspace: String,
    /// The segment separator (`:` unless declared).
    pub separator: char,
    /// Declared parameters.
    pub params: Vec<Param>,
    /// Declared keys, in declaration order.
    pub keys: Vec<KeyDef>,
    /// Groups.
    pub groups: Vec<Group>,
    /// Services.
    pub services: Vec<Service>,
    /// `layout standalone`: the keyspace lives on one standalone server (or a primary with
    /// replicas), never a cluster, so a script may touch keys on any slot: writes that would be
    /// two steps on a cluster (an entity and its index) are one script. A store refuses to run
    /// such a schema on a cluster.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub standalone: bool,
}

/// Keys sharing one hash-tag template: equal parameter values put them on one slot, so they may
/// be used together in one transaction, pipeline-as-unit or script on a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct SlotGroup {
    /// The tag template (`<jobID>`).
    pub template: String,
    /// Its keys, by index in [`KeySchema::keys`].
    pub keys: Vec<usize>,
}

impl KeySchema {
    /// A key by its code name.
    pub fn key(&self, name: &str) -> Option<&KeyDef> {
        self.keys.iter().find(|key| key.name == name)
    }

    /// A parameter's index by name.
    pub fn param_index(&self, name: &str) -> Option<usize> {
        self.params.iter().position(|param| param.name == name)
    }

    /// The slot groups: keys grouped by hash-tag template, in order of first appearance. An
    /// untagged key hashes whole, so it joins the group tagged by exactly its pattern (a lock
    /// `app:leader` and its fence counter `{app:leader}:fence`).
    pub fn slot_groups(&self) -> Vec<SlotGroup> {
        let mut groups: Vec<SlotGroup> = Vec::new();
        for (index, key) in self.keys.iter().enumerate() {
            let Some(tag) = &key.pattern.hash_tag else {
                continue;
            };
            match groups.iter_mut().find(|group| group.template == tag.template) {
                Some(group) => group.keys.push(index),
                None => groups.push(SlotGroup {
                    template: tag.template.clone(),
                    keys: vec![index],
                }),
            }
        }
        for (index, key) in self.keys.iter().enumerate() {
            if key.pattern.hash_tag.is_none() {
                if let Some(group) = groups.iter_mut().find(|group| group.template == key.pattern.template) {
                    group.keys.insert(0, index);
                }
            }
        }
        groups
    }
}
