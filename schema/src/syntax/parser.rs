//! The parser: tokens to a [`File`], recovering at the next line after an error so one run
//! reports every syntax error, not just the first.

use super::ast::*;
use super::lexer::{lex, Token, TokenKind};
use crate::diagnostics::{Code, Diagnostic, Span};

/// Parses a schema source into its syntax tree and the syntax errors found.
pub fn parse(source: &str) -> (File, Vec<Diagnostic>) {
    let (tokens, diagnostics) = lex(source);
    let mut parser = Parser {
        tokens,
        pos: 0,
        diagnostics,
        failed_keys: Vec::new(),
        paren_depth: 0,
    };
    let mut file = File::default();
    parser.file(&mut file);
    file.failed_keys = parser.failed_keys;
    (file, parser.diagnostics)
}

/// A syntax error: already reported, the statement is abandoned.
struct Abandon;

type PResult<T> = Result<T, Abandon>;

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    diagnostics: Vec<Diagnostic>,
    /// Key declarations that did not parse ([`File::failed_keys`]).
    failed_keys: Vec<FailedKey>,
    /// Inside parentheses line breaks are not statement ends.
    paren_depth: u32,
}

/// Words that end a key's attribute list or that cannot be key patterns.
const KEY_TYPES: &[&str] = &["string", "hash", "list", "set", "zset", "stream"];
const CODECS: &[&str] = &["json", "proto", "text", "bytes", "int", "float", "lz4", "codec"];
/// Settings of primitives that take a value (`lease` and `refresh_early` are flags).
const SETTINGS: &[&str] = &[
    "limit",
    "rate",
    "per",
    "burst",
    "fallback",
    "threshold",
    "open_for",
    "close_after",
    "visibility",
    "cleanup",
    "stats",
    "single_flight",
    "ttl_factor",
    "max_age",
];
/// Settings of primitives that take no value.
const FLAGS: &str = "lease, refresh_early";
/// Codecs that wrap another codec: `lz4(json(T))`.
const WRAPPERS: &[&str] = &["lz4"];
/// How deeply TTL expressions may nest (factors and `per_write` bounds).
const MAX_TTL_DEPTH: u32 = 16;
/// How deeply wrappers may nest (`lz4(lz4(...))` is pointless; the bound keeps recursion small).
const MAX_WRAPPER_DEPTH: u32 = 4;

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos]
    }

    fn peek_kind(&self) -> TokenKind {
        self.peek().kind
    }

    fn bump(&mut self) -> Token {
        let token = self.tokens[self.pos].clone();
        if token.kind != TokenKind::Eof {
            self.pos += 1;
        }
        if self.paren_depth > 0 {
            self.skip_newlines();
        }
        token
    }

    fn skip_newlines(&mut self) {
        while self.tokens[self.pos].kind == TokenKind::Newline {
            self.pos += 1;
        }
    }

    fn at_word(&self, word: &str) -> bool {
        let token = self.peek();
        token.kind == TokenKind::Word && token.text == word
    }

    fn error(&mut self, span: Span, message: impl Into<String>, hint: impl Into<String>) -> Abandon {
        self.diagnostics
            .push(Diagnostic::new(Code::Syntax, span, message).with_hint(hint));
        Abandon
    }

    fn describe(token: &Token) -> String {
        match token.kind {
            TokenKind::Word => format!("`{}`", token.text),
            TokenKind::Str => "a string".into(),
            TokenKind::Newline => "the end of the line".into(),
            TokenKind::Eof => "the end of the file".into(),
            _ => format!("`{}`", token.text),
        }
    }

    fn expect(&mut self, kind: TokenKind, what: &str, hint: &str) -> PResult<Token> {
        if self.peek_kind() == kind {
            Ok(self.bump())
        } else {
            let token = self.peek().clone();
            Err(self.error(
                token.span,
                format!("expected {what}, found {}", Self::describe(&token)),
                hint,
            ))
        }
    }

    fn word(&mut self, what: &str, hint: &str) -> PResult<Spanned<String>> {
        let token = self.expect(TokenKind::Word, what, hint)?;
        Ok(Spanned {
            value: token.text,
            span: token.span,
        })
    }

    fn open_paren(&mut self, hint: &str) -> PResult<()> {
        self.expect(TokenKind::LParen, "`(`", hint)?;
        self.paren_depth += 1;
        self.skip_newlines();
        Ok(())
    }

    fn close_paren(&mut self, hint: &str) -> PResult<()> {
        self.paren_depth = self.paren_depth.saturating_sub(1);
        self.expect(TokenKind::RParen, "`)`", hint)?;
        Ok(())
    }

    /// A parenthesised, comma-separated list of words.
    fn word_list(&mut self, what: &str, hint: &str) -> PResult<Vec<Spanned<String>>> {
        self.open_paren(hint)?;
        let mut words = Vec::new();
        loop {
            words.push(self.word(what, hint)?);
            if self.peek_kind() == TokenKind::Comma {
                self.bump();
                continue;
            }
            break;
        }
        self.close_paren(hint)?;
        Ok(words)
    }

    /// Ends a statement: a line break, `}` or the end of the file.
    fn end_statement(&mut self) -> PResult<()> {
        match self.peek_kind() {
            TokenKind::Newline => {
                self.bump();
                Ok(())
            }
            TokenKind::RBrace | TokenKind::Eof => Ok(()),
            _ => {
                let token = self.peek().clone();
                Err(self.error(
                    token.span,
                    format!("unexpected {} at the end of the declaration", Self::describe(&token)),
                    "put one declaration per line",
                ))
            }
        }
    }

    /// After an error: skip to the start of the next line (or a closing brace).
    fn recover(&mut self) {
        self.paren_depth = 0;
        loop {
            match self.peek_kind() {
                TokenKind::Newline => {
                    self.bump();
                    return;
                }
                TokenKind::RBrace | TokenKind::Eof => return,
                TokenKind::LBrace => {
                    // Skip a whole block so its contents do not read as top-level statements.
                    self.bump();
                    let mut depth = 1;
                    while depth > 0 && self.peek_kind() != TokenKind::Eof {
                        match self.bump().kind {
                            TokenKind::LBrace => depth += 1,
                            TokenKind::RBrace => depth -= 1,
                            _ => {}
                        }
                    }
                }
                _ => {
                    self.bump();
                }
            }
        }
    }

    fn file(&mut self, file: &mut File) {
        loop {
            self.skip_newlines();
            match self.peek_kind() {
                TokenKind::Eof => return,
                TokenKind::RBrace => {
                    let span = self.bump().span;
                    let _ = self.error(span, "unexpected `}`", "this brace closes no block");
                    continue;
                }
                _ => {}
            }
            if self.top_statement(file).is_err() {
                self.recover();
            }
        }
    }

    fn top_statement(&mut self, file: &mut File) -> PResult<()> {
        let token = self.peek().clone();
        if token.kind != TokenKind::Word {
            return Err(self.error(
                token.span,
                format!("expected a declaration, found {}", Self::describe(&token)),
                "declarations start with `keyspace`, `param`, `ttl`, `group`, `service`, a primitive keyword or a key pattern",
            ));
        }
        match token.text.as_str() {
            "keyspace" => {
                self.bump();
                file.keyspace = Some(self.word("a keyspace name", "write `keyspace NAME`")?);
                if self.at_word("separator") {
                    self.bump();
                    file.separator = Some(self.separator()?);
                }
                self.end_statement()
            }
            "separator" => {
                self.bump();
                file.separator = Some(self.separator()?);
                self.end_statement()
            }
            "layout" => {
                self.bump();
                file.layout = Some(self.word("a layout", "write `layout standalone`")?);
                self.end_statement()
            }
            "param" => {
                let param = self.param()?;
                file.params.push(param);
                self.end_statement()
            }
            "ttl" => {
                let ttl = self.ttl_decl()?;
                file.ttls.push(ttl);
                self.end_statement()
            }
            "group" => {
                let group = self.group()?;
                file.groups.push(group);
                Ok(())
            }
            "service" => {
                let service = self.service()?;
                file.services.push(service);
                Ok(())
            }
            "dlq" => {
                let dlq = self.dlq()?;
                file.dlqs.push(dlq);
                Ok(())
            }
            _ => {
                let key = self.key_decl()?;
                file.keys.push(key);
                self.end_statement()
            }
        }
    }

    fn separator(&mut self) -> PResult<Spanned<String>> {
        let token = self.expect(TokenKind::Str, "a quoted separator", "write `separator \":\"`")?;
        Ok(Spanned {
            value: token.text,
            span: token.span,
        })
    }

    fn param(&mut self) -> PResult<ParamDecl> {
        let start = self.bump().span;
        let name = self.word("a parameter name", "write `param NAME TYPE`, e.g. `param jobID uuid`")?;
        let type_name = self.word(
            "a parameter type",
            "types: text, ident, int, uuid, enum(A, B), unix_seconds, ip",
        )?;
        let mut ty = TypeExpr {
            name: type_name,
            variants: Vec::new(),
            case: None,
        };
        if ty.name.value == "enum" {
            ty.variants = self.word_list("an enum variant", "write `enum(A, B, C)`")?;
        }
        let mut decl = ParamDecl {
            name,
            ty,
            except: Vec::new(),
            spans: None,
            alternatives: Vec::new(),
            span: start,
        };
        loop {
            if self.at_word("except") {
                self.bump();
                decl.except = self.word_list("an excluded value", "write `except(value, ...)`")?;
            } else if self.at_word("case") {
                self.bump();
                decl.ty.case = Some(self.word("`lower` or `upper`", "write `case lower` or `case upper`")?);
            } else if self.at_word("spans") {
                decl.spans = Some(self.bump().span);
            } else if self.peek_kind() == TokenKind::Pipe {
                self.bump();
                decl.alternatives.push(self.word(
                    "an alternative layout",
                    "write `| <part>SEP<part>`, e.g. `| <runID>:<stepID>@<attempt>`",
                )?);
            } else {
                break;
            }
        }
        decl.span = start.to(self.tokens[self.pos.saturating_sub(1)].span);
        Ok(decl)
    }

    fn ttl_decl(&mut self) -> PResult<TtlDecl> {
        self.bump();
        let name = self.word("a TTL name", "write `ttl NAME = EXPR`")?;
        self.expect(TokenKind::Eq, "`=`", "write `ttl NAME = EXPR`")?;
        let expr = self.ttl_expr()?;
        Ok(TtlDecl { name, expr })
    }

    fn ttl_expr(&mut self) -> PResult<TtlExpr> {
        self.ttl_expr_at(0)
    }

    /// A TTL expression nested `depth` deep (`2 * 3 * ...`, `per_write(max = ...)`): bounded, so
    /// a hostile schema cannot exhaust the stack.
    fn ttl_expr_at(&mut self, depth: u32) -> PResult<TtlExpr> {
        const HINT: &str = "a TTL is `none`, a duration (`60s`, `15m`, `24h`, `7d`), a TTL name, \
                            `env(VAR, 7d)`, `2 * EXPR` or `per_write(max = EXPR)`";
        let word = self.word("a TTL", HINT)?;
        if depth >= MAX_TTL_DEPTH {
            return Err(self.error(
                word.span,
                "TTL expression nested too deeply",
                "multiply once (`6 * env(POLL_SECONDS, 5s)`) or name a TTL: `ttl lease = ...`",
            ));
        }
        if word.value == "none" {
            return Ok(TtlExpr::None(word.span));
        }
        if word.value == "per_write" {
            const PER_WRITE: &str = "write `per_write(max = 1h)`: each write chooses its TTL, at most 1h";
            self.open_paren(PER_WRITE)?;
            let max = self.word("`max`", PER_WRITE)?;
            if max.value != "max" {
                return Err(self.error(max.span, format!("unknown per_write option `{}`", max.value), PER_WRITE));
            }
            self.expect(TokenKind::Eq, "`=`", PER_WRITE)?;
            let bound = self.ttl_expr_at(depth + 1)?;
            let end = self.peek().span;
            self.close_paren("close `per_write(` with `)`")?;
            return Ok(TtlExpr::PerWrite {
                max: Box::new(bound),
                span: word.span.to(end),
            });
        }
        if word.value == "env" {
            self.open_paren(HINT)?;
            let var = self.word("an environment variable name", "write `env(VAR, DEFAULT)`")?;
            self.expect(TokenKind::Comma, "`,`", "write `env(VAR, DEFAULT)`")?;
            let default = self.word("a default duration", "write `env(VAR, 7d)`")?;
            let mut unit = None;
            if self.peek_kind() == TokenKind::Comma {
                self.bump();
                let key = self.word("`unit`", "write `unit = seconds|minutes|hours|days|ms`")?;
                if key.value != "unit" {
                    return Err(self.error(
                        key.span,
                        format!("unknown env option `{}`", key.value),
                        "the only option is `unit = ...`",
                    ));
                }
                self.expect(TokenKind::Eq, "`=`", "write `unit = days`")?;
                unit = Some(self.word("a unit", "units: ms, seconds, minutes, hours, days")?);
            }
            let end = self.peek().span;
            self.close_paren("close `env(` with `)`")?;
            return Ok(TtlExpr::Env {
                var,
                default,
                unit,
                span: word.span.to(end),
            });
        }
        if self.peek_kind() == TokenKind::Star {
            self.bump();
            let base = self.ttl_expr_at(depth + 1)?;
            return Ok(TtlExpr::Multiple {
                factor: word,
                base: Box::new(base),
            });
        }
        if word.value.starts_with(|c: char| c.is_ascii_digit()) {
            Ok(TtlExpr::Duration(word))
        } else {
            Ok(TtlExpr::Named(word))
        }
    }

    fn codec(&mut self) -> PResult<CodecExpr> {
        self.codec_at(0)
    }

    fn codec_at(&mut self, depth: u32) -> PResult<CodecExpr> {
        const HINT: &str = "codecs: json(Type), proto(Type), text, bytes, int, float, codec(path::Type), lz4(CODEC)";
        let name = self.word("a codec", HINT)?;
        if WRAPPERS.contains(&name.value.as_str()) {
            if depth >= MAX_WRAPPER_DEPTH {
                return Err(self.error(
                    name.span,
                    "codec wrappers nested too deeply",
                    "write one wrapper: `lz4(json(T))`",
                ));
            }
            let hint = format!("write `{}(json(TypeName))`", name.value);
            self.open_paren(&hint)?;
            let inner = self.codec_at(depth + 1)?;
            self.close_paren("close the wrapper with `)`")?;
            return Ok(CodecExpr {
                name,
                arg: None,
                inner: Some(Box::new(inner)),
            });
        }
        let mut arg = None;
        if self.peek_kind() == TokenKind::LParen {
            self.open_paren("write `json(TypeName)`")?;
            arg = Some(self.word("a type name", "write `json(TypeName)`")?);
            self.close_paren("close the type with `)`")?;
        }
        Ok(CodecExpr { name, arg, inner: None })
    }

    /// The keyword a plain key's "pattern" was probably meant to be (`parm` for `param`, `lok`
    /// for `lock`): a short bare word, close to a keyword.
    fn misspelled_keyword(keyword: KeyKeyword, pattern: &str) -> Option<&'static str> {
        let bare = pattern.len() <= 32 && pattern.bytes().all(|b| b.is_ascii_alphabetic());
        if keyword != KeyKeyword::Key || !bare {
            return None;
        }
        crate::util::closest(
            pattern,
            super::DECLARATION_KEYWORDS.iter().chain(super::KEY_KEYWORDS).copied(),
        )
    }

    fn keyword_of(word: &str) -> Option<KeyKeyword> {
        Some(match word {
            "key" => KeyKeyword::Key,
            "lock" => KeyKeyword::Lock,
            "ratelimit" => KeyKeyword::RateLimit,
            "breaker" => KeyKeyword::Breaker,
            "idempotency" => KeyKeyword::Idempotency,
            "timers" => KeyKeyword::Timers,
            "cache" => KeyKeyword::Cache,
            "state" => KeyKeyword::State,
            "index" => KeyKeyword::Index,
            _ => return None,
        })
    }

    fn key_decl(&mut self) -> PResult<KeyDecl> {
        let first = self.peek().clone();
        let keyword = match Self::keyword_of(&first.text) {
            Some(keyword) => {
                self.bump();
                keyword
            }
            None => KeyKeyword::Key,
        };
        self.key_body(keyword, first.span)
    }

    fn key_body(&mut self, keyword: KeyKeyword, start: Span) -> PResult<KeyDecl> {
        let pattern = self.word("a key pattern", "write a pattern such as `job:state:<jobID>`")?;
        let mut key = KeyDecl {
            keyword,
            pattern,
            redis_type: None,
            codec: None,
            ttl: None,
            keep_ttl: None,
            code_name: None,
            cap: None,
            max: None,
            member: None,
            score: None,
            fields: Vec::new(),
            of: None,
            by: None,
            owner: None,
            settings: Vec::new(),
            purpose: None,
            span: start,
        };
        if let Err(error) = self.key_attributes(&mut key) {
            // Later references to this key (`of`, a queue's entry) would only repeat the error.
            self.failed_keys.push(FailedKey {
                keyword: key.keyword,
                pattern: key.pattern.value.clone(),
                code_name: key.code_name.as_ref().map(|name| name.value.clone()),
                dlq: None,
            });
            return Err(error);
        }
        key.span = start.to(self.tokens[self.pos.saturating_sub(1)].span);
        Ok(key)
    }

    /// The attributes of a key declaration, up to the end of its line.
    fn key_attributes(&mut self, key: &mut KeyDecl) -> PResult<()> {
        loop {
            let token = self.peek().clone();
            match token.kind {
                TokenKind::Str => {
                    self.bump();
                    key.purpose = Some(Spanned {
                        value: token.text,
                        span: token.span,
                    });
                    continue;
                }
                TokenKind::Word => {}
                _ => break,
            }
            let word = token.text.as_str();
            if KEY_TYPES.contains(&word) {
                self.bump();
                key.redis_type = Some(Spanned {
                    value: token.text.clone(),
                    span: token.span,
                });
            } else if CODECS.contains(&word) {
                key.codec = Some(self.codec()?);
            } else {
                self.bump();
                match word {
                    "ttl" => key.ttl = Some(self.ttl_expr()?),
                    "keepttl" => key.keep_ttl = Some(token.span),
                    "as" => key.code_name = Some(self.word("a code name", "write `as snake_case_name`")?),
                    "cap" => key.cap = Some(self.word("a number", "write `cap 1000`")?),
                    "max" => key.max = Some(self.word("a size", "write `max 1mb` (b, kb, mb or gb)")?),
                    "member" => key.member = Some(self.codec()?),
                    "score" => key.score = Some(self.word("a score meaning", "scores: time, time_ms, int, float")?),
                    "of" => key.of = Some(self.word("a key name", "write `of job_state`")?),
                    "by" => {
                        key.by = Some(self.word(
                            "a field name",
                            "write `by state`: the field of the indexed key's value that holds this index's parameter",
                        )?)
                    }
                    "owner" => key.owner = Some(self.word("an owner", "write `owner NAME`")?),
                    "fields" => key.fields = self.fields()?,
                    "lease" | "refresh_early" => key.settings.push(Setting {
                        name: Spanned {
                            value: token.text.clone(),
                            span: token.span,
                        },
                        value: None,
                    }),
                    _ if SETTINGS.contains(&word) => {
                        let value = self.word(
                            "a value",
                            "write the setting and its value: `limit 100`, `open_for 30s`",
                        )?;
                        key.settings.push(Setting {
                            name: Spanned {
                                value: token.text.clone(),
                                span: token.span,
                            },
                            value: Some(value),
                        });
                    }
                    _ => {
                        if let Some(keyword) = Self::misspelled_keyword(key.keyword, &key.pattern.value) {
                            // `parm userID uuid`: the first word is the mistake, not the second.
                            return Err(self.error(
                                key.pattern.span,
                                format!("unknown keyword `{}`", key.pattern.value),
                                format!("did you mean `{keyword}`?"),
                            ));
                        }
                        return Err(self.error(
                            token.span,
                            format!("unknown key attribute `{word}`"),
                            format!(
                                "attributes: a Redis type (string, hash, list, set, zset, stream), a codec, \
                                 ttl, keepttl, as, cap, max, member, score, fields, of, owner, \"purpose\"; \
                                 for primitives: {FLAGS}, {}",
                                SETTINGS.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn fields(&mut self) -> PResult<Vec<FieldDecl>> {
        const HINT: &str = "write `fields(name, other: json(Type))`";
        self.open_paren(HINT)?;
        let mut fields = Vec::new();
        loop {
            let name = self.word("a field name", HINT)?;
            let mut codec = None;
            if self.peek_kind() == TokenKind::Colon {
                self.bump();
                codec = Some(self.codec()?);
            }
            fields.push(FieldDecl { name, codec });
            if self.peek_kind() == TokenKind::Comma {
                self.bump();
                continue;
            }
            break;
        }
        self.close_paren(HINT)?;
        Ok(fields)
    }

    /// Expects `{` and the end of its line; returns where the brace is.
    fn open_block(&mut self, hint: &str) -> PResult<Span> {
        let brace = self.expect(TokenKind::LBrace, "`{`", hint)?.span;
        self.end_statement()?;
        Ok(brace)
    }

    /// Runs `line` for each line of a block up to its `}`, recovering per line.
    fn block(&mut self, open: Span, mut line: impl FnMut(&mut Self) -> PResult<()>) -> PResult<()> {
        loop {
            self.skip_newlines();
            match self.peek_kind() {
                TokenKind::RBrace => {
                    self.bump();
                    return self.end_statement();
                }
                TokenKind::Eof => {
                    return Err(self.error(
                        open,
                        "this block is never closed",
                        "close the block with `}` on its own line",
                    ));
                }
                _ => {
                    if line(self).is_err() {
                        self.recover();
                    }
                }
            }
        }
    }

    fn group(&mut self) -> PResult<GroupDecl> {
        self.bump();
        let name = self.word("a group name", "write `group NAME [ttl EXPR] [tag <param>] {`")?;
        let mut group = GroupDecl {
            name,
            ttl: None,
            tag: None,
            owner: None,
            purpose: None,
            keys: Vec::new(),
            dlqs: Vec::new(),
        };
        loop {
            let token = self.peek().clone();
            match (token.kind, token.text.as_str()) {
                (TokenKind::Word, "ttl") => {
                    self.bump();
                    group.ttl = Some(self.ttl_expr()?);
                }
                (TokenKind::Word, "tag") => {
                    self.bump();
                    group.tag = Some(self.word("a parameter name", "write `tag jobID`")?);
                }
                (TokenKind::Word, "owner") => {
                    self.bump();
                    group.owner = Some(self.word("an owner", "write `owner NAME`")?);
                }
                (TokenKind::Str, _) => {
                    self.bump();
                    group.purpose = Some(Spanned {
                        value: token.text,
                        span: token.span,
                    });
                }
                _ => break,
            }
        }
        let open = self.open_block("a group's keys go between `{` and `}`")?;
        let mut keys = Vec::new();
        let mut dlqs = Vec::new();
        self.block(open, |p| {
            if p.at_word("dlq") {
                dlqs.push(p.dlq()?);
                Ok(())
            } else if ["param", "ttl", "group", "service", "keyspace"]
                .iter()
                .any(|w| p.at_word(w))
            {
                let token = p.peek().clone();
                Err(p.error(
                    token.span,
                    format!("`{}` is not allowed inside a group", token.text),
                    "declare it at the top level",
                ))
            } else {
                keys.push(p.key_decl()?);
                p.end_statement()
            }
        })?;
        group.keys = keys;
        group.dlqs = dlqs;
        Ok(group)
    }

    fn dlq(&mut self) -> PResult<DlqDecl> {
        let start = self.bump().span;
        let name = self.word("a queue name", "write `dlq NAME {`")?;
        let span = start.to(name.span);
        let open = self.open_block("a dead-letter queue declares its `entry` and `index` keys between `{` and `}`")?;
        let mut keys = Vec::new();
        self.block(open, |p| {
            let token = p.peek().clone();
            let keyword = match token.text.as_str() {
                "entry" => KeyKeyword::DlqEntry,
                "index" => KeyKeyword::DlqIndex,
                _ => {
                    return Err(p.error(
                        token.span,
                        format!("expected `entry` or `index`, found {}", Self::describe(&token)),
                        "a dead-letter queue has an `entry PATTERN ...` and an `index PATTERN ...` line",
                    ))
                }
            };
            p.bump();
            let failed_before = p.failed_keys.len();
            match p.key_body(keyword, token.span) {
                Ok(key) => keys.push(key),
                Err(error) => {
                    if p.failed_keys.len() > failed_before {
                        if let Some(failed) = p.failed_keys.last_mut() {
                            failed.dlq = Some(name.value.clone());
                        }
                    }
                    return Err(error);
                }
            }
            p.end_statement()
        })?;
        Ok(DlqDecl { name, keys, span })
    }

    fn service(&mut self) -> PResult<ServiceDecl> {
        self.bump();
        let name = self.word("a service name", "write `service NAME {`")?;
        let mut service = ServiceDecl {
            name,
            purpose: None,
            uses: Vec::new(),
            reads: Vec::new(),
            writes: Vec::new(),
        };
        if self.peek_kind() == TokenKind::Str {
            let token = self.bump();
            service.purpose = Some(Spanned {
                value: token.text,
                span: token.span,
            });
        }
        let open = self.open_block("a service lists `uses`, `reads` and `writes` lines between `{` and `}`")?;
        let (mut uses, mut reads, mut writes) = (Vec::new(), Vec::new(), Vec::new());
        self.block(open, |p| {
            let token = p.word("`uses`, `reads` or `writes`", "write `uses group_a, group_b`")?;
            let list = match token.value.as_str() {
                "uses" => &mut uses,
                "reads" => &mut reads,
                "writes" => &mut writes,
                other => {
                    return Err(p.error(
                        token.span,
                        format!("expected `uses`, `reads` or `writes`, found `{other}`"),
                        "write `uses group_a, key_b`",
                    ))
                }
            };
            loop {
                list.push(p.word("a group or key name", "write `uses group_a, key_b`")?);
                if p.peek_kind() == TokenKind::Comma {
                    p.bump();
                    continue;
                }
                break;
            }
            p.end_statement()
        })?;
        service.uses = uses;
        service.reads = reads;
        service.writes = writes;
        Ok(service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_construct() {
        let source = r#"
keyspace demo separator ":"
param jobID uuid | <runID>:<stepID>@<attempt>
param state enum(PENDING, RUNNING) case lower
param key text except(global) spans
ttl meta = env(META_TTL, 7d, unit = seconds)
ttl poll = 2 * env(POLL, 5s)
group job ttl meta tag jobID "Jobs" {
  job:state:<jobID> string json(JobState) "Job state"
  job:meta:<jobID> hash fields(
      tenant,
      labels: json(Labels)) "Meta"
  index job:index:<state> zset member jobID score time of job_state "By state"
  dlq dead {
    entry dlq:entry:<jobID> string json(Entry) ttl 30d "Entry"
    index dlq:index zset member jobID score time "Index"
  }
}
lock cordum:leader ttl poll "Leader"
service api "Gateway" {
  uses job
  reads job_state
}
"#;
        let (file, diagnostics) = parse(source);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(file.params.len(), 3);
        assert_eq!(file.params[0].alternatives[0].value, "<runID>:<stepID>@<attempt>");
        assert_eq!(file.params[2].except[0].value, "global");
        assert!(file.params[2].spans.is_some());
        assert_eq!(file.groups[0].keys.len(), 3);
        assert_eq!(file.groups[0].keys[1].fields.len(), 2);
        assert_eq!(file.groups[0].dlqs[0].keys.len(), 2);
        assert_eq!(file.keys[0].keyword, KeyKeyword::Lock);
        assert_eq!(file.services[0].reads[0].value, "job_state");
    }

    #[test]
    fn recovers_and_reports_several_errors() {
        let source = "param\nparam x uuid\nkey a:b string bogus \"p\"\nttl t = env(X 5s)\n";
        let (file, diagnostics) = parse(source);
        assert_eq!(diagnostics.len(), 3, "{diagnostics:?}");
        assert_eq!(file.params.len(), 1);
    }
}
