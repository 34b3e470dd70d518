//! Keys moved from one layout to another: a key of the `from` schema is matched, and the key
//! definition of the same name in the `to` schema is formatted with the same parameter values
//! (`job:state:<id>` to `job:state:{<id>}`). Parameters are paired by name and must have the same
//! type in both schemas; what cannot be paired is said once per key definition, up front.

use crate::{KeySchema, LayoutPart, MatchFailure, Matcher, ParamValue};
use std::sync::Arc;

/// Translates keys of one schema into the layout of another.
pub struct Translation {
    from: Arc<KeySchema>,
    to: Arc<KeySchema>,
    matcher: Matcher,
    /// Per key definition of `from`: the one of `to` with its parameters (per parameter of the
    /// target pattern, the `from` parameter with its name), or why there is none.
    targets: Vec<Result<Target, String>>,
}

struct Target {
    key: usize,
    /// For each parameter of the target pattern, in order: the `from` parameter.
    params: Vec<usize>,
}

/// Why a key has no place in the target layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untranslated {
    /// The key matches no pattern of the source schema.
    NoPattern(MatchFailure),
    /// It matches `key` (of the source schema), which the target schema cannot take.
    NoTarget {
        /// The source key definition.
        key: usize,
        /// Why.
        reason: String,
    },
}

impl Translation {
    /// Pairs the key definitions of `from` with those of `to` by name.
    ///
    /// ```
    /// # use keyschema::{Schema, Translation};
    /// let old = Schema::parse("param id int\njob:<id> string \"A job\"\n", "old.keys").unwrap();
    /// let new = Schema::parse("param id int\njob:{<id>} string \"A job\"\n", "new.keys").unwrap();
    /// let translation = Translation::new(old.model_arc(), new.model_arc());
    /// let mut key = String::new();
    /// translation.translate("job:7", &mut key).unwrap();
    /// assert_eq!(key, "job:{7}");
    /// ```
    pub fn new(from: Arc<KeySchema>, to: Arc<KeySchema>) -> Self {
        let targets = from.keys.iter().map(|key| pair(&from, &to, &key.name)).collect();
        let matcher = Matcher::new(Arc::clone(&from));
        Self {
            from,
            to,
            matcher,
            targets,
        }
    }

    /// The source schema.
    pub fn from_schema(&self) -> &KeySchema {
        &self.from
    }

    /// The target schema.
    pub fn to_schema(&self) -> &KeySchema {
        &self.to
    }

    /// The target key definition of the source key definition `key`, or why there is none.
    pub fn target_of(&self, key: usize) -> Result<usize, &str> {
        match &self.targets[key] {
            Ok(target) => Ok(target.key),
            Err(reason) => Err(reason),
        }
    }

    /// Writes `key`'s name in the target layout into `out` (cleared first); returns the source
    /// key definition it matched.
    pub fn translate(&self, key: &str, out: &mut String) -> Result<usize, Untranslated> {
        out.clear();
        let found = self.matcher.match_key(key).map_err(Untranslated::NoPattern)?;
        let target = self.targets[found.key]
            .as_ref()
            .map_err(|reason| Untranslated::NoTarget {
                key: found.key,
                reason: reason.clone(),
            })?;
        let mut values = Vec::with_capacity(target.params.len());
        for &param in &target.params {
            let Some((_, value)) = found.values.iter().find(|(p, _)| *p == param) else {
                // Paired up front: every target parameter is a parameter of the source key.
                return Err(self.no_target(found.key, "a parameter is missing from the key"));
            };
            values.push(self.value(param, value));
        }
        let def = &self.to.keys[target.key];
        self.to
            .write_key(def, &values, out)
            .map_err(|error| self.no_target(found.key, &error.to_string()))?;
        Ok(found.key)
    }

    fn no_target(&self, key: usize, reason: &str) -> Untranslated {
        Untranslated::NoTarget {
            key,
            reason: reason.to_string(),
        }
    }

    /// A value of the source parameter `param` as the target schema numbers things: enum
    /// variants by name, layout parts by parameter name.
    fn value<'v>(&self, param: usize, value: &ParamValue<'v>) -> ParamValue<'v> {
        match value {
            ParamValue::Enum(variant) => {
                let name = variant_name(&self.from, param, *variant);
                let to = self
                    .to
                    .params
                    .iter()
                    .position(|p| p.name == self.from.params[param].name);
                let mapped = to.and_then(|to| variant_index(&self.to, to, name?));
                ParamValue::Enum(mapped.unwrap_or(*variant))
            }
            ParamValue::Layout { layout, parts } => ParamValue::Layout {
                layout: *layout,
                parts: parts
                    .iter()
                    .map(|(part, value)| {
                        let name = &self.from.params[*part].name;
                        let to = self.to.params.iter().position(|p| &p.name == name).unwrap_or(*part);
                        (to, self.value(*part, value))
                    })
                    .collect(),
            },
            other => other.clone(),
        }
    }
}

fn variant_name(schema: &KeySchema, param: usize, variant: usize) -> Option<&str> {
    match &schema.params[param].ty {
        crate::ParamType::Enum { variants, .. } => variants.get(variant).map(String::as_str),
        _ => None,
    }
}

fn variant_index(schema: &KeySchema, param: usize, name: &str) -> Option<usize> {
    match &schema.params[param].ty {
        crate::ParamType::Enum { variants, .. } => variants.iter().position(|v| v == name),
        _ => None,
    }
}

/// The key definition named `name` in `to`, with its parameters paired to those of `from`.
fn pair(from: &KeySchema, to: &KeySchema, name: &str) -> Result<Target, String> {
    let source = from.keys.iter().find(|k| k.name == name).ok_or("no key of that name")?;
    let key = to
        .keys
        .iter()
        .position(|k| k.name == name)
        .ok_or_else(|| format!("the target schema has no key named `{name}`"))?;
    let mut params = Vec::new();
    for param in to.keys[key].pattern.params() {
        let wanted = &to.params[param].name;
        let source_param = source
            .pattern
            .params()
            .find(|p| &from.params[*p].name == wanted)
            .ok_or_else(|| format!("`{wanted}` is not a parameter of `{name}` in the source schema"))?;
        if !same_param(from, source_param, to, param) {
            return Err(format!("`{wanted}` has another type in the target schema"));
        }
        params.push(source_param);
    }
    Ok(Target { key, params })
}

/// Whether two parameters take the same values: same type, same exclusions, same layouts
/// (parameters in layouts compared by name and, recursively, by type).
fn same_param(from: &KeySchema, a: usize, to: &KeySchema, b: usize) -> bool {
    let (pa, pb) = (&from.params[a], &to.params[b]);
    pa.ty == pb.ty
        && pa.except == pb.except
        && pa.layouts.len() == pb.layouts.len()
        && pa.layouts.iter().zip(&pb.layouts).all(|(la, lb)| {
            la.len() == lb.len()
                && la.iter().zip(lb).all(|(x, y)| match (x, y) {
                    (LayoutPart::Literal(x), LayoutPart::Literal(y)) => x == y,
                    (LayoutPart::Param(x), LayoutPart::Param(y)) => {
                        from.params[*x].name == to.params[*y].name && *x != a && same_param(from, *x, to, *y)
                    }
                    _ => false,
                })
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Schema;

    #[test]
    fn the_cordum_keys_move_to_the_cluster_layout_with_their_values() {
        let from = Schema::parse(crate::examples::CORDUM, "cordum.keys").unwrap();
        let to = Schema::parse(crate::examples::CORDUM_CLUSTER, "cordum-cluster.keys").unwrap();
        let translation = Translation::new(from.model_arc(), to.model_arc());
        let mut out = String::new();
        let cases = [
            (
                "job:state:0f8fad5b-d9cb-469f-a165-70867728950e",
                "job:state:{0f8fad5b-d9cb-469f-a165-70867728950e}",
            ),
            ("job:index:running", "job:index:running"),
        ];
        for (old, new) in cases {
            translation.translate(old, &mut out).unwrap();
            assert_eq!(out, new);
        }
        assert!(matches!(
            translation.translate("legacy:x", &mut out),
            Err(Untranslated::NoPattern(_))
        ));
    }

    #[test]
    fn a_parameter_of_another_type_is_said_up_front() {
        let from = Schema::parse("param id int\njob:<id> string \"A job\"\n", "a.keys").unwrap();
        let to = Schema::parse("param id uuid\njob:{<id>} string \"A job\"\n", "b.keys").unwrap();
        let translation = Translation::new(from.model_arc(), to.model_arc());
        assert_eq!(
            translation.target_of(0),
            Err("`id` has another type in the target schema")
        );
        let mut out = String::new();
        assert!(matches!(
            translation.translate("job:1", &mut out),
            Err(Untranslated::NoTarget { key: 0, .. })
        ));
    }
}
