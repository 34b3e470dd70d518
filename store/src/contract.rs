//! The contract between a generated module and this runtime. A generated module carries the
//! checked model it was generated from (as JSON), the pairs of ambiguous keys the checker found,
//! the keyschema version that generated it and a fingerprint of both. Loading it does no parsing
//! of the schema language and no checking: it reads the model back, checks the fingerprint
//! against this runtime's own reading of it, and compiles the matcher.

use crate::connection::{ConnectionOptions, RedisConnection};
use crate::error::{Error, Result};
use crate::Store;
use keyschema::{model_fingerprint, KeySchema, Schema};
use std::sync::OnceLock;

/// The checked model embedded in a generated module (`pub static GENERATED` in its file).
pub struct GeneratedSchema {
    source_name: &'static str,
    generated_by: &'static str,
    fingerprint: u64,
    model_json: &'static str,
    ambiguities: &'static [(u32, u32)],
    loaded: OnceLock<Result<Schema, String>>,
}

impl GeneratedSchema {
    /// What generated code writes: the schema file's name, the keyschema version that generated
    /// the module, the fingerprint ([`keyschema::model_fingerprint`]), the model as JSON, and the ambiguous
    /// pairs of keys.
    pub const fn new(
        source_name: &'static str,
        generated_by: &'static str,
        fingerprint: u64,
        model_json: &'static str,
        ambiguities: &'static [(u32, u32)],
    ) -> Self {
        Self {
            source_name,
            generated_by,
            fingerprint,
            model_json,
            ambiguities,
            loaded: OnceLock::new(),
        }
    }

    /// The schema file the module was generated from.
    pub fn source_name(&self) -> &'static str {
        self.source_name
    }

    /// The recorded fingerprint.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    fn load(&self) -> Result<Schema, String> {
        if self.generated_by != keyschema::VERSION {
            return Err(format!(
                "the module records keyschema {} and fingerprint {:016x}",
                self.generated_by, self.fingerprint
            ));
        }
        let model: KeySchema =
            serde_json::from_str(self.model_json).map_err(|e| format!("its model does not read back: {e}"))?;
        let reread = serde_json::to_string(&model).map_err(|e| format!("its model does not serialise: {e}"))?;
        let fingerprint = model_fingerprint(&reread, keyschema::VERSION);
        if fingerprint != self.fingerprint {
            return Err(format!(
                "the module records fingerprint {:016x}, this runtime reads its model as {fingerprint:016x}",
                self.fingerprint
            ));
        }
        let ambiguities = self
            .ambiguities
            .iter()
            .map(|&(a, b)| (a as usize, b as usize))
            .filter(|&(a, b)| a < model.keys.len() && b < model.keys.len())
            .collect();
        Ok(Schema::from_checked_model(model, ambiguities, self.source_name))
    }

    /// The schema, loaded and checked against this runtime once; an [`Error::Contract`] naming
    /// both versions when they do not agree.
    pub fn schema(&'static self) -> Result<&'static Schema> {
        self.loaded
            .get_or_init(|| self.load())
            .as_ref()
            .map_err(|reason| Error::Contract {
                source_name: self.source_name.to_string(),
                generated_by: self.generated_by.to_string(),
                runtime: keyschema::VERSION.to_string(),
                reason: reason.clone(),
            })
    }

    /// The schema, for generated key types that format and parse keys without a store.
    ///
    /// # Panics
    /// When the module does not match this runtime ([`GeneratedSchema::schema`] says why): a
    /// build that mixes keyschema versions. `connect` reports the same as an error first.
    pub fn expect_schema(&'static self) -> &'static Schema {
        match self.schema() {
            Ok(schema) => schema,
            Err(error) => panic!("{error}"),
        }
    }

    /// A store over `connection` with this module's schema, policies resolved from the
    /// environment.
    pub fn store(&'static self, connection: RedisConnection) -> Result<Store> {
        Store::new(connection, self.schema()?.model_arc())
    }

    /// Checks the contract, then connects to a standalone server.
    pub async fn connect(&'static self, url: &str, options: &ConnectionOptions) -> Result<Store> {
        let schema = self.schema()?.model_arc();
        Store::connect_with(url, schema, options).await
    }

    /// Checks the contract, then connects to a cluster.
    pub async fn connect_cluster(
        &'static self,
        nodes: &[impl AsRef<str>],
        options: &ConnectionOptions,
    ) -> Result<Store> {
        let schema = self.schema()?.model_arc();
        Store::connect_cluster_with(nodes, schema, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static BROKEN: GeneratedSchema = GeneratedSchema::new("t.keys", "0.0.0-other", 1, "{}", &[]);

    #[test]
    fn a_module_from_another_version_is_refused_naming_both() {
        let error = BROKEN.schema().unwrap_err().to_string();
        assert!(error.contains("keyschema 0.0.0-other"), "{error}");
        assert!(
            error.contains(&format!("runtime (keyschema {})", keyschema::VERSION)),
            "{error}"
        );
        assert!(error.contains("regenerate"), "{error}");
    }
}
