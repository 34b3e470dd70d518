//! Reading schemas and keys: files, standard input, limits, and the errors they give.

use keyschema::{examples, LintResult, Schema, MAX_SOURCE_LEN};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

/// The name the bundled default schema is reported under.
pub const DEFAULT_SCHEMA_NAME: &str = "schema/examples/cordum.keys";

/// Why input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A file that cannot be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A schema that is not UTF-8.
    #[error("{path} is not valid UTF-8 (byte {valid_up_to}); schemas are UTF-8 text")]
    NotUtf8 {
        /// The path.
        path: String,
        /// Where the first invalid byte is.
        valid_up_to: usize,
    },
    /// A schema larger than the parser accepts.
    #[error("{path} is {len} bytes; schemas are limited to {MAX_SOURCE_LEN} bytes")]
    TooLarge {
        /// The path.
        path: String,
        /// Its size.
        len: u64,
    },
}

/// A schema's text and the name to report it under.
pub struct SchemaSource {
    pub name: String,
    pub text: String,
}

/// Reads the schema at `path`, or the bundled Cordum schema.
pub fn read_schema(path: Option<&str>) -> Result<SchemaSource, InputError> {
    let Some(path) = path else {
        return Ok(SchemaSource {
            name: DEFAULT_SCHEMA_NAME.into(),
            text: examples::CORDUM.into(),
        });
    };
    let io_error = |source| InputError::Io {
        path: path.to_string(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    let mut bytes = Vec::new();
    // Read one byte past the limit to know it was exceeded without reading a huge file whole.
    file.take(MAX_SOURCE_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() > MAX_SOURCE_LEN {
        let len = std::fs::metadata(path).map_or(bytes.len() as u64, |m| m.len());
        return Err(InputError::TooLarge {
            path: path.to_string(),
            len,
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| InputError::NotUtf8 {
        path: path.to_string(),
        valid_up_to: e.utf8_error().valid_up_to(),
    })?;
    Ok(SchemaSource {
        name: path.to_string(),
        text,
    })
}

/// Opens a file of keys.
pub fn open(path: &str) -> Result<BufReader<File>, InputError> {
    File::open(path).map(BufReader::new).map_err(|source| InputError::Io {
        path: path.to_string(),
        source,
    })
}

/// One input line: raw bytes, line break removed.
pub struct KeyLine {
    pub bytes: Vec<u8>,
}

/// The lines of `reader`, as bytes (keys need not be UTF-8 to be reported on).
pub fn key_lines(mut reader: impl BufRead) -> impl Iterator<Item = Result<KeyLine, InputError>> {
    std::iter::from_fn(move || {
        let mut bytes = Vec::new();
        match reader.read_until(b'\n', &mut bytes) {
            Ok(0) => None,
            Ok(_) => {
                if bytes.last() == Some(&b'\n') {
                    bytes.pop();
                }
                if bytes.last() == Some(&b'\r') {
                    bytes.pop();
                }
                Some(Ok(KeyLine { bytes }))
            }
            Err(source) => Some(Err(InputError::Io {
                path: "standard input".into(),
                source,
            })),
        }
    })
}

/// Lints one line.
pub fn lint_line(schema: &Schema, line: &KeyLine) -> LintResult {
    schema.lint_bytes(&line.bytes)
}
