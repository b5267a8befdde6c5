/**
 * SFT Studio's extension host side: starts the language server, shows the
 * dataset's status, and registers the commands. Linting itself runs in the
 * server process, so the editor never waits on it.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from 'vscode-languageclient/node';
import { FORMATS, FORMAT_IDS, FormatId } from '../core/formats';
import { ConvertDatasetRequest, DatasetSummaryNotification, FIX_ALL_KIND, LANGUAGE_ID, PICK_TARGET_COMMAND, SETTINGS_SECTION, REMOVE_BOM_COMMAND, ServerInitializationOptions, USE_LF_COMMAND } from '../shared/protocol';
import { TARGETS } from '../core/targets';
import { DatasetStatusBar } from './statusBar';
import { registerTuning } from './tuning';
import { HardSampleMarks, registerHardSampleCommands } from './hardSamples';
import { registerEvaluate } from './evaluate';

/** Owns every disposable of the extension, so deactivation leaves nothing behind. */
class Context implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  client: LanguageClient | undefined;
  /** Hard samples marked in the editor (src/extension/hardSamples.ts). */
  hardSamples: HardSampleMarks | undefined;

  constructor(readonly extension: vscode.ExtensionContext) {}

  push<T extends vscode.Disposable>(d: T): T {
    this.disposables.push(d);
    return d;
  }

  dispose(): void {
    for (const d of this.disposables.splice(0).reverse()) d.dispose();
  }
}

let ctx: Context | undefined;

async function startClient(c: Context, status: DatasetStatusBar): Promise<LanguageClient> {
  const module = c.extension.asAbsolutePath(path.join('dist', 'server.js'));
  const serverOptions: ServerOptions = {
    run: { module, transport: TransportKind.ipc },
    debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6012'] } },
  };
  const initializationOptions: ServerInitializationOptions = {
    rulesDocUri: vscode.Uri.joinPath(c.extension.extensionUri, 'docs', 'rules.md').toString(),
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ language: LANGUAGE_ID }],
    initializationOptions,
    synchronize: { configurationSection: SETTINGS_SECTION, fileEvents: vscode.workspace.createFileSystemWatcher('**/*.{jsonl,ndjson}') },
    diagnosticCollectionName: 'sft-studio',
  };
  const client = new LanguageClient('sftStudio', 'SFT Studio', serverOptions, clientOptions);
  c.push(client.onNotification(DatasetSummaryNotification, (summary) => status.update(summary)));
  await client.start();
  return client;
}

async function pinFormat(): Promise<void> {
  const doc = vscode.window.activeTextEditor?.document;
  if (doc === undefined || doc.languageId !== LANGUAGE_ID) {
    void vscode.window.showInformationMessage('Open a JSONL dataset to pin its format.');
    return;
  }
  type Item = vscode.QuickPickItem & { format: FormatId | undefined };
  const items: Item[] = [
    { label: 'Detect from the samples', description: 'remove the pin', format: undefined },
    ...FORMAT_IDS.map((f): Item => ({ label: FORMATS[f].label, description: f, format: f })),
  ];
  const pick = await vscode.window.showQuickPick(items, { title: 'SFT Studio: format of this dataset', placeHolder: vscode.workspace.asRelativePath(doc.uri) });
  if (pick === undefined) return;
  const config = vscode.workspace.getConfiguration(SETTINGS_SECTION, doc.uri);
  const formats = { ...(config.get<Record<string, string>>('formats') ?? {}) };
  const glob = vscode.workspace.asRelativePath(doc.uri, false);
  if (pick.format === undefined) delete formats[glob];
  else formats[glob] = pick.format;
  const target = vscode.workspace.getWorkspaceFolder(doc.uri) ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await config.update('formats', formats, target);
}

/**
 * Choose the tuning target of the active dataset: remembered in `sftStudio.targets`
 * under the file's workspace-relative path (a glob that matches only it).
 */
async function pickTarget(): Promise<void> {
  const doc = vscode.window.activeTextEditor?.document;
  if (doc === undefined || doc.languageId !== LANGUAGE_ID) {
    void vscode.window.showInformationMessage('Open a JSONL dataset to choose its tuning target.');
    return;
  }
  type Item = vscode.QuickPickItem & { target: string | undefined };
  const config = vscode.workspace.getConfiguration(SETTINGS_SECTION, doc.uri);
  const glob = vscode.workspace.asRelativePath(doc.uri, false);
  const targets = { ...(config.get<Record<string, string>>('targets') ?? {}) };
  const current = targets[glob];
  const provider = { vertex: 'Vertex AI', openai: 'OpenAI', local: 'Local' } as const;
  const items: Item[] = [
    { label: 'Default', description: 'remove the choice for this file (sftStudio.target applies)', target: undefined },
    ...TARGETS.map((t): Item => ({ label: t.label, description: t.id === current ? `${t.id} (current)` : t.id, detail: `${provider[t.provider]} · ${t.maxTokensPerExample.toLocaleString('en-US')} tokens per example`, target: t.id })),
  ];
  const pick = await vscode.window.showQuickPick(items, { title: 'SFT Studio: tuning target of this dataset', placeHolder: glob });
  if (pick === undefined) return;
  if (pick.target === undefined) delete targets[glob];
  else targets[glob] = pick.target;
  const where = vscode.workspace.getWorkspaceFolder(doc.uri) ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await config.update('targets', targets, where);
}

/** The crlf fix: line endings are a property of the document in VS Code, not a text edit. */
async function useLf(uri: string): Promise<void> {
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.parse(uri));
  const editor = await vscode.window.showTextDocument(doc, { preserveFocus: true, preview: false });
  await editor.edit((b) => b.setEndOfLine(vscode.EndOfLine.LF));
}

/** "Fix All": the server's fix-all action for the active dataset, applied as one undoable edit. */
async function fixAll(): Promise<void> {
  const doc = vscode.window.activeTextEditor?.document;
  if (doc === undefined || doc.languageId !== LANGUAGE_ID) {
    void vscode.window.showInformationMessage('Open a JSONL dataset to fix it.');
    return;
  }
  const kind = vscode.CodeActionKind.Empty.append(FIX_ALL_KIND);
  const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>(
    'vscode.executeCodeActionProvider', doc.uri, new vscode.Range(0, 0, doc.lineCount, 0), kind.value,
  );
  const action = actions?.find((a) => a.kind !== undefined && kind.contains(a.kind) && a.edit !== undefined);
  if (action?.edit === undefined) {
    void vscode.window.showInformationMessage('SFT Studio: nothing in this dataset has a safe fix.');
    return;
  }
  await vscode.workspace.applyEdit(action.edit);
}

/** "Convert Dataset To…": a converted copy beside the file; the source is never overwritten. */
async function convertDataset(c: Context, output: vscode.OutputChannel): Promise<void> {
  const doc = vscode.window.activeTextEditor?.document;
  if (doc === undefined || doc.languageId !== LANGUAGE_ID || c.client === undefined) {
    void vscode.window.showInformationMessage('Open a JSONL dataset to convert it.');
    return;
  }
  type Item = vscode.QuickPickItem & { format: FormatId };
  const pick = await vscode.window.showQuickPick(
    FORMAT_IDS.map((f): Item => ({ label: FORMATS[f].label, description: f, format: f })),
    { title: 'SFT Studio: convert this dataset to…' },
  );
  if (pick === undefined) return;
  const base = doc.uri.path.replace(/(\.[^./]*)?$/, '');
  const target = doc.uri.with({ path: `${base}.${pick.format}.jsonl` });
  if (target.toString() === doc.uri.toString()) {
    void vscode.window.showWarningMessage('The converted copy would replace the dataset itself: rename the file first.');
    return;
  }
  const exists = await vscode.workspace.fs.stat(target).then(() => true, () => false);
  if (exists) {
    const answer = await vscode.window.showWarningMessage(`${vscode.workspace.asRelativePath(target)} exists. Replace it?`, { modal: true }, 'Replace');
    if (answer !== 'Replace') return;
  }
  const result = await c.client.sendRequest(ConvertDatasetRequest, { uri: doc.uri.toString(), to: pick.format });
  await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(result.text));
  await vscode.window.showTextDocument(target, { viewColumn: vscode.ViewColumn.Beside, preview: false });
  if (result.problems.length > 0) {
    output.appendLine(`Converted ${vscode.workspace.asRelativePath(doc.uri)} to ${pick.label}: ${vscode.workspace.asRelativePath(target)}`);
    for (const p of result.problems) output.appendLine(`  line ${p.line + 1}: ${p.lost.join('; ')}`);
    const show = await vscode.window.showWarningMessage(`Converted ${result.converted} samples to ${pick.label}; ${result.problems.length} could not be carried over whole.`, 'Show Details');
    if (show !== undefined) output.show(true);
  } else {
    void vscode.window.showInformationMessage(`Converted ${result.converted} samples to ${pick.label}.`);
  }
}

/** The bom fix: VS Code hides the BOM from the text, so rewrite the file's bytes without it. */
async function removeBom(uri: string): Promise<void> {
  const target = vscode.Uri.parse(uri);
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
  if (doc?.isDirty) await doc.save();
  const bytes = await vscode.workspace.fs.readFile(target);
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    await vscode.workspace.fs.writeFile(target, bytes.subarray(3));
  }
}

export async function activate(extension: vscode.ExtensionContext): Promise<void> {
  const c = new Context(extension);
  ctx = c;
  extension.subscriptions.push(c);
  const status = c.push(new DatasetStatusBar());
  c.push(vscode.commands.registerCommand('sftStudio.pinFormat', pinFormat));
  c.push(vscode.commands.registerCommand(PICK_TARGET_COMMAND, pickTarget));
  c.push(vscode.commands.registerCommand(USE_LF_COMMAND, useLf));
  c.push(vscode.commands.registerCommand(REMOVE_BOM_COMMAND, removeBom));
  const output = c.push(vscode.window.createOutputChannel('SFT Studio'));
  c.push(vscode.commands.registerCommand('sftStudio.convertDataset', () => convertDataset(c, output)));
  c.push(vscode.commands.registerCommand('sftStudio.fixAll', fixAll));
  c.push(vscode.commands.registerCommand('sftStudio.restartServer', async () => {
    await c.client?.restart();
  }));
  registerTuning(c, extension);
  // Hard samples inline: marks, diagnostics and hovers from a run's sample losses.
  c.hardSamples = c.push(new HardSampleMarks(extension.extensionUri, vscode.Uri.joinPath(extension.extensionUri, 'docs', 'rules.md')));
  for (const d of registerHardSampleCommands(c.hardSamples)) c.push(d);
  c.push(registerEvaluate(c.hardSamples));

  c.client = await startClient(c, status);
}

export async function deactivate(): Promise<void> {
  const client = ctx?.client;
  ctx = undefined;
  if (client !== undefined) await client.stop();
}
