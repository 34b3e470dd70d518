//! An entity and its index written together (`index job:index:<state> ... of job_state by state`):
//! the entity's value names the index key its member belongs in, and a write puts the member there
//! and removes it from every other key of the index (the index is keyed by an enum, so its keys are
//! few and known). When every key shares a slot, or the schema is declared `layout standalone`,
//! this is one script (the store's checked transaction); otherwise the entity is written first and the index after it, each index command
//! idempotent, so a write interrupted between the two (a crash, a timeout) is repaired by the next
//! write of the entity or by [`IndexedKey::repair`], and the audit reports the entry until then.

use super::StringKey;
use crate::batch::Batch;
use crate::codec::{encode, Codec, Score};
use crate::error::{Error, Result};
use crate::policy::KeyId;
use crate::telemetry::op;
use crate::transaction::Transaction;
use crate::write::Write;
use keyschema::{ParamType, ParamValue, Primitive, RedisType, ScoreKind};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A string key whose value is indexed by one of its fields (generated code builds it for
/// `index ... of KEY by FIELD`).
pub struct IndexedKey<'s, C> {
    entity: StringKey<'s, C>,
    index: KeyId,
    /// The index's member for this entity (its parameter, encoded as the index's members are).
    member: Vec<u8>,
}

/// Where an entity's member belongs: every key of the index, and which one holds it (none when
/// the entity is absent).
struct Placement {
    keys: Vec<String>,
    at: Option<usize>,
}

impl<'s, C: Codec> IndexedKey<'s, C> {
    /// The entity `entity`, indexed by index definition `index`, whose member for it is `member`
    /// (encoded with the index's member codec `M`).
    pub fn new<M: Codec>(entity: StringKey<'s, C>, index: KeyId, member: &M::Value) -> Result<Self> {
        let member = encode::<M>(entity.key(), member)?;
        Ok(Self { entity, index, member })
    }

    /// The entity's key.
    pub fn key(&self) -> &str {
        self.entity.key()
    }

    /// The entity's value, if any.
    pub async fn get(&self) -> Result<Option<C::Value>> {
        self.entity
            .handle
            .observed(op!("GET"), async move { self.entity.get().await })
            .await
    }

    /// Writes the value with the key's TTL and moves the entity's index entry to the key its
    /// field names: one script when the entity and every index key share a slot, else the entity
    /// first and then the index (see the module's documentation). A value whose field is absent
    /// or names no key of the index is [`Error::IndexField`], and nothing is written.
    pub async fn set(&self, value: &C::Value) -> Result<()> {
        self.entity
            .handle
            .observed(op!("SET"), async move {
                let bytes = encode::<C>(self.key(), value)?;
                let placement = self.placement(Some(&bytes))?;
                let entity = self.entity.set_write_encoded(bytes);
                let core = self.entity.handle.core;
                let slot = keyschema::key_slot(self.key().as_bytes());
                let index_writes = self.index_writes(&placement);
                let one_script = core.schema().standalone
                    || placement
                        .keys
                        .iter()
                        .all(|key| keyschema::key_slot(key.as_bytes()) == slot);
                if one_script {
                    let mut transaction = Transaction::new(core);
                    transaction.push_write(entity)?;
                    for write in index_writes {
                        transaction.push_write(write)?;
                    }
                    transaction.execute().await?;
                } else {
                    core.apply(&entity).await?;
                    Self::apply_index(core, index_writes).await?;
                }
                self.entity.handle.retire().await
            })
            .await
    }

    /// Puts the index in step with the entity as it is now (after a write that stopped between
    /// the entity and its index, or concurrent writers whose index commands interleaved): the
    /// member in the key its field names and in no other, or in none when the entity is gone.
    /// Idempotent.
    pub async fn repair(&self) -> Result<()> {
        self.entity
            .handle
            .observed(op!("GET"), async move {
                let core = self.entity.handle.core;
                let mut get = redis::cmd("GET");
                get.arg(self.key());
                let bytes: Option<Vec<u8>> = core.read_primary(&get, self.key(), "GET").await?;
                let placement = self.placement(bytes.as_deref())?;
                Self::apply_index(core, self.index_writes(&placement)).await
            })
            .await
    }

    /// The index's keys and the one the entity's value (`None`: absent) names.
    fn placement(&self, value: Option<&[u8]>) -> Result<Placement> {
        let core = self.entity.handle.core;
        let schema = core.schema();
        let index = &schema.keys[self.index.index()];
        let (Some(Primitive::Index { by: Some(field), .. }), Some(param)) =
            (&index.primitive, index.pattern.params().next())
        else {
            return Err(self.field_error("?", "the schema indexes this key by no field"));
        };
        let field: &str = field;
        let ParamType::Enum { variants, case } = &schema.params[param].ty else {
            return Err(self.field_error(field, "the index is not keyed by an enum"));
        };
        let mut keys = Vec::with_capacity(variants.len());
        for variant in 0..variants.len() {
            let mut key = String::new();
            schema.write_key(index, &[ParamValue::Enum(variant)], &mut key)?;
            keys.push(key);
        }
        let at = match value {
            None => None,
            Some(bytes) => {
                Some(indexed_value(variants, *case, field, bytes).map_err(|reason| self.field_error(field, &reason))?)
            }
        };
        Ok(Placement { keys, at })
    }

    /// The member added to the key at `placement.at`, then removed from every other key: sent
    /// in this order, a write cut short leaves the member in two keys (the audit reports it), never
    /// in none.
    fn index_writes(&self, placement: &Placement) -> Vec<Write> {
        let core = self.entity.handle.core;
        let policy = core.policy(self.index);
        let score = score_now(&core.schema().keys[self.index.index()].redis_type);
        let remove = if score.is_some() { "ZREM" } else { "SREM" };
        let member = || vec![self.member.clone()];
        let add = placement.at.map(|at| match score {
            Some(score) => Write::add_scored(
                policy,
                &placement.keys[at],
                vec![(score, self.member.clone())],
                policy.ttl,
            ),
            None => Write::add(policy, &placement.keys[at], member(), policy.ttl),
        });
        let removes = (0..placement.keys.len())
            .filter(|&i| placement.at != Some(i))
            .map(|i| Write::remove(remove, &placement.keys[i], member()));
        add.into_iter().chain(removes).collect()
    }

    /// Sends index writes on any slots (each idempotent), pipelined per node.
    async fn apply_index(core: &crate::core::Core, writes: Vec<Write>) -> Result<()> {
        let mut batch = Batch::new(core);
        for write in writes {
            batch.write(write);
        }
        batch.send().await
    }

    fn field_error(&self, field: &str, reason: &str) -> Error {
        Error::IndexField {
            key: self.key().to_string(),
            field: field.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Which of the index's enum `variants` (written in keys in `case`) the JSON value `bytes` names in
/// its `field`: the variant's name or its form in keys. The one reading of an indexed value, for
/// writes and for the audit.
pub(crate) fn indexed_value(
    variants: &[String],
    case: keyschema::EnumCase,
    field: &str,
    bytes: &[u8],
) -> std::result::Result<usize, String> {
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let text = FieldOf(field)
        .deserialize(&mut json)
        .and_then(|text| json.end().map(|()| text))
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "absent or not a string".to_string())?;
    let text = text.as_str();
    variants
        .iter()
        .position(|variant| variant == text || case.matches(variant, text))
        .ok_or_else(|| format!("`{text}` is none of {}", variants.join(", ")))
}

/// The score an index entry written now gets: the time, in the index's unit (`score time`:
/// seconds, `time_ms`: milliseconds); `None` for a set.
pub(crate) fn score_now(index: &RedisType) -> Option<f64> {
    match index {
        RedisType::Zset {
            score: ScoreKind::TimeMs,
            ..
        } => Some(crate::param::UnixMillis(chrono::Utc::now()).to_score()),
        RedisType::Zset { .. } => Some(chrono::Utc::now().to_score()),
        _ => None,
    }
}

/// Reads the string at one field of a JSON object, skipping the rest without building it (every
/// indexed write reads its value's field): `None` when the field is absent, `null` or not a
/// string, or the value is not an object. Of repeated fields the last counts, as in a parsed
/// document.
struct FieldOf<'f>(&'f str);

/// Whether an object's key is the field sought.
struct KeyIs<'f>(&'f str);

impl<'de> DeserializeSeed<'de> for FieldOf<'_> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> std::result::Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldOf<'_> {
    type Value = Option<String>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(sought) = map.next_key_seed(KeyIs(self.0))? {
            if sought {
                found = map.next_value::<serde_json::Value>()?.as_str().map(str::to_string);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
}

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> std::result::Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> std::result::Result<bool, E> {
        Ok(key == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::indexed_value;
    use keyschema::EnumCase;

    fn read(json: &str) -> Result<usize, String> {
        let variants = ["NEW".to_string(), "RUNNING".to_string()];
        indexed_value(&variants, EnumCase::Upper, "state", json.as_bytes())
    }

    #[test]
    fn the_field_is_read_as_a_parsed_document_would_give_it() {
        assert_eq!(read(r#"{"state":"RUNNING"}"#), Ok(1));
        // Other fields of any kind are skipped, nested ones too; an escaped key is the field.
        assert_eq!(
            read(r#"{"a":[1,{"state":"NEW"}],"b":{"state":"NEW"},"st\u0061te":"RUNNING","c":null}"#),
            Ok(1)
        );
        // Of repeated fields the last counts.
        assert_eq!(read(r#"{"state":"RUNNING","state":"NEW"}"#), Ok(0));
        for absent in [
            r#"{"other":"NEW"}"#,
            r#"{"state":null}"#,
            r#"{"state":3}"#,
            r#"["NEW"]"#,
            r#""NEW""#,
            "7",
        ] {
            assert_eq!(read(absent), Err("absent or not a string".to_string()), "{absent}");
        }
        assert!(read(r#"{"state":"PAUSED"}"#)
            .unwrap_err()
            .contains("is none of NEW, RUNNING"));
        // Not JSON, or JSON followed by more: an error, as parsing the whole value gives.
        for broken in [r#"{"state":"NEW""#, r#"{"state":"NEW"} x"#, "", "{\"state\":\"NEW\",}"] {
            assert!(read(broken).is_err(), "{broken}");
        }
    }
}
