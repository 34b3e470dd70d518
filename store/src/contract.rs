//! The contract between a generated module and this runtime. A generated module carries the
//! checked model it was generated from (as constructors), the pairs of ambiguous keys the
//! checker found, the keyschema version that generated it and a fingerprint of both. Loading it
//! does no parsing and no checking: it builds the model, checks the version and the
//! fingerprint; the matcher is compiled when a key is first parsed.

use crate::connection::{ConnectionOptions, RedisConnection};
use crate::error::{Error, Result};
use crate::store::Store;
use keyschema::{model_fingerprint, KeySchema, Schema};
use std::sync::OnceLock;

/// Fails the build of a generated module made for another contract ([`keyschema::CONTRACT`]):
/// generated code calls it in a constant, so a mismatch is a compile error with this message
/// rather than a failure at start-up.
pub const fn require_contract(generated_for: u32) {
    assert!(
        generated_for == keyschema::CONTRACT,
        "this module was generated for another keyschema contract than this keyschema-store's: \
         regenerate it with the keyschema-codegen (or `keyschema gen`) of the same release"
    );
}

/// The checked model embedded in a generated module (`pub static GENERATED` in its file).
pub struct GeneratedSchema {
    source_name: &'static str,
    generated_by: &'static str,
    fingerprint: u64,
    model: fn() -> KeySchema,
    ambiguities: &'static [(u32, u32)],
    loaded: OnceLock<Loaded>,
}

/// A module's model, read back once: the schema its key types use, and why a store refuses it
/// (its fingerprint disagrees), if it does.
struct Loaded {
    schema: Schema,
    refused: Option<String>,
}

impl GeneratedSchema {
    /// What generated code writes: the schema file's name, the keyschema version that generated
    /// the module, the fingerprint ([`keyschema::model_fingerprint`]), the function that builds
    /// the checked model, and the ambiguous pairs of keys.
    pub const fn new(
        source_name: &'static str,
        generated_by: &'static str,
        fingerprint: u64,
        model: fn() -> KeySchema,
        ambiguities: &'static [(u32, u32)],
    ) -> Self {
        Self {
            source_name,
            generated_by,
            fingerprint,
            model,
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

    /// Loads the schema afresh, uncached: what [`GeneratedSchema::schema`] does once (read the
    /// model back, compare fingerprints, compile the matcher). For measuring start-up.
    pub fn load(&self) -> Result<Schema> {
        let loaded = self.read();
        match loaded.refused {
            None => Ok(loaded.schema),
            Some(reason) => Err(self.contract_error(reason)),
        }
    }

    fn contract_error(&self, reason: String) -> Error {
        Error::Contract {
            source_name: self.source_name.to_string(),
            generated_by: self.generated_by.to_string(),
            runtime: keyschema::VERSION.to_string(),
            reason,
        }
    }

    fn read(&self) -> Loaded {
        // The recorded fingerprint covers the model and the contract (which the module's build
        // already checked: `require_contract`): the same number only if nothing differs.
        let model = (self.model)();
        let fingerprint = model_fingerprint(&model, keyschema::CONTRACT_TAG);
        let refused = (fingerprint != self.fingerprint).then(|| {
            format!(
                "the module records fingerprint {:016x}, this runtime computes {fingerprint:016x} (was it edited by hand?)",
                self.fingerprint
            )
        });
        let ambiguities = self
            .ambiguities
            .iter()
            .map(|&(a, b)| (a as usize, b as usize))
            .filter(|&(a, b)| a < model.keys.len() && b < model.keys.len())
            .collect();
        Loaded {
            schema: Schema::from_checked_model(model, ambiguities, self.source_name),
            refused,
        }
    }

    fn loaded(&'static self) -> &'static Loaded {
        self.loaded.get_or_init(|| self.read())
    }

    /// The schema, loaded and checked against this runtime once; an [`Error::Contract`] naming
    /// both versions when they do not agree. Every store of the module is made through this.
    pub fn schema(&'static self) -> Result<&'static Schema> {
        let loaded = self.loaded();
        match &loaded.refused {
            None => Ok(&loaded.schema),
            Some(reason) => Err(self.contract_error(reason.clone())),
        }
    }

    /// The schema generated key types format and parse with: the module's own model, without
    /// the fingerprint check, so a key type never fails or panics for a module edited by hand
    /// (it formats as the module says); a store of such a module is refused
    /// ([`GeneratedSchema::schema`]).
    #[doc(hidden)]
    pub fn keys(&'static self) -> &'static Schema {
        &self.loaded().schema
    }

    /// The store made by hand (its policies resolved by the caller), once it is known to use
    /// this module's schema: an [`Error::Contract`] when the module was edited by hand or the
    /// store's schema is another one, so no accessor ever runs over a schema it was not
    /// generated from.
    pub fn adopt(&'static self, store: Store) -> Result<Store> {
        let schema = self.schema()?;
        let expected = model_fingerprint(schema.model(), keyschema::CONTRACT_TAG);
        let found = model_fingerprint(store.schema(), keyschema::CONTRACT_TAG);
        if found != expected {
            return Err(self.contract_error(format!(
                "the store's schema (keyspace `{}`, fingerprint {found:016x}) is not this module's \
                 (keyspace `{}`, fingerprint {expected:016x})",
                store.schema().keyspace,
                schema.model().keyspace
            )));
        }
        Ok(store.compiled_by(schema))
    }

    /// A store over `connection` with this module's schema, policies resolved from the
    /// environment.
    pub fn store(&'static self, connection: RedisConnection) -> Result<Store> {
        let schema = self.schema()?;
        Ok(Store::new(connection, schema.model_arc())?.compiled_by(schema))
    }

    /// Checks the contract, then connects to a standalone server.
    pub async fn connect(&'static self, url: &str, options: &ConnectionOptions) -> Result<Store> {
        let schema = self.schema()?;
        Ok(Store::connect_with(url, schema.model_arc(), options)
            .await?
            .compiled_by(schema))
    }

    /// Checks the contract, then connects to a cluster.
    pub async fn connect_cluster(
        &'static self,
        nodes: &[impl AsRef<str>],
        options: &ConnectionOptions,
    ) -> Result<Store> {
        let schema = self.schema()?;
        Ok(Store::connect_cluster_with(nodes, schema.model_arc(), options)
            .await?
            .compiled_by(schema))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> KeySchema {
        KeySchema {
            keyspace: "k".into(),
            separator: ':',
            params: Vec::new(),
            keys: Vec::new(),
            groups: Vec::new(),
            services: Vec::new(),
            standalone: false,
        }
    }

    fn other() -> KeySchema {
        KeySchema {
            keyspace: "j".into(),
            ..tiny()
        }
    }

    static EDITED: GeneratedSchema = GeneratedSchema::new("t.keys", keyschema::VERSION, 1, tiny, &[]);

    #[test]
    fn a_module_from_another_release_of_the_same_contract_loads() {
        // Before, the exact version had to agree: a module generated by 0.1.0 was refused by 0.1.1.
        let fingerprint = model_fingerprint(&tiny(), keyschema::CONTRACT_TAG);
        let older = GeneratedSchema::new("t.keys", "0.0.9", fingerprint, tiny, &[]);
        assert_eq!(older.load().unwrap().model().keyspace, "k");
        // The same contract is checked when the module builds (`require_contract`).
        require_contract(keyschema::CONTRACT);
        assert_eq!(keyschema::CONTRACT_TAG, format!("contract {}", keyschema::CONTRACT));
    }

    #[test]
    fn a_model_edited_by_hand_is_refused() {
        let error = EDITED.schema().unwrap_err().to_string();
        assert!(error.contains("edited by hand"), "{error}");
        // Its key types still format and parse, as the module says (they used to panic).
        assert_eq!(EDITED.keys().model().keyspace, "k");
        let fingerprint = model_fingerprint(&tiny(), keyschema::CONTRACT_TAG);
        let good = GeneratedSchema::new("t.keys", keyschema::VERSION, fingerprint, tiny, &[]);
        assert_eq!(good.load().unwrap().model().keyspace, "k");
        let bad = GeneratedSchema::new("t.keys", keyschema::VERSION, fingerprint, other, &[]);
        assert!(matches!(bad.load(), Err(Error::Contract { .. })));
    }
}
