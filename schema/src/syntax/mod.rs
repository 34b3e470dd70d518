//! The schema language's surface: lexer, syntax tree and parser.

pub mod ast;
mod lexer;
mod parser;

pub use parser::parse;
