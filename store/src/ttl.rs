//! TTL policies resolved once, at start-up, from the environment.

use crate::error::{Error, Result};
use keyschema::KeySchema;
use std::time::Duration;

/// The TTL of every key definition of a schema, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedTtls {
    per_key: Vec<Option<Duration>>,
}

impl ResolvedTtls {
    /// Resolves every policy from the process environment. A variable with a bad value is an
    /// error now, naming the key and the variable, never a silent default later.
    pub fn from_env(schema: &KeySchema) -> Result<Self> {
        Self::from_lookup(schema, |var| std::env::var(var).ok())
    }

    /// Resolves every policy with `lookup` giving variables (tests, configuration files).
    pub fn from_lookup(schema: &KeySchema, lookup: impl Fn(&str) -> Option<String> + Copy) -> Result<Self> {
        let per_key = schema
            .keys
            .iter()
            .map(|key| {
                key.ttl
                    .resolve(lookup)
                    .map(|millis| millis.map(|m| Duration::from_millis(m.0)))
                    .map_err(|source| Error::Ttl {
                        key: key.name.clone(),
                        source,
                    })
            })
            .collect::<Result<_>>()?;
        Ok(Self { per_key })
    }

    /// The TTL of the key definition at `index` in the schema; `None` when it never expires.
    pub fn of(&self, index: usize) -> Option<Duration> {
        self.per_key.get(index).copied().flatten()
    }
}
