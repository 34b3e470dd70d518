//! The Redis glob (`SCAN ... MATCH`, `KEYS`) of a key pattern, with some parameters fixed.
//!
//! A glob narrows a scan; it is not a matcher. `*` in a Redis glob also crosses separators, so
//! `job:state:*` would also match a key `job:state:x:y` of a longer pattern. Whoever deletes by
//! glob must confirm each key with the matcher ([`crate::Schema::lint`], or the store's
//! invalidation, which does): [`Glob::exact`] says whether that can matter.

use crate::codec::{FormatError, ParamValue};
use crate::matcher::KeyMatch;
use crate::model::{KeyDef, KeySchema, PatternPart};

/// The glob of a pattern with some parameters fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    /// The glob, Redis syntax: literal text and fixed values escaped (`\*`, `\?`, `\[`, `\]`,
    /// `\\`), `*` for each free parameter.
    pub glob: String,
    /// Whether every key the glob matches is a key of the pattern with those values: true only
    /// when no parameter is free (the glob is then one key).
    pub exact: bool,
}

/// Writes `text` into a glob so that it matches only itself.
fn push_escaped(glob: &mut String, text: &str) {
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            glob.push('\\');
        }
        glob.push(c);
    }
}

impl KeySchema {
    /// The glob of `key` with the parameters in `fixed` (by index in [`KeySchema::params`])
    /// set to their values, the others free. Values are encoded as in keys, then escaped for
    /// the glob.
    ///
    /// ```
    /// # use keyschema::{Schema, ParamValue};
    /// let schema = Schema::parse("param t text\nparam id int\nreport:<t>:<id> string \"R\"\n", "r.keys").unwrap();
    /// let model = schema.model();
    /// let key = &model.keys[0];
    /// assert_eq!(model.glob(key, &[]).unwrap().glob, "report:*:*");
    /// let acme = [(0, ParamValue::Text("a*b:c".into()))];
    /// assert_eq!(model.glob(key, &acme).unwrap().glob, r"report:a\*b%3Ac:*");
    /// ```
    pub fn glob(&self, key: &KeyDef, fixed: &[(usize, ParamValue<'_>)]) -> Result<Glob, FormatError> {
        if let Some((param, _)) = fixed.iter().find(|(p, _)| !key.pattern.params().any(|q| q == *p)) {
            return Err(FormatError::UnexpectedParam {
                key: key.name.clone(),
                param: self
                    .params
                    .get(*param)
                    .map_or_else(|| param.to_string(), |p| p.name.clone()),
            });
        }
        let mut glob = String::new();
        let mut exact = true;
        let mut value_text = String::new();
        for part in &key.pattern.parts {
            match part {
                PatternPart::Literal(text) => push_escaped(&mut glob, text),
                PatternPart::Param(index) => match fixed.iter().find(|(p, _)| p == index) {
                    Some((_, value)) => {
                        value_text.clear();
                        self.write_param(key, *index, value, &mut value_text)?;
                        push_escaped(&mut glob, &value_text);
                    }
                    None => {
                        exact = false;
                        glob.push('*');
                    }
                },
            }
        }
        Ok(Glob { glob, exact })
    }

    /// The glob of the key named `name` with the parameters named in `values` fixed to the
    /// values given as text (`[("tenant", "acme")]`).
    pub fn glob_from_text(&self, name: &str, values: &[(&str, &str)]) -> Result<Glob, FormatError> {
        Ok(self.select(name, values)?.glob)
    }

    /// The keys of the key named `name` whose parameters named in `values` have the values given
    /// as text: their glob, for `SCAN`, and the parsed values, to check each key found
    /// ([`Selection::contains`]), since a glob's `*` also crosses separators.
    ///
    /// ```
    /// # use keyschema::Schema;
    /// let schema = Schema::parse("param t text\nparam id int\nreport:<t>:<id> string \"R\"\n", "r.keys").unwrap();
    /// let selection = schema.model().select("report", &[("t", "acme")]).unwrap();
    /// assert_eq!(selection.glob.glob, "report:acme:*");
    /// assert!(selection.contains(&schema.matcher().match_key("report:acme:7").unwrap()));
    /// assert!(!selection.contains(&schema.matcher().match_key("report:acme%3A7:7").unwrap()));
    /// ```
    pub fn select<'v>(&self, name: &str, values: &[(&str, &'v str)]) -> Result<Selection<'v>, FormatError> {
        let key = self.key_named(name)?;
        // Names are unique in a checked model: the definition `key_named` found is this one.
        let index = self.keys.iter().position(|k| k.name == key.name).unwrap_or_default();
        let mut fixed = Vec::with_capacity(values.len());
        for (param_name, text) in values {
            let index = key
                .pattern
                .params()
                .find(|&p| self.params[p].name == *param_name)
                .ok_or_else(|| FormatError::UnexpectedParam {
                    key: key.name.clone(),
                    param: (*param_name).to_string(),
                })?;
            let value =
                self.parse_text_value(&self.params[index], text)
                    .map_err(|source| FormatError::InvalidValue {
                        key: key.name.clone(),
                        param: (*param_name).to_string(),
                        source,
                    })?;
            fixed.push((index, value));
        }
        let glob = self.glob(key, &fixed)?;
        Ok(Selection {
            key: index,
            glob,
            fixed,
        })
    }
}

/// Keys of one definition with some parameters fixed ([`KeySchema::select`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Selection<'v> {
    /// The key definition, by index in [`KeySchema::keys`].
    pub key: usize,
    /// The glob covering them (and possibly keys of other patterns).
    pub glob: Glob,
    /// The fixed parameters, by index in [`KeySchema::params`], with their values.
    pub fixed: Vec<(usize, ParamValue<'v>)>,
}

impl Selection<'_> {
    /// Whether a matched key is one of the selection: of its definition, with its values.
    pub fn contains(&self, found: &KeyMatch<'_>) -> bool {
        found.key == self.key
            && self
                .fixed
                .iter()
                .all(|(param, value)| found.values.iter().any(|(p, v)| p == param && v == value))
    }
}
