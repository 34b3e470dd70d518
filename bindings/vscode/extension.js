// Starts `keyschema lsp` for .keys files: diagnostics as you type, hover facts (a key's slot,
// resolved TTL, example key), definitions and references of names, the outline, completion and
// formatting all come from the server; this file only launches it.
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("keyschema").get("server.path", "keyschema");
  client = new LanguageClient(
    "keyschema",
    "keyschema",
    { command, args: ["lsp"], transport: TransportKind.stdio },
    { documentSelector: [{ language: "keyschema" }] },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client?.stop();
}

module.exports = { activate, deactivate };
