// The task-runner workflows extension: starts `task-runner lsp` for YAML files and opens
// what the code lenses (Test request, Dry run, Show last recording, Compare with last
// recording) return beside the workflow. Everything else (diagnostics, completion, hover,
// go to definition) comes from the language server as it is.
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

let client: LanguageClient | undefined;

interface CommandResult {
  uri?: string;
  title?: string;
  status?: string;
  exit_code?: number;
  http_status?: number | null;
}

function settings(): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration("taskRunner");
  return {
    inputs: config.get("inputs", {}),
    emulator: config.get("emulator", false),
    pages: config.get("pages", 1),
    recordDir: config.get("recordDir", null),
    definitions: config.get("definitions", []),
    debounceMs: config.get("debounceMs", 200),
  };
}

async function openBeside(uri: string, takeFocus: boolean): Promise<boolean> {
  try {
    const document = await vscode.workspace.openTextDocument(vscode.Uri.parse(uri));
    await vscode.window.showTextDocument(document, {
      viewColumn: vscode.ViewColumn.Beside,
      preserveFocus: !takeFocus,
      preview: false,
    });
    return true;
  } catch {
    return false;
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const [command, ...args] = vscode.workspace
    .getConfiguration("taskRunner")
    .get<string[]>("command", ["task-runner", "lsp"]);
  const serverOptions: ServerOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file", language: "yaml" }],
    initializationOptions: settings(),
    synchronize: { configurationSection: "taskRunner" },
    middleware: {
      // A test request runs the saved file: save it first, as a terminal user would.
      executeCommand: async (name, commandArgs, next) => {
        const editor = vscode.window.activeTextEditor;
        if (editor && editor.document.isDirty && editor.document.uri.toString() === commandArgs[0]) {
          await editor.document.save();
        }
        const result = (await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Window, title: "task-runner" },
          () => Promise.resolve(next(name, commandArgs)),
        )) as CommandResult | undefined;
        if (result?.status && !["succeeded", "shown"].includes(result.status) && result.title) {
          vscode.window.setStatusBarMessage(`${result.title}: ${result.status}`, 10000);
        }
        return result;
      },
      // The server asks the editor to show the result: open it beside the workflow.
      window: {
        showDocument: async (params) => {
          if (params.external) {
            return { success: await vscode.env.openExternal(vscode.Uri.parse(params.uri)) };
          }
          return { success: await openBeside(params.uri, params.takeFocus ?? false) };
        },
      },
    },
  };
  client = new LanguageClient("taskRunner", "task-runner", serverOptions, clientOptions);
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("taskRunner.command")) {
        void vscode.window.showInformationMessage(
          "task-runner: reload the window to start the language server with the new command.",
        );
      }
    }),
  );
  await client.start();
}

export async function deactivate(): Promise<void> {
  if (client) {
    await client.stop();
    client = undefined;
  }
}
