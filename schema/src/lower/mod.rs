//! Lowering: the syntax tree to the [`KeySchema`] model, resolving names and applying group
//! defaults. Every problem becomes a diagnostic; lowering goes on past errors so that one run
//! reports as much as it can.

mod pattern;
mod primitive;

pub(crate) use pattern::derive_name;

use crate::diagnostics::{Code, Diagnostic, Span};
use crate::model::*;
use crate::syntax::ast;
use crate::util::closest;
use std::collections::{HashMap, HashSet};

/// A key's source positions, kept beside the model for the checker.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeySpans {
    pub pattern: Span,
}

pub(crate) struct Lowered {
    pub schema: KeySchema,
    pub key_spans: Vec<KeySpans>,
    pub param_spans: Vec<Span>,
}

/// How many TTL names may refer to one another in a chain (`ttl a = b`, `ttl b = c`...).
const MAX_TTL_CHAIN: u32 = 64;

pub(crate) fn lower(file: &ast::File, diagnostics: &mut Vec<Diagnostic>) -> Lowered {
    let mut lowerer = Lowerer {
        diagnostics,
        ttl_decls: HashMap::new(),
        ttl_cache: HashMap::new(),
        ttl_resolving: Vec::new(),
        failed_keys: HashSet::new(),
        failed_dlq_entries: HashSet::new(),
    };
    lowerer.run(file)
}

struct Lowerer<'a, 'f> {
    diagnostics: &'a mut Vec<Diagnostic>,
    ttl_decls: HashMap<&'f str, &'f ast::TtlDecl>,
    /// Declared TTLs once resolved (`None`: resolving failed and was reported).
    ttl_cache: HashMap<&'f str, Option<TtlPolicy>>,
    /// The TTL names being resolved, outermost first: a name met again is a cycle.
    ttl_resolving: Vec<&'f str>,
    /// Keys whose declaration failed (reported already), by code name, and the dead-letter
    /// queues whose entry declaration failed: references to them are not reported again.
    failed_keys: HashSet<String>,
    failed_dlq_entries: HashSet<String>,
}

/// Group defaults a key inherits.
#[derive(Clone, Copy, Default)]
struct Defaults<'f> {
    group: Option<usize>,
    ttl: Option<&'f ast::TtlExpr>,
    tag: Option<&'f str>,
    owner: Option<&'f str>,
    dlq: Option<&'f str>,
}

const RESERVED_SEPARATORS: &[char] = &['{', '}', '%', '<', '>'];

impl<'f> Lowerer<'_, 'f> {
    fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn run(&mut self, file: &'f ast::File) -> Lowered {
        let separator = self.separator(file);
        let keyspace = file
            .keyspace
            .as_ref()
            .map_or_else(|| "keyspace".to_string(), |k| k.value.clone());

        for decl in &file.ttls {
            if self.ttl_decls.insert(&decl.name.value, decl).is_some() {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateName,
                        decl.name.span,
                        format!("TTL `{}` is declared twice", decl.name.value),
                    )
                    .with_hint("give each TTL its own name"),
                );
            }
        }

        // Every declared TTL is resolved (and its errors reported) once, used or not.
        for decl in &file.ttls {
            self.named_ttl(&decl.name, 0);
        }
        let (params, mut param_spans) = self.params(file, separator);
        let mut schema = KeySchema {
            keyspace,
            separator,
            params,
            keys: Vec::new(),
            groups: Vec::new(),
            services: Vec::new(),
            standalone: self.layout(file),
        };
        let mut key_spans = Vec::new();
        // Key declarations in source order, each with its defaults and its index target.
        let mut decls: Vec<(&'f ast::KeyDecl, Defaults<'f>)> = Vec::new();
        let mut group_names: HashMap<&str, usize> = HashMap::new();
        let mut order: Vec<(Span, Vec<(&'f ast::KeyDecl, Defaults<'f>)>)> = Vec::new();

        order.push((
            Span::default(),
            file.keys.iter().map(|key| (key, Defaults::default())).collect(),
        ));
        for dlq in &file.dlqs {
            let defaults = Defaults {
                dlq: Some(&dlq.name.value),
                ..Defaults::default()
            };
            order.push((dlq.span, dlq.keys.iter().map(|key| (key, defaults)).collect()));
        }
        for (group_index, group) in file.groups.iter().enumerate() {
            if group_names.insert(&group.name.value, group_index).is_some() {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateName,
                        group.name.span,
                        format!("group `{}` is declared twice", group.name.value),
                    )
                    .with_hint("merge the two groups or rename one"),
                );
            }
            if let Some(tag) = &group.tag {
                if schema.param_index(&tag.value).is_none() {
                    self.report(self.unknown_param(&schema, &tag.value, tag.span));
                }
            }
            let defaults = Defaults {
                group: Some(group_index),
                ttl: group.ttl.as_ref(),
                tag: group.tag.as_ref().map(|t| t.value.as_str()),
                owner: group.owner.as_ref().map(|o| o.value.as_str()),
                dlq: None,
            };
            let mut keys: Vec<_> = group.keys.iter().map(|key| (key, defaults)).collect();
            for dlq in &group.dlqs {
                let defaults = Defaults {
                    dlq: Some(&dlq.name.value),
                    ..defaults
                };
                keys.extend(dlq.keys.iter().map(|key| (key, defaults)));
            }
            schema.groups.push(Group {
                name: group.name.value.clone(),
                purpose: group.purpose.as_ref().map(|p| p.value.clone()),
                keys: Vec::new(),
            });
            order.push((group.name.span, keys));
        }
        for (_, keys) in order {
            decls.extend(keys);
        }
        // Keep declaration order as written in the file, whatever the nesting.
        decls.sort_by_key(|(decl, _)| decl.span.start);

        let mut index_targets = Vec::new();
        let mut cleanups = Vec::new();
        for (decl, defaults) in decls {
            if let Some((key, spans)) = self.key(&schema, decl, defaults) {
                if let Some(of) = &decl.of {
                    index_targets.push((schema.keys.len(), of, decl.by.as_ref()));
                }
                if let Some(setting) = decl.settings.iter().find(|s| s.name.value == "cleanup") {
                    if let Some(lock) = &setting.value {
                        cleanups.push((schema.keys.len(), lock));
                    }
                }
                if let Some(group) = key.group {
                    schema.groups[group].keys.push(schema.keys.len());
                }
                schema.keys.push(key);
                key_spans.push(spans);
            } else {
                self.failed(
                    decl.code_name.as_ref().map(|n| n.value.as_str()),
                    &decl.pattern.value,
                    separator,
                );
                if decl.keyword == ast::KeyKeyword::DlqEntry {
                    self.failed_dlq_entries.extend(defaults.dlq.map(str::to_string));
                }
            }
        }
        for failed in &file.failed_keys {
            self.failed(failed.code_name.as_deref(), &failed.pattern, separator);
            if failed.keyword == ast::KeyKeyword::DlqEntry {
                self.failed_dlq_entries.extend(failed.dlq.clone());
            }
        }
        self.check_dlq_indexes(&schema);
        self.resolve_cleanup_locks(&mut schema, &cleanups);
        primitive::add_companions(&mut schema, &mut key_spans, &mut param_spans);
        // Names are looked up in a map: a schema may declare tens of thousands of keys.
        let key_names = first_key_names(&schema);
        for (key_index, of, by) in index_targets {
            match key_names.get(of.value.as_str()).copied() {
                // Its declaration failed, and said so.
                None if self.failed_keys.contains(&of.value) => {}
                Some(target) => {
                    let by = by.filter(|by| self.check_index_by(&schema, key_index, target, by));
                    schema.keys[key_index].primitive = Some(Primitive::Index {
                        of: target,
                        by: by.map(|by| by.value.clone()),
                    });
                }
                None => self.report(
                    Diagnostic::new(Code::UnknownReference, of.span, format!("no key named `{}`", of.value))
                        .with_hint("`of` names the indexed key by its code name (`job_state`)"),
                ),
            }
        }
        self.check_duplicate_key_names(&schema, &key_spans, &key_names);
        self.services(file, &mut schema, &group_names, &key_names);
        if schema.keys.is_empty() && self.diagnostics.iter().all(|d| !d.is_error()) {
            self.report(
                Diagnostic::new(Code::EmptySchema, Span::default(), "the schema declares no key")
                    .with_hint("declare keys such as `job:state:<jobID> string \"Job state\"`"),
            );
        }
        Lowered {
            schema,
            key_spans,
            param_spans,
        }
    }

    /// Whether `index ... of TARGET by FIELD` can be kept in step with its target's writes:
    /// the index is keyed by one enum parameter (a finite set of index keys, so a write can
    /// remove its member from every other one), is a set or a time-scored sorted set, and the
    /// target's value is JSON or a hash record with that field. Reports why not.
    fn check_index_by(&mut self, schema: &KeySchema, index: usize, target: usize, by: &ast::Spanned<String>) -> bool {
        let key = &schema.keys[index];
        let params: Vec<usize> = key.pattern.params().collect();
        let enum_keyed = matches!(params.as_slice(), [p] if matches!(schema.params[*p].ty, ParamType::Enum { .. }));
        let (problem, hint) = if !enum_keyed {
            (
                format!("`by {}` needs an index keyed by one enum parameter", by.value),
                "the index's keys must be few and known (`job:index:<state>`, `state` an enum)".to_string(),
            )
        } else if !matches!(
            key.redis_type,
            RedisType::Set { .. }
                | RedisType::Zset {
                    score: ScoreKind::Time | ScoreKind::TimeMs,
                    ..
                }
        ) {
            (
                format!("`by {}` needs a set or a time-scored sorted set", by.value),
                "a write scores its member with the time it was written: `zset ... score time`".to_string(),
            )
        } else {
            let target_key = &schema.keys[target];
            let has_field = match &target_key.redis_type {
                RedisType::String { codec } => codec.json_type().is_some(),
                RedisType::Hash { fields, entries: None } => fields.iter().any(|f| f.name == by.value),
                _ => false,
            };
            if has_field {
                return true;
            }
            (
                format!("`{}` has no field `{}` to index by", target_key.name, by.value),
                "index by a field of a json(...) string or of a hash record's declared fields".to_string(),
            )
        };
        self.report(Diagnostic::new(Code::InvalidOption, by.span, problem).with_hint(hint));
        false
    }

    /// `layout standalone`: whether the schema is for a standalone server only.
    fn layout(&mut self, file: &ast::File) -> bool {
        let Some(layout) = &file.layout else { return false };
        if layout.value == "standalone" {
            return true;
        }
        self.report(
            Diagnostic::new(
                Code::InvalidOption,
                layout.span,
                format!("unknown layout `{}`", layout.value),
            )
            .with_hint("the one layout to declare is `layout standalone`; without it a schema runs on a cluster too"),
        );
        false
    }

    fn separator(&mut self, file: &ast::File) -> char {
        let Some(separator) = &file.separator else {
            return ':';
        };
        let mut chars = separator.value.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None)
                if c.is_ascii_graphic() && !RESERVED_SEPARATORS.contains(&c) && !c.is_ascii_alphanumeric() =>
            {
                c
            }
            _ => {
                self.report(
                    Diagnostic::new(
                        Code::InvalidOption,
                        separator.span,
                        format!("invalid separator {:?}", separator.value),
                    )
                    .with_hint("the separator is one ASCII punctuation character other than `{ } % < >`, such as `:`"),
                );
                ':'
            }
        }
    }

    fn unknown_param(&self, schema: &KeySchema, name: &str, span: Span) -> Diagnostic {
        let diagnostic = Diagnostic::new(Code::UnknownParam, span, format!("unknown parameter `{name}`"));
        match closest(name, schema.params.iter().map(|p| p.name.as_str())) {
            Some(close) => diagnostic.with_hint(format!(
                "did you mean `{close}`? Otherwise declare it: `param {name} text`"
            )),
            None => diagnostic.with_hint(format!("declare it: `param {name} text`")),
        }
    }

    fn params(&mut self, file: &ast::File, separator: char) -> (Vec<Param>, Vec<Span>) {
        let mut params = Vec::new();
        let mut spans = Vec::new();
        for decl in &file.params {
            if params.iter().any(|p: &Param| p.name == decl.name.value) {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateName,
                        decl.name.span,
                        format!("parameter `{}` is declared twice", decl.name.value),
                    )
                    .with_hint("a parameter is declared once and shared by every key naming it"),
                );
                continue;
            }
            let ty = self.param_type(&decl.ty);
            if let Some(span) = decl.spans {
                if !matches!(ty, ParamType::Text | ParamType::Ident) {
                    self.report(
                        Diagnostic::new(
                            Code::InvalidOption,
                            span,
                            "only text and ident parameters can span segments",
                        )
                        .with_hint("remove `spans`"),
                    );
                }
            }
            let mut except = Vec::new();
            for value in &decl.except {
                let valid = value
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                    && !value.value.contains(separator);
                if valid {
                    except.push(value.value.clone());
                } else {
                    self.report(
                        Diagnostic::new(
                            Code::InvalidOption,
                            value.span,
                            format!("cannot exclude `{}`", value.value),
                        )
                        .with_hint("excluded values are plain words (letters, digits, `_ . -`)"),
                    );
                }
            }
            params.push(Param {
                name: decl.name.value.clone(),
                ty,
                except,
                spans: decl.spans.is_some(),
                layouts: Vec::new(),
            });
            spans.push(decl.name.span);
        }
        // Layouts name other parameters, so they are resolved once all are declared.
        let composite: Vec<&str> = file
            .params
            .iter()
            .filter(|d| !d.alternatives.is_empty())
            .map(|d| d.name.value.as_str())
            .collect();
        let resolved: Vec<(usize, Vec<Vec<LayoutPart>>)> = file
            .params
            .iter()
            .filter_map(|decl| Some((params.iter().position(|p| p.name == decl.name.value)?, decl)))
            .map(|(index, decl)| (index, self.layouts(&params, &composite, decl)))
            .collect();
        for (index, layouts) in resolved {
            params[index].layouts = layouts;
        }
        (params, spans)
    }

    fn layouts(&mut self, params: &[Param], composite: &[&str], decl: &ast::ParamDecl) -> Vec<Vec<LayoutPart>> {
        let mut layouts = Vec::new();
        for alternative in &decl.alternatives {
            let Some((parts, tag)) =
                pattern::split_pattern(&alternative.value, alternative.span.start, self.diagnostics)
            else {
                continue;
            };
            if tag.is_some() {
                self.report(
                    Diagnostic::new(
                        Code::MalformedHashTag,
                        alternative.span,
                        "a parameter layout cannot hold a hash tag",
                    )
                    .with_hint("put the tag in the key pattern"),
                );
                continue;
            }
            let mut layout = Vec::new();
            let mut ok = true;
            for part in parts {
                match part {
                    pattern::RawPart::Literal(text) => layout.push(LayoutPart::Literal(text)),
                    pattern::RawPart::Param { name, span } => match params.iter().position(|p| p.name == name) {
                        Some(index) if params[index].name == decl.name.value => {
                            self.report(Diagnostic::new(
                                Code::InvalidOption,
                                span,
                                "a parameter's layout cannot contain itself",
                            ));
                            ok = false;
                        }
                        Some(index) if composite.contains(&name) || params[index].spans => {
                            self.report(
                                Diagnostic::new(
                                    Code::InvalidOption,
                                    span,
                                    format!("`{name}` cannot be part of a layout"),
                                )
                                .with_hint("layout parts are plain parameters: no layouts of their own, no `spans`"),
                            );
                            ok = false;
                        }
                        Some(index) => layout.push(LayoutPart::Param(index)),
                        None => {
                            let diagnostic =
                                Diagnostic::new(Code::UnknownParam, span, format!("unknown parameter `{name}`"))
                                    .with_hint(format!("declare it: `param {name} ident`"));
                            self.report(diagnostic);
                            ok = false;
                        }
                    },
                }
            }
            if ok {
                layouts.push(layout);
            }
        }
        layouts
    }

    fn param_type(&mut self, ty: &ast::TypeExpr) -> ParamType {
        if ty.name.value == "enum" {
            let mut variants: Vec<String> = Vec::new();
            for variant in &ty.variants {
                if variants.contains(&variant.value) {
                    self.report(Diagnostic::new(
                        Code::DuplicateName,
                        variant.span,
                        format!("variant `{}` is listed twice", variant.value),
                    ));
                } else if !variant
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                {
                    self.report(
                        Diagnostic::new(
                            Code::InvalidOption,
                            variant.span,
                            format!("invalid enum variant `{}`", variant.value),
                        )
                        .with_hint("variants are plain words (letters, digits, `_ . -`)"),
                    );
                } else {
                    variants.push(variant.value.clone());
                }
            }
            let case = match ty.case.as_ref().map(|c| (c.value.as_str(), c.span)) {
                None => EnumCase::AsDeclared,
                Some(("lower", _)) => EnumCase::Lower,
                Some(("upper", _)) => EnumCase::Upper,
                Some((other, span)) => {
                    self.report(
                        Diagnostic::new(Code::InvalidOption, span, format!("unknown case `{other}`"))
                            .with_hint("write `case lower` or `case upper`"),
                    );
                    EnumCase::AsDeclared
                }
            };
            let forms: Vec<String> = variants.iter().map(|v| case.apply(v)).collect();
            if (1..forms.len()).any(|i| forms[..i].contains(&forms[i])) {
                self.report(Diagnostic::new(
                    Code::DuplicateName,
                    ty.name.span,
                    "two enum variants have the same form in keys",
                ));
            }
            return ParamType::Enum { variants, case };
        }
        if let Some(case) = &ty.case {
            self.report(Diagnostic::new(
                Code::InvalidOption,
                case.span,
                "`case` applies to enums only",
            ));
        }
        ParamType::from_simple_name(&ty.name.value).unwrap_or_else(|| {
            let known = ["text", "ident", "int", "uuid", "enum", "unix_seconds", "ip"];
            let diagnostic = Diagnostic::new(
                Code::UnknownParamType,
                ty.name.span,
                format!("unknown parameter type `{}`", ty.name.value),
            );
            let hint = match closest(&ty.name.value, known.into_iter()) {
                Some(close) => format!("did you mean `{close}`? Types: {}", known.join(", ")),
                None => format!("types: {}", known.join(", ")),
            };
            self.report(diagnostic.with_hint(hint));
            ParamType::Text
        })
    }

    fn ttl(&mut self, expr: &'f ast::TtlExpr, depth: u32) -> Option<TtlPolicy> {
        // Bounds the recursion on a hostile chain of names (a cycle is found by name below).
        if depth > MAX_TTL_CHAIN {
            self.report(
                Diagnostic::new(
                    Code::UnknownTtl,
                    expr.span(),
                    format!("TTL definitions are chained more than {MAX_TTL_CHAIN} names deep"),
                )
                .with_hint("give one of the TTLs in the chain its duration directly"),
            );
            return None;
        }
        Some(match expr {
            ast::TtlExpr::None(_) => TtlPolicy::None,
            ast::TtlExpr::Duration(text) => TtlPolicy::Fixed {
                millis: self.nonzero_duration(text)?,
            },
            ast::TtlExpr::PerWrite { max, span } => {
                let bound = self.ttl(max, depth + 1)?;
                if matches!(bound, TtlPolicy::None | TtlPolicy::PerWrite { .. }) {
                    self.report(
                        Diagnostic::new(
                            Code::InvalidOption,
                            *span,
                            "the bound of `per_write` must be a duration",
                        )
                        .with_hint("write `per_write(max = 1h)` or `per_write(max = env(VAR, 1h))`"),
                    );
                    return None;
                }
                TtlPolicy::PerWrite { max: Box::new(bound) }
            }
            ast::TtlExpr::Named(name) => self.named_ttl(name, depth)?,
            ast::TtlExpr::Env { var, default, unit, .. } => {
                let default = self.nonzero_duration(default)?;
                let unit = match unit {
                    None => TimeUnit::Seconds,
                    Some(unit) => match TimeUnit::from_name(&unit.value) {
                        Some(unit) => unit,
                        None => {
                            self.report(
                                Diagnostic::new(
                                    Code::InvalidOption,
                                    unit.span,
                                    format!("unknown unit `{}`", unit.value),
                                )
                                .with_hint("units: ms, seconds, minutes, hours, days"),
                            );
                            return None;
                        }
                    },
                };
                TtlPolicy::Env {
                    var: var.value.clone(),
                    default,
                    unit,
                }
            }
            ast::TtlExpr::Multiple { factor, base } => {
                let Some(value) = factor.value.parse::<u32>().ok().filter(|&f| f > 0) else {
                    self.report(
                        Diagnostic::new(
                            Code::InvalidDuration,
                            factor.span,
                            format!("`{}` is not a positive whole number", factor.value),
                        )
                        .with_hint("write a factor such as `2 * env(POLL_SECONDS, 5s)`"),
                    );
                    return None;
                };
                TtlPolicy::Multiple {
                    factor: value,
                    base: Box::new(self.ttl(base, depth + 1)?),
                }
            }
        })
    }

    fn named_ttl(&mut self, name: &'f ast::Spanned<String>, depth: u32) -> Option<TtlPolicy> {
        if let Some(cached) = self.ttl_cache.get(name.value.as_str()) {
            return cached.clone();
        }
        let Some(decl) = self.ttl_decls.get(name.value.as_str()).copied() else {
            let diagnostic = Diagnostic::new(Code::UnknownTtl, name.span, format!("unknown TTL `{}`", name.value));
            let hint = match closest(&name.value, self.ttl_decls.keys().copied()) {
                Some(close) => format!("did you mean `{close}`? Or declare it: `ttl {} = 7d`", name.value),
                None => format!(
                    "declare it: `ttl {} = 7d`, or write a duration such as `60s`",
                    name.value
                ),
            };
            self.report(diagnostic.with_hint(hint));
            return None;
        };
        if let Some(start) = self.ttl_resolving.iter().position(|n| *n == decl.name.value) {
            let cycle: Vec<&str> = self.ttl_resolving[start..]
                .iter()
                .copied()
                .chain([decl.name.value.as_str()])
                .collect();
            self.report(
                Diagnostic::new(
                    Code::UnknownTtl,
                    name.span,
                    format!("TTL definitions refer to each other in a cycle: {}", cycle.join(" → ")),
                )
                .with_hint("give one of them a duration"),
            );
            return None;
        }
        self.ttl_resolving.push(&decl.name.value);
        let policy = self.ttl(&decl.expr, depth + 1);
        self.ttl_resolving.pop();
        self.ttl_cache.insert(&decl.name.value, policy.clone());
        policy
    }

    fn duration(&mut self, text: &ast::Spanned<String>) -> Option<Millis> {
        let parsed = Millis::parse(&text.value);
        if parsed.is_none() {
            let hint = if text.value.bytes().all(|b| b.is_ascii_digit()) {
                format!("add a unit: `{}s`", text.value)
            } else {
                "durations are a whole number and a unit: `500ms`, `60s`, `15m`, `24h`, `7d`".to_string()
            };
            self.report(
                Diagnostic::new(
                    Code::InvalidDuration,
                    text.span,
                    format!("invalid duration `{}`", text.value),
                )
                .with_hint(hint),
            );
        }
        parsed
    }

    /// A TTL's duration: zero is refused, since `PEXPIRE key 0` deletes the key it should keep.
    fn nonzero_duration(&mut self, text: &ast::Spanned<String>) -> Option<Millis> {
        let millis = self.duration(text)?;
        if millis.0 == 0 {
            self.report(
                Diagnostic::new(
                    Code::InvalidDuration,
                    text.span,
                    format!("a TTL of `{}` deletes every key it is applied to", text.value),
                )
                .with_hint("write `none` for keys that never expire, or a positive duration such as `60s`"),
            );
            return None;
        }
        Some(millis)
    }

    fn codec(&mut self, schema: &KeySchema, expr: &ast::CodecExpr, allow_param: bool) -> Option<Codec> {
        let name = expr.name.value.as_str();
        if let Some(inner) = &expr.inner {
            // Only `lz4` wraps; a compressed parameter member would not be its text form.
            let inner = self.codec(schema, inner, false)?;
            return Some(Codec::Lz4(Box::new(inner)));
        }
        let needs_arg = matches!(name, "json" | "proto" | "codec");
        match (&expr.arg, needs_arg) {
            (None, true) => {
                self.report(
                    Diagnostic::new(Code::Missing, expr.name.span, format!("`{name}` needs a type"))
                        .with_hint(format!("write `{name}(TypeName)`")),
                );
                return None;
            }
            (Some(arg), false) => {
                self.report(Diagnostic::new(
                    Code::InvalidOption,
                    arg.span,
                    format!("`{name}` takes no type"),
                ));
                return None;
            }
            _ => {}
        }
        let arg = || expr.arg.as_ref().map(|a| a.value.clone()).unwrap_or_default();
        Some(match name {
            "json" => Codec::Json(arg()),
            "proto" => Codec::Proto(arg()),
            "text" => Codec::Text,
            "bytes" => Codec::Bytes,
            "int" => Codec::Int,
            "float" => Codec::Float,
            "codec" => Codec::Custom(arg()),
            other => match schema.param_index(other) {
                Some(index) if allow_param => Codec::Param(index),
                _ => {
                    let hint = if allow_param {
                        "members are a codec (json(T), proto(T), text, bytes, int, float, codec(path::Type), lz4(CODEC)) or a declared parameter"
                    } else {
                        "codecs: json(T), proto(T), text, bytes, int, float, codec(path::Type), lz4(CODEC)"
                    };
                    self.report(
                        Diagnostic::new(
                            Code::UnknownReference,
                            expr.name.span,
                            format!("unknown codec `{other}`"),
                        )
                        .with_hint(hint),
                    );
                    return None;
                }
            },
        })
    }

    fn key(
        &mut self,
        schema: &KeySchema,
        decl: &'f ast::KeyDecl,
        defaults: Defaults<'f>,
    ) -> Option<(KeyDef, KeySpans)> {
        let mut template = decl.pattern.value.clone();
        let (raw_parts, mut tag) = pattern::split_pattern(&template, decl.pattern.span.start, self.diagnostics)?;
        let mut parts = Vec::new();
        let mut ok = true;
        let mut seen = Vec::new();
        let mut reported = Vec::new();
        for part in &raw_parts {
            match part {
                pattern::RawPart::Literal(text) => parts.push(PatternPart::Literal(text.clone())),
                pattern::RawPart::Param { name, span } => match schema.param_index(name) {
                    // Each repeated name is reported once, however often it repeats.
                    Some(_) if reported.contains(name) => ok = false,
                    Some(_) if seen.contains(name) => {
                        reported.push(name);
                        self.report(
                            Diagnostic::new(
                                Code::DuplicateName,
                                *span,
                                format!("`<{name}>` appears twice in one pattern"),
                            )
                            .with_hint("a key names each parameter once"),
                        );
                        ok = false;
                    }
                    Some(index) => {
                        seen.push(name);
                        parts.push(PatternPart::Param(index));
                    }
                    None => {
                        self.report(self.unknown_param(schema, name, *span));
                        ok = false;
                    }
                },
            }
        }
        // A group's `tag jobID` wraps the placeholder of keys that name it and have no tag.
        if let (Some(group_tag), None, true) = (defaults.tag, tag, ok) {
            let placeholder = format!("<{group_tag}>");
            if let Some(at) = template.find(&placeholder) {
                template.insert(at + placeholder.len(), '}');
                template.insert(at, '{');
                // The parts are the same with the braces added to the literals around the tag.
                let mut ignored = Vec::new();
                let (tagged, new_tag) = pattern::split_pattern(&template, 0, &mut ignored)?;
                tag = new_tag;
                parts = tagged
                    .into_iter()
                    .filter_map(|part| match part {
                        pattern::RawPart::Literal(text) => Some(PatternPart::Literal(text)),
                        pattern::RawPart::Param { name, .. } => schema.param_index(name).map(PatternPart::Param),
                    })
                    .collect();
            }
        }
        let hash_tag = pattern::hash_tag(&template, tag);

        let redis_type = self.redis_type(schema, decl)?;
        let mut ttl = match decl.ttl.as_ref().or(defaults.ttl) {
            Some(expr) => self.ttl(expr, 0)?,
            None => TtlPolicy::None,
        };
        let primitive = self.primitive(decl, defaults.dlq, &mut ttl)?;
        if decl.keyword == ast::KeyKeyword::Index && decl.of.is_none() {
            self.report(
                Diagnostic::new(Code::Missing, decl.pattern.span, "an index needs `of KEY`")
                    .with_hint("name the key whose parameter the members are: `of job_state`"),
            );
            ok = false;
        }
        if let (Some(by), None) = (&decl.by, &decl.of) {
            self.report(
                Diagnostic::new(
                    Code::InvalidOption,
                    by.span,
                    "`by` belongs to `index ... of KEY` declarations",
                )
                .with_hint("write `index job:index:<state> set member jobID of job_state by state`"),
            );
            ok = false;
        }
        if decl.of.is_some() && decl.keyword != ast::KeyKeyword::Index {
            if let Some(of) = &decl.of {
                self.report(
                    Diagnostic::new(Code::InvalidOption, of.span, "`of` belongs to `index` declarations")
                        .with_hint("start the line with `index`"),
                );
            }
            ok = false;
        }
        if matches!(
            primitive,
            Some(Primitive::Lock { .. } | Primitive::RateLimit(_) | Primitive::Breaker(_))
        ) && ttl.is_none()
        {
            self.report(
                Diagnostic::new(
                    Code::Missing,
                    decl.pattern.span,
                    format!("a {} needs a TTL", primitive.as_ref().map_or("", Primitive::name)),
                )
                .with_hint("without one a crashed holder keeps it forever: add `ttl 30s`"),
            );
            ok = false;
        }
        if let Some(span) = decl.keep_ttl {
            if ttl.is_none() {
                self.report(
                    Diagnostic::new(Code::InvalidOption, span, "`keepttl` on a key without TTL")
                        .with_hint("remove `keepttl` or add a TTL"),
                );
            }
        }
        if decl.purpose.is_none() {
            self.report(
                Diagnostic::new(Code::MissingPurpose, decl.pattern.span, "key has no purpose string")
                    .with_hint("say what the key is for: `\"Job state\"`"),
            );
        }
        let name = match &decl.code_name {
            Some(name) => {
                let valid = name.value.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                    && name
                        .value
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !valid {
                    self.report(
                        Diagnostic::new(
                            Code::InvalidOption,
                            name.span,
                            format!("invalid code name `{}`", name.value),
                        )
                        .with_hint("code names are snake_case: lowercase letters, digits and `_`"),
                    );
                }
                name.value.clone()
            }
            None => derive_name(&template, schema.separator),
        };
        let max_value = self.max_value(decl);
        if !ok || max_value.is_err() {
            return None;
        }
        let key = KeyDef {
            name,
            pattern: KeyPattern {
                template,
                parts,
                hash_tag,
            },
            redis_type,
            ttl,
            ttl_on_write: if decl.keep_ttl.is_some() {
                TtlOnWrite::Keep
            } else {
                TtlOnWrite::Refresh
            },
            purpose: decl.purpose.as_ref().map(|p| p.value.clone()).unwrap_or_default(),
            group: defaults.group,
            primitive,
            owner: decl
                .owner
                .as_ref()
                .map(|o| o.value.clone())
                .or(defaults.owner.map(str::to_string)),
            max_value: max_value.ok().flatten(),
            span: decl.span,
        };
        Some((
            key,
            KeySpans {
                pattern: decl.pattern.span,
            },
        ))
    }

    /// The `max` of a key in bytes (`Ok(None)` when it declares none); an invalid size is
    /// reported and `Err`.
    fn max_value(&mut self, decl: &ast::KeyDecl) -> Result<Option<u64>, ()> {
        let Some(max) = &decl.max else { return Ok(None) };
        match parse_size(&max.value) {
            Some(bytes) if bytes > 0 && bytes <= MAX_VALUE_LIMIT => Ok(Some(bytes)),
            parsed => {
                let hint = match parsed {
                    Some(bytes) if bytes > MAX_VALUE_LIMIT => {
                        "a server takes at most 512mb in one value (`proto-max-bulk-len`)"
                    }
                    _ => "a size is a positive whole number with a unit: `max 64kb`, `max 1mb` (b, kb, mb, gb)",
                };
                self.report(
                    Diagnostic::new(Code::InvalidOption, max.span, format!("invalid size `{}`", max.value))
                        .with_hint(hint),
                );
                Err(())
            }
        }
    }

    fn redis_type(&mut self, schema: &KeySchema, decl: &ast::KeyDecl) -> Option<RedisType> {
        use ast::KeyKeyword as K;
        let implied = match decl.keyword {
            K::Lock | K::Idempotency | K::DlqEntry => Some("string"),
            K::RateLimit | K::Breaker | K::Cache | K::State => Some("string"),
            K::Timers | K::DlqIndex => Some("zset"),
            K::Key | K::Index => None,
        };
        let type_name = match (&decl.redis_type, implied) {
            (Some(t), _) => t.value.as_str(),
            (None, Some(implied)) => implied,
            (None, None) => {
                self.report(
                    Diagnostic::new(Code::Missing, decl.pattern.span, "key has no Redis type")
                        .with_hint("add one of: string, hash, list, set, zset, stream"),
                );
                return None;
            }
        };
        let type_span = decl.redis_type.as_ref().map_or(decl.pattern.span, |t| t.span);
        let counter = matches!(decl.keyword, K::RateLimit | K::Breaker);
        let codec = match &decl.codec {
            Some(expr) => self.codec(schema, expr, false)?,
            None if counter => Codec::Int,
            None => Codec::Text,
        };
        let cap = match &decl.cap {
            Some(cap) => match cap.value.parse::<u64>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    self.report(
                        Diagnostic::new(Code::InvalidOption, cap.span, format!("invalid cap `{}`", cap.value))
                            .with_hint("a cap is a positive whole number"),
                    );
                    return None;
                }
            },
            None => None,
        };
        let member = match &decl.member {
            Some(expr) => Some(self.codec(schema, expr, true)?),
            None => None,
        };
        let score = match &decl.score {
            Some(score) => match ScoreKind::from_name(&score.value) {
                Some(kind) => Some(kind),
                None => {
                    self.report(
                        Diagnostic::new(
                            Code::InvalidOption,
                            score.span,
                            format!("unknown score `{}`", score.value),
                        )
                        .with_hint("scores: time, time_ms, int, float"),
                    );
                    return None;
                }
            },
            None => None,
        };
        let mut misplaced = |what: &str, span: Option<Span>, allowed: &[&str]| {
            if let Some(span) = span {
                if !allowed.contains(&type_name) {
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::InvalidOption,
                            span,
                            format!("`{what}` does not apply to a {type_name}"),
                        )
                        .with_hint(format!("`{what}` applies to: {}", allowed.join(", "))),
                    );
                    return true;
                }
            }
            false
        };
        let bad = misplaced("cap", decl.cap.as_ref().map(|c| c.span), &["list", "zset", "stream"])
            | misplaced(
                "member",
                decl.member.as_ref().map(|m| m.name.span),
                &["set", "zset", "hash"],
            )
            | misplaced("score", decl.score.as_ref().map(|s| s.span), &["zset"])
            | misplaced("fields", decl.fields.first().map(|f| f.name.span), &["hash"])
            | misplaced(
                "codec",
                decl.codec
                    .as_ref()
                    // A set's or sorted set's codec is its members' (`set text`), unless `member` says.
                    .filter(|_| {
                        (matches!(type_name, "set" | "zset") && decl.member.is_some())
                            || (type_name == "hash" && decl.member.is_none())
                    })
                    .map(|c| c.name.span),
                &[
                    "string",
                    "list",
                    "stream",
                    "set or zset without `member`",
                    "hash with `member`",
                ],
            );
        if type_name == "hash" && decl.member.is_some() && !decl.fields.is_empty() {
            self.report(
                Diagnostic::new(
                    Code::InvalidOption,
                    decl.pattern.span,
                    "a hash has either declared `fields(...)` or `member` entries, not both",
                )
                .with_hint("`fields(a, b)` describes a record; `member PARAM CODEC` a map"),
            );
            return None;
        }
        if bad {
            return None;
        }
        Some(match type_name {
            "string" => RedisType::String { codec },
            "list" => RedisType::List { codec, cap },
            "stream" => RedisType::Stream { codec, cap },
            "set" => RedisType::Set {
                member: member.unwrap_or(codec),
            },
            "zset" => RedisType::Zset {
                member: member.unwrap_or(codec),
                score: score.unwrap_or(if decl.keyword == K::Timers || decl.keyword == K::DlqIndex {
                    ScoreKind::Time
                } else {
                    ScoreKind::Float
                }),
                cap,
            },
            "hash" => {
                let mut fields: Vec<HashField> = Vec::new();
                for field in &decl.fields {
                    if fields.iter().any(|f| f.name == field.name.value) {
                        self.report(Diagnostic::new(
                            Code::DuplicateName,
                            field.name.span,
                            format!("field `{}` is declared twice", field.name.value),
                        ));
                        continue;
                    }
                    let codec = match &field.codec {
                        Some(expr) => self.codec(schema, expr, false)?,
                        None => Codec::Text,
                    };
                    fields.push(HashField {
                        name: field.name.value.clone(),
                        codec,
                    });
                }
                let entries = member.map(|field| HashEntries { field, value: codec });
                RedisType::Hash { fields, entries }
            }
            _ => {
                self.report(Diagnostic::new(
                    Code::InvalidOption,
                    type_span,
                    format!("unknown Redis type `{type_name}`"),
                ));
                return None;
            }
        })
    }

    /// Every dead-letter index needs its queue's entry key (the key its members name).
    /// Notes a key declaration that failed (and was reported), by its code name.
    fn failed(&mut self, code_name: Option<&str>, pattern: &str, separator: char) {
        let name = code_name.map_or_else(|| pattern::derive_name(pattern, separator), str::to_string);
        self.failed_keys.insert(name);
    }

    fn check_dlq_indexes(&mut self, schema: &KeySchema) {
        for key in &schema.keys {
            if let Some(Primitive::DlqIndex { queue, .. }) = &key.primitive {
                if schema.dlq_entry(queue).is_none() && !self.failed_dlq_entries.contains(queue) {
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::Missing,
                            key.span,
                            format!("dead-letter queue `{queue}` has an index but no entry key"),
                        )
                        .with_hint("add an `entry PATTERN ...` line to the queue"),
                    );
                }
            }
        }
    }

    fn check_duplicate_key_names(&mut self, schema: &KeySchema, spans: &[KeySpans], first: &HashMap<String, usize>) {
        for (i, key) in schema.keys.iter().enumerate() {
            if let Some(&first) = first.get(key.name.as_str()).filter(|&&first| first != i) {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateName,
                        spans[i].pattern,
                        format!("two keys are named `{}`", key.name),
                    )
                    .with_hint("names come from the literal segments; give one key its own with `as other_name`")
                    .with_label(spans[first].pattern, "the other key"),
                );
            }
        }
    }

    fn services(
        &mut self,
        file: &ast::File,
        schema: &mut KeySchema,
        groups: &HashMap<&str, usize>,
        key_names: &HashMap<String, usize>,
    ) {
        let mut declared: HashSet<&str> = HashSet::new();
        for decl in &file.services {
            if !declared.insert(&decl.name.value) {
                self.report(Diagnostic::new(
                    Code::DuplicateName,
                    decl.name.span,
                    format!("service `{}` is declared twice", decl.name.value),
                ));
                continue;
            }
            let mut resolve = |names: &[ast::Spanned<String>], out: &mut Vec<usize>| {
                let mut listed: HashSet<usize> = out.iter().copied().collect();
                for name in names {
                    let keys: Vec<usize> = match groups.get(name.value.as_str()) {
                        Some(&group) => schema.groups[group].keys.clone(),
                        None => match key_names.get(name.value.as_str()) {
                            Some(&key) => vec![key],
                            None => {
                                self.diagnostics.push(
                                    Diagnostic::new(
                                        Code::UnknownReference,
                                        name.span,
                                        format!("no group or key named `{}`", name.value),
                                    )
                                    .with_hint("services list group names or key code names"),
                                );
                                continue;
                            }
                        },
                    };
                    for key in keys {
                        if listed.insert(key) {
                            out.push(key);
                        }
                    }
                }
            };
            let (mut reads, mut writes) = (Vec::new(), Vec::new());
            resolve(&decl.uses, &mut reads);
            writes.clone_from(&reads);
            resolve(&decl.reads, &mut reads);
            resolve(&decl.writes, &mut writes);
            schema.services.push(Service {
                name: decl.name.value.clone(),
                purpose: decl.purpose.as_ref().map(|p| p.value.clone()),
                reads,
                writes,
            });
        }
    }
}

/// Each key name with the index of the first key that has it.
fn first_key_names(schema: &KeySchema) -> HashMap<String, usize> {
    let mut names = HashMap::with_capacity(schema.keys.len());
    for (index, key) in schema.keys.iter().enumerate() {
        names.entry(key.name.clone()).or_insert(index);
    }
    names
}

/// The largest `max` a key may declare: the server's default `proto-max-bulk-len`.
const MAX_VALUE_LIMIT: u64 = 512 * 1024 * 1024;

/// A size as written in a schema (`512`, `64kb`, `1mb`, `2gb`; units are powers of 1024, as in
/// redis.conf), in bytes; `None` when it is not one or overflows.
fn parse_size(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let digits = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits);
    let factor: u64 = match unit {
        "" | "b" => 1,
        "kb" => 1 << 10,
        "mb" => 1 << 20,
        "gb" => 1 << 30,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(factor)
}

#[cfg(test)]
mod size_tests {
    use super::parse_size;

    #[test]
    fn sizes_read_as_redis_conf_writes_them() {
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("64kb"), Some(65_536));
        assert_eq!(parse_size("1MB"), Some(1 << 20));
        assert_eq!(parse_size("2gb"), Some(2 << 30));
        assert_eq!(parse_size("1m"), None);
        assert_eq!(parse_size("mb"), None);
        assert_eq!(parse_size("99999999999999999999gb"), None);
        assert_eq!(parse_size("18446744073709551615gb"), None);
    }
}
