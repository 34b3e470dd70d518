//! The syntax tree: what the file says, with positions, before names are resolved.

use crate::diagnostics::Span;

/// A name or word with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it is written.
    pub span: Span,
}

/// A whole schema file.
#[derive(Debug, Default)]
pub struct File {
    /// `keyspace NAME`.
    pub keyspace: Option<Spanned<String>>,
    /// `separator "x"`.
    pub separator: Option<Spanned<String>>,
    /// `layout standalone`.
    pub layout: Option<Spanned<String>>,
    /// `param` declarations.
    pub params: Vec<ParamDecl>,
    /// `ttl` declarations.
    pub ttls: Vec<TtlDecl>,
    /// Keys outside any group.
    pub keys: Vec<KeyDecl>,
    /// Groups and the keys in them.
    pub groups: Vec<GroupDecl>,
    /// Dead-letter queues.
    pub dlqs: Vec<DlqDecl>,
    /// Services.
    pub services: Vec<ServiceDecl>,
    /// Key declarations that did not parse (their errors are reported): references to them are
    /// not reported again as unknown.
    pub failed_keys: Vec<FailedKey>,
}

/// A key declaration that did not parse, as far as it was read.
#[derive(Debug, Clone)]
pub struct FailedKey {
    /// Its keyword.
    pub keyword: KeyKeyword,
    /// Its pattern as written.
    pub pattern: String,
    /// `as NAME`, if read before the error.
    pub code_name: Option<String>,
    /// The dead-letter queue it was declared in.
    pub dlq: Option<String>,
}

/// `param NAME TYPE [modifiers] [| TEMPLATE ...]`.
#[derive(Debug, Clone)]
pub struct ParamDecl {
    /// Its name.
    pub name: Spanned<String>,
    /// Its base type.
    pub ty: TypeExpr,
    /// `except(a, b)`.
    pub except: Vec<Spanned<String>>,
    /// `spans`: legacy values that contain the separator unescaped.
    pub spans: Option<Span>,
    /// Alternative layouts of the value: `| <runID>:<stepID>@<attempt>`.
    pub alternatives: Vec<Spanned<String>>,
    /// The whole declaration.
    pub span: Span,
}

/// A parameter type as written.
#[derive(Debug, Clone)]
pub struct TypeExpr {
    /// `text`, `uuid`, `enum`...
    pub name: Spanned<String>,
    /// The variants of an enum.
    pub variants: Vec<Spanned<String>>,
    /// `case lower|upper` of an enum.
    pub case: Option<Spanned<String>>,
}

/// `ttl NAME = EXPR`.
#[derive(Debug, Clone)]
pub struct TtlDecl {
    /// Its name.
    pub name: Spanned<String>,
    /// Its value.
    pub expr: TtlExpr,
}

/// A TTL expression.
#[derive(Debug, Clone)]
pub enum TtlExpr {
    /// `none`.
    None(Span),
    /// `7d`, `60s`: the text and where it is.
    Duration(Spanned<String>),
    /// A declared TTL's name.
    Named(Spanned<String>),
    /// `env(VAR, default [, unit = days])`.
    Env {
        /// The variable.
        var: Spanned<String>,
        /// The default duration.
        default: Spanned<String>,
        /// The unit of the variable's value.
        unit: Option<Spanned<String>>,
        /// The whole expression.
        span: Span,
    },
    /// `N * EXPR`.
    Multiple {
        /// The factor as written.
        factor: Spanned<String>,
        /// What is multiplied.
        base: Box<Self>,
    },
    /// `per_write(max = EXPR)`: each write chooses its TTL, at most EXPR.
    PerWrite {
        /// The bound.
        max: Box<Self>,
        /// The whole expression.
        span: Span,
    },
}

impl TtlExpr {
    /// Where the expression is.
    pub fn span(&self) -> Span {
        match self {
            Self::None(span) | Self::Env { span, .. } | Self::PerWrite { span, .. } => *span,
            Self::Duration(s) | Self::Named(s) => s.span,
            Self::Multiple { factor, base } => factor.span.to(base.span()),
        }
    }
}

/// The keyword a key declaration starts with: plain keys have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKeyword {
    /// A plain key (optionally introduced by `key`).
    Key,
    /// `lock`
    Lock,
    /// `ratelimit`
    RateLimit,
    /// `breaker`
    Breaker,
    /// `idempotency`
    Idempotency,
    /// `timers`
    Timers,
    /// `cache`
    Cache,
    /// `state`
    State,
    /// `index`
    Index,
    /// `entry` inside a `dlq` block.
    DlqEntry,
    /// `index` inside a `dlq` block.
    DlqIndex,
}

/// One key declaration: a pattern and its attributes.
#[derive(Debug, Clone)]
pub struct KeyDecl {
    /// What kind of declaration.
    pub keyword: KeyKeyword,
    /// The pattern as written.
    pub pattern: Spanned<String>,
    /// `string`, `hash`...
    pub redis_type: Option<Spanned<String>>,
    /// The value codec.
    pub codec: Option<CodecExpr>,
    /// `ttl EXPR`.
    pub ttl: Option<TtlExpr>,
    /// `keepttl`.
    pub keep_ttl: Option<Span>,
    /// `as NAME`.
    pub code_name: Option<Spanned<String>>,
    /// `cap N`.
    pub cap: Option<Spanned<String>>,
    /// `max SIZE`: the largest value a write may send (`max 1mb`).
    pub max: Option<Spanned<String>>,
    /// `member PARAM` or `member CODEC`.
    pub member: Option<CodecExpr>,
    /// `score time`.
    pub score: Option<Spanned<String>>,
    /// `fields(...)`.
    pub fields: Vec<FieldDecl>,
    /// `of KEY`: the key whose parameter the members are.
    pub of: Option<Spanned<String>>,
    /// `by FIELD`: the field of the indexed key's value that holds this index's parameter.
    pub by: Option<Spanned<String>>,
    /// `owner NAME`.
    pub owner: Option<Spanned<String>>,
    /// A primitive's settings (`limit 100`, `threshold 5`, `lease`), in order: each a name and
    /// its value (none for a flag such as `lease`).
    pub settings: Vec<Setting>,
    /// The purpose string.
    pub purpose: Option<Spanned<String>>,
    /// The whole declaration.
    pub span: Span,
}

/// A primitive's setting as written: `limit 100`, `open_for 30s`, `lease`.
#[derive(Debug, Clone)]
pub struct Setting {
    /// Its name.
    pub name: Spanned<String>,
    /// Its value; `None` for a flag.
    pub value: Option<Spanned<String>>,
}

/// A codec or a parameter name: `json(JobState)`, `text`, `jobID`, `lz4(json(State))`,
/// `codec(crate::StateCodec)`.
#[derive(Debug, Clone)]
pub struct CodecExpr {
    /// `json`, `proto`, `text`, `lz4`, `codec`... or a parameter name.
    pub name: Spanned<String>,
    /// The type argument of `json(T)`/`proto(T)`, or the path of `codec(PATH)`.
    pub arg: Option<Spanned<String>>,
    /// The codec a wrapper such as `lz4(...)` compresses.
    pub inner: Option<Box<Self>>,
}

/// A declared hash field.
#[derive(Debug, Clone)]
pub struct FieldDecl {
    /// Its name.
    pub name: Spanned<String>,
    /// Its codec (text when absent).
    pub codec: Option<CodecExpr>,
}

/// `group NAME [ttl EXPR] [tag <param>] [owner NAME] ["purpose"] { ... }`.
#[derive(Debug, Clone)]
pub struct GroupDecl {
    /// Its name.
    pub name: Spanned<String>,
    /// Default TTL of its keys.
    pub ttl: Option<TtlExpr>,
    /// Parameter every key of the group is tagged by (`{<jobID>}`) when it names it.
    pub tag: Option<Spanned<String>>,
    /// Default owner.
    pub owner: Option<Spanned<String>>,
    /// What the group is.
    pub purpose: Option<Spanned<String>>,
    /// Its keys.
    pub keys: Vec<KeyDecl>,
    /// Its dead-letter queues.
    pub dlqs: Vec<DlqDecl>,
}

/// `dlq NAME { entry ...; index ... }`.
#[derive(Debug, Clone)]
pub struct DlqDecl {
    /// Its name.
    pub name: Spanned<String>,
    /// The entry and index keys.
    pub keys: Vec<KeyDecl>,
    /// The whole block's first line.
    pub span: Span,
}

/// `service NAME ["purpose"] { uses a, b  reads c  writes d }`.
#[derive(Debug, Clone)]
pub struct ServiceDecl {
    /// Its name.
    pub name: Spanned<String>,
    /// What it is, or how it degrades without Redis.
    pub purpose: Option<Spanned<String>>,
    /// Groups or keys read and written.
    pub uses: Vec<Spanned<String>>,
    /// Groups or keys only read.
    pub reads: Vec<Spanned<String>>,
    /// Groups or keys only written.
    pub writes: Vec<Spanned<String>>,
}
