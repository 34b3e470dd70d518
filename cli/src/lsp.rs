//! `keyschema lsp`: a language server over stdio serving `keyschema::service::Document`.
//!
//! The transport is `lsp-server` (rust-analyzer's, also used by ruff): a small synchronous
//! crate that frames JSON-RPC, runs the initialize handshake and shutdown, and leaves the loop to
//! us. The schema service is synchronous and fast (a Cordum-size schema checks in a few
//! milliseconds), so an async framework (`tower-lsp-server`) would add a runtime for nothing.
//! Text sync is incremental; diagnostics are published after every change.

use keyschema::diagnostics::{LineIndex, Severity, Span};
use keyschema::service::{Document, Symbol};
use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use lsp_types as lsp;
use std::collections::HashMap;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LspError {
    #[error("language server transport: {0}")]
    Protocol(#[from] lsp_server::ProtocolError),
    #[error("language server: cannot send: {0}")]
    Send(String),
    #[error("language server I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("language server: bad message: {0}")]
    Json(#[from] serde_json::Error),
}

/// Serves the client on stdin/stdout until it shuts down.
pub(crate) fn serve() -> Result<(), LspError> {
    let (connection, threads) = Connection::stdio();
    let capabilities = lsp::ServerCapabilities {
        text_document_sync: Some(lsp::TextDocumentSyncCapability::Kind(
            lsp::TextDocumentSyncKind::INCREMENTAL,
        )),
        hover_provider: Some(lsp::HoverProviderCapability::Simple(true)),
        definition_provider: Some(lsp::OneOf::Left(true)),
        references_provider: Some(lsp::OneOf::Left(true)),
        document_symbol_provider: Some(lsp::OneOf::Left(true)),
        document_formatting_provider: Some(lsp::OneOf::Left(true)),
        completion_provider: Some(lsp::CompletionOptions {
            trigger_characters: Some(vec!["<".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    connection.initialize(serde_json::to_value(capabilities)?)?;
    let mut server = Server {
        connection: &connection,
        documents: HashMap::new(),
    };
    for message in &connection.receiver {
        match message {
            Message::Request(request) => {
                if connection.handle_shutdown(&request)? {
                    break;
                }
                let id = request.id.clone();
                match server.request(request) {
                    // Parameters the server cannot read: an error for that request, and serving goes on.
                    Err(LspError::Json(error)) => server.send(Message::Response(Response::new_err(
                        id,
                        lsp_server::ErrorCode::InvalidParams as i32,
                        error.to_string(),
                    )))?,
                    other => other?,
                }
            }
            Message::Notification(notification) => match server.notification(notification) {
                // A notification has no answer: one the server cannot read is reported and skipped.
                Err(LspError::Json(error)) => eprintln!("keyschema lsp: a notification was skipped: {error}"),
                other => other?,
            },
            Message::Response(_) => {}
        }
    }
    drop(server);
    drop(connection);
    threads.join()?;
    Ok(())
}

struct Server<'c> {
    connection: &'c Connection,
    documents: HashMap<lsp::Uri, Document>,
}

impl Server<'_> {
    fn send(&self, message: Message) -> Result<(), LspError> {
        self.connection
            .sender
            .send(message)
            .map_err(|error| LspError::Send(error.to_string()))
    }

    fn notification(&mut self, notification: Notification) -> Result<(), LspError> {
        let uri = match notification.method.as_str() {
            "textDocument/didOpen" => {
                let params: lsp::DidOpenTextDocumentParams = serde_json::from_value(notification.params)?;
                let document = Document::new(&params.text_document.text, &name(&params.text_document.uri));
                self.documents.insert(params.text_document.uri.clone(), document);
                params.text_document.uri
            }
            "textDocument/didChange" => {
                let params: lsp::DidChangeTextDocumentParams = serde_json::from_value(notification.params)?;
                let uri = params.text_document.uri;
                let mut text = self
                    .documents
                    .get(&uri)
                    .map(|d| d.source().to_string())
                    .unwrap_or_default();
                for change in params.content_changes {
                    match change.range {
                        Some(range) => {
                            let (start, end) = (offset(&text, range.start), offset(&text, range.end));
                            text.replace_range(start..end.max(start), &change.text);
                        }
                        None => text = change.text,
                    }
                }
                self.documents.insert(uri.clone(), Document::new(&text, &name(&uri)));
                uri
            }
            "textDocument/didClose" => {
                let params: lsp::DidCloseTextDocumentParams = serde_json::from_value(notification.params)?;
                self.documents.remove(&params.text_document.uri);
                return Ok(());
            }
            _ => return Ok(()),
        };
        self.publish(&uri)
    }

    fn publish(&self, uri: &lsp::Uri) -> Result<(), LspError> {
        let Some(document) = self.documents.get(uri) else {
            return Ok(());
        };
        let index = LineIndex::new(document.source());
        let diagnostics = document
            .diagnostics()
            .iter()
            .map(|d| lsp::Diagnostic {
                range: range(&index, d.span),
                severity: Some(match d.severity {
                    Severity::Error => lsp::DiagnosticSeverity::ERROR,
                    Severity::Warning => lsp::DiagnosticSeverity::WARNING,
                }),
                code: Some(lsp::NumberOrString::String(d.code.as_str().to_string())),
                source: Some("keyschema".into()),
                message: match &d.hint {
                    Some(hint) => format!("{}\nhint: {hint}", d.message),
                    None => d.message.clone(),
                },
                related_information: Some(
                    d.labels
                        .iter()
                        .map(|label| lsp::DiagnosticRelatedInformation {
                            location: lsp::Location {
                                uri: uri.clone(),
                                range: range(&index, label.span),
                            },
                            message: label.message.clone(),
                        })
                        .collect(),
                ),
                ..Default::default()
            })
            .collect();
        let params = lsp::PublishDiagnosticsParams {
            uri: uri.clone(),
            diagnostics,
            version: None,
        };
        self.send(Message::Notification(Notification::new(
            "textDocument/publishDiagnostics".into(),
            params,
        )))
    }

    fn request(&mut self, request: Request) -> Result<(), LspError> {
        let id = request.id.clone();
        let result = match request.method.as_str() {
            "textDocument/hover" => {
                let params: lsp::HoverParams = serde_json::from_value(request.params)?;
                let position = params.text_document_position_params;
                self.at(&position, |document, index, at| {
                    document.hover(at).map(|(text, span)| lsp::Hover {
                        contents: lsp::HoverContents::Markup(lsp::MarkupContent {
                            kind: lsp::MarkupKind::Markdown,
                            value: text,
                        }),
                        range: Some(range(index, span)),
                    })
                })
                .map(serde_json::to_value)
                .transpose()?
            }
            "textDocument/definition" => {
                let params: lsp::GotoDefinitionParams = serde_json::from_value(request.params)?;
                let position = params.text_document_position_params;
                let uri = position.text_document.uri.clone();
                self.at(&position, |document, index, at| {
                    document.definition(at).map(|span| lsp::Location {
                        uri: uri.clone(),
                        range: range(index, span),
                    })
                })
                .map(serde_json::to_value)
                .transpose()?
            }
            "textDocument/references" => {
                let params: lsp::ReferenceParams = serde_json::from_value(request.params)?;
                let position = params.text_document_position;
                let uri = position.text_document.uri.clone();
                let locations = self
                    .at(&position, |document, index, at| {
                        Some(
                            document
                                .references(at)
                                .into_iter()
                                .map(|span| lsp::Location {
                                    uri: uri.clone(),
                                    range: range(index, span),
                                })
                                .collect::<Vec<_>>(),
                        )
                    })
                    .unwrap_or_default();
                Some(serde_json::to_value(locations)?)
            }
            "textDocument/documentSymbol" => {
                let params: lsp::DocumentSymbolParams = serde_json::from_value(request.params)?;
                self.documents
                    .get(&params.text_document.uri)
                    .map(|document| {
                        let index = LineIndex::new(document.source());
                        let symbols: Vec<lsp::DocumentSymbol> =
                            document.symbols().iter().map(|s| symbol(&index, s)).collect();
                        serde_json::to_value(lsp::DocumentSymbolResponse::Nested(symbols))
                    })
                    .transpose()?
            }
            "textDocument/formatting" => {
                let params: lsp::DocumentFormattingParams = serde_json::from_value(request.params)?;
                let edits = self.documents.get(&params.text_document.uri).and_then(|document| {
                    let formatted = document.formatted().ok()?;
                    if formatted == document.source() {
                        return Some(Vec::new());
                    }
                    let index = LineIndex::new(document.source());
                    Some(vec![lsp::TextEdit {
                        range: range(&index, Span::new(0, document.source().len())),
                        new_text: formatted,
                    }])
                });
                // A schema with errors is not formatted: no edit.
                Some(serde_json::to_value(edits.unwrap_or_default())?)
            }
            "textDocument/completion" => {
                let params: lsp::CompletionParams = serde_json::from_value(request.params)?;
                let items = self
                    .at(&params.text_document_position, |document, _, at| {
                        Some(
                            document
                                .completions(at)
                                .into_iter()
                                .map(|c| lsp::CompletionItem {
                                    label: c.label,
                                    detail: Some(c.detail),
                                    ..Default::default()
                                })
                                .collect::<Vec<_>>(),
                        )
                    })
                    .unwrap_or_default();
                Some(serde_json::to_value(items)?)
            }
            _ => {
                return self.send(Message::Response(Response::new_err(
                    id,
                    lsp_server::ErrorCode::MethodNotFound as i32,
                    format!("keyschema lsp does not serve {}", request.method),
                )));
            }
        };
        self.respond(id, result.unwrap_or(serde_json::Value::Null))
    }

    fn respond(&self, id: RequestId, result: serde_json::Value) -> Result<(), LspError> {
        self.send(Message::Response(Response::new_ok(id, result)))
    }

    /// Runs `f` on the document at `position`, with the byte offset of the position.
    fn at<T>(
        &self,
        position: &lsp::TextDocumentPositionParams,
        f: impl FnOnce(&Document, &LineIndex<'_>, usize) -> Option<T>,
    ) -> Option<T> {
        let document = self.documents.get(&position.text_document.uri)?;
        let index = LineIndex::new(document.source());
        f(document, &index, offset(document.source(), position.position))
    }
}

/// The file name diagnostics use for `uri`.
fn name(uri: &lsp::Uri) -> String {
    let text = uri.as_str();
    text.rsplit('/').next().unwrap_or(text).to_string()
}

/// The byte offset of an LSP position (0-based line, UTF-16 column), clamped to the text.
fn offset(text: &str, position: lsp::Position) -> usize {
    let mut line_start = 0;
    for _ in 0..position.line {
        match text[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => return text.len(),
        }
    }
    let line_end = text[line_start..].find('\n').map_or(text.len(), |i| line_start + i);
    let mut units = 0;
    for (i, c) in text[line_start..line_end].char_indices() {
        if units >= position.character {
            return line_start + i;
        }
        units += c.len_utf16() as u32;
    }
    line_end
}

fn range(index: &LineIndex<'_>, span: Span) -> lsp::Range {
    let point = |offset: u32| {
        let position = index.position(offset);
        lsp::Position {
            line: position.line - 1,
            character: position.utf16_column - 1,
        }
    };
    lsp::Range {
        start: point(span.start),
        end: point(span.end),
    }
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be written; it is `None`.
fn symbol(index: &LineIndex<'_>, symbol: &Symbol) -> lsp::DocumentSymbol {
    lsp::DocumentSymbol {
        name: symbol.name.clone(),
        detail: Some(symbol.kind.to_string()),
        kind: match symbol.kind {
            "group" => lsp::SymbolKind::NAMESPACE,
            "param" => lsp::SymbolKind::TYPE_PARAMETER,
            "ttl" => lsp::SymbolKind::CONSTANT,
            _ => lsp::SymbolKind::KEY,
        },
        tags: None,
        deprecated: None,
        range: range(index, symbol.span),
        selection_range: range(index, symbol.span),
        children: Some(symbol.children.iter().map(|child| self::symbol(index, child)).collect()),
    }
}
