//! The schema language's surface: lexer, syntax tree and parser.

pub mod ast;
mod lexer;
mod parser;

pub use parser::parse;

/// Words that start a declaration other than a key's.
pub(crate) const DECLARATION_KEYWORDS: &[&str] = &[
    "keyspace",
    "separator",
    "layout",
    "param",
    "ttl",
    "group",
    "dlq",
    "service",
    "uses",
];

/// Words that start a key's declaration (a plain key needs none).
pub(crate) const KEY_KEYWORDS: &[&str] = &[
    "key",
    "lock",
    "ratelimit",
    "breaker",
    "idempotency",
    "timers",
    "cache",
    "state",
    "index",
    "entry",
];
