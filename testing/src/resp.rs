//! A minimal, binary-safe RESP2 client: enough to send commands (pipelined) and read replies.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A reply from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Status(String),
    /// `-ERR ...`
    Error(String),
    /// `:42`
    Int(i64),
    /// `$n ...` (`None` for the null bulk string).
    Bulk(Option<Vec<u8>>),
    /// `*n ...` (`None` for the null array).
    Array(Option<Vec<Self>>),
}

impl Reply {
    /// The integer of an integer reply.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The text of a status or bulk reply.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Self::Status(text) => Some(text.clone()),
            Self::Bulk(Some(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        }
    }
}

/// One connection to a server.
pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

impl Connection {
    /// Connects to `127.0.0.1:port`.
    pub fn connect(port: u16) -> io::Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    fn encode(command: &[&[u8]], out: &mut Vec<u8>) {
        out.extend_from_slice(format!("*{}\r\n", command.len()).as_bytes());
        for arg in command {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Sends one command and reads its reply.
    pub fn command(&mut self, command: &[&[u8]]) -> io::Result<Reply> {
        let mut replies = self.pipeline(&[command.to_vec()])?;
        replies.pop().ok_or_else(|| invalid("no reply"))
    }

    /// Sends one command given as text words.
    pub fn cmd(&mut self, words: &[&str]) -> io::Result<Reply> {
        let command: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        self.command(&command)
    }

    /// Sends many commands at once and reads all replies, in order.
    pub fn pipeline(&mut self, commands: &[Vec<&[u8]>]) -> io::Result<Vec<Reply>> {
        let mut buffer = Vec::new();
        for command in commands {
            Self::encode(command, &mut buffer);
        }
        self.writer.write_all(&buffer)?;
        commands.iter().map(|_| self.read_reply()).collect()
    }

    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\r\n") {
            return Err(invalid("connection closed or line without CRLF"));
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }

    fn read_reply(&mut self) -> io::Result<Reply> {
        let line = self.read_line()?;
        let (kind, rest) = line.split_first().ok_or_else(|| invalid("empty reply line"))?;
        let text = String::from_utf8_lossy(rest).into_owned();
        let number = || text.parse::<i64>().map_err(|_| invalid(format!("bad length {text:?}")));
        Ok(match kind {
            b'+' => Reply::Status(text),
            b'-' => Reply::Error(text),
            b':' => Reply::Int(number()?),
            b'$' => {
                let len = number()?;
                if len < 0 {
                    Reply::Bulk(None)
                } else {
                    let mut data = vec![0; len as usize + 2];
                    io::Read::read_exact(&mut self.reader, &mut data)?;
                    data.truncate(len as usize);
                    Reply::Bulk(Some(data))
                }
            }
            b'*' => {
                let len = number()?;
                if len < 0 {
                    Reply::Array(None)
                } else {
                    Reply::Array(Some((0..len).map(|_| self.read_reply()).collect::<io::Result<_>>()?))
                }
            }
            other => return Err(invalid(format!("unknown reply type {:?}", *other as char))),
        })
    }
}
