//! The lexer: source text to tokens.
//!
//! A key pattern such as `job:{<jobID>}:state` is one [`TokenKind::Word`]: words run until
//! whitespace or one of `" ( ) , = * |`. A `#` starts a comment where a word could start. Line
//! breaks are tokens because declarations end at the end of their line (inside parentheses a
//! declaration may continue on the next line).

use crate::diagnostics::{Code, Diagnostic, Span};

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A run of non-space characters: a keyword, a name, a pattern, a duration, a number.
    Word,
    /// A double-quoted string; its unescaped value is in [`Token::text`].
    Str,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `,`
    Comma,
    /// `=`
    Eq,
    /// `*`
    Star,
    /// `|`
    Pipe,
    /// `{` standing alone (opens a block).
    LBrace,
    /// `}` standing alone (closes a block).
    RBrace,
    /// `:` standing alone or ending a field name (`labels: json(Labels)` lexes as `labels`, `:`).
    Colon,
    /// A line break.
    Newline,
    /// The end of the source.
    Eof,
}

/// A token and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Its text (for strings, the unescaped value).
    pub text: String,
    /// Where it is.
    pub span: Span,
}

fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '(' | ')' | ',' | '=' | '*' | '|')
}

/// Splits `source` into tokens, reporting malformed strings as diagnostics. The last token is
/// always [`TokenKind::Eof`].
pub fn lex(source: &str) -> (Vec<Token>, Vec<Diagnostic>) {
    let mut tokens = Vec::new();
    let mut diagnostics = Vec::new();
    let mut chars = source.char_indices().peekable();
    // A UTF-8 byte-order mark, as some editors write, is not part of the schema.
    if source.starts_with('\u{feff}') {
        chars.next();
    }
    while let Some(&(start, c)) = chars.peek() {
        let single = |kind| Token {
            kind,
            text: c.to_string(),
            span: Span::new(start, start + c.len_utf8()),
        };
        match c {
            '\n' => {
                chars.next();
                tokens.push(single(TokenKind::Newline));
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' => while chars.next_if(|&(_, c)| c != '\n').is_some() {},
            '(' | ')' | ',' | '=' | '*' | '|' => {
                chars.next();
                tokens.push(single(match c {
                    '(' => TokenKind::LParen,
                    ')' => TokenKind::RParen,
                    ',' => TokenKind::Comma,
                    '=' => TokenKind::Eq,
                    '*' => TokenKind::Star,
                    _ => TokenKind::Pipe,
                }));
            }
            '"' => {
                chars.next();
                let mut text = String::new();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '"' => {
                            end = Some(i + 1);
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, 'n')) => text.push('\n'),
                            Some((_, 't')) => text.push('\t'),
                            Some((_, other)) => text.push(other),
                            None => break,
                        },
                        '\n' => break,
                        other => text.push(other),
                    }
                }
                match end {
                    Some(end) => tokens.push(Token {
                        kind: TokenKind::Str,
                        text,
                        span: Span::new(start, end),
                    }),
                    None => {
                        let end = source[start..].find('\n').map_or(source.len(), |i| start + i);
                        diagnostics.push(
                            Diagnostic::new(Code::UnterminatedString, Span::new(start, end), "unterminated string")
                                .with_hint("close the string with `\"` on the same line"),
                        );
                        if end < source.len() {
                            tokens.push(Token {
                                kind: TokenKind::Newline,
                                text: "\n".into(),
                                span: Span::new(end, end + 1),
                            });
                        }
                    }
                }
            }
            _ => {
                let mut end = start;
                while let Some((i, c)) = chars.next_if(|&(_, c)| !ends_word(c)) {
                    end = i + c.len_utf8();
                }
                let word = &source[start..end];
                // A word ending in ':' followed by space is a field name and a colon.
                let (kind, text, span) = match word {
                    "{" => (TokenKind::LBrace, word, Span::new(start, end)),
                    "}" => (TokenKind::RBrace, word, Span::new(start, end)),
                    ":" => (TokenKind::Colon, word, Span::new(start, end)),
                    _ => (TokenKind::Word, word, Span::new(start, end)),
                };
                if kind == TokenKind::Word && word.len() > 1 && word.ends_with(':') {
                    let colon = end - 1;
                    tokens.push(Token {
                        kind: TokenKind::Word,
                        text: word[..word.len() - 1].to_string(),
                        span: Span::new(start, colon),
                    });
                    tokens.push(Token {
                        kind: TokenKind::Colon,
                        text: ":".into(),
                        span: Span::new(colon, end),
                    });
                } else {
                    tokens.push(Token {
                        kind,
                        text: text.to_string(),
                        span,
                    });
                }
            }
        }
    }
    tokens.push(Token {
        kind: TokenKind::Eof,
        text: String::new(),
        span: Span::new(source.len(), source.len()),
    });
    (tokens, diagnostics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<(TokenKind, String)> {
        lex(source).0.into_iter().map(|t| (t.kind, t.text)).collect()
    }

    #[test]
    fn patterns_are_single_words() {
        let tokens = kinds("job:{<jobID>}:state string json(JobState) \"Job state\" # note");
        assert_eq!(tokens[0], (TokenKind::Word, "job:{<jobID>}:state".into()));
        assert_eq!(tokens[3], (TokenKind::LParen, "(".into()));
        assert_eq!(tokens[6], (TokenKind::Str, "Job state".into()));
        assert_eq!(tokens[7].0, TokenKind::Eof);
    }

    #[test]
    fn field_names_split_their_colon() {
        let tokens = kinds("labels: json(L)");
        assert_eq!(tokens[0], (TokenKind::Word, "labels".into()));
        assert_eq!(tokens[1].0, TokenKind::Colon);
    }

    #[test]
    fn unterminated_strings_are_reported_and_the_line_ends() {
        let (tokens, diagnostics) = lex("a \"oops\nb");
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].code, Code::UnterminatedString);
        assert_eq!(tokens.iter().filter(|t| t.kind == TokenKind::Word).count(), 2);
    }
}
