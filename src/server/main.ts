/**
 * The SFT Studio language server: keeps a DatasetDocument per open dataset,
 * applies incremental edits, and publishes diagnostics, hovers and summaries.
 */
import { promises as fs } from 'node:fs';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  CodeAction,
  CodeActionKind,
  CodeActionParams,
  Diagnostic as LspDiagnostic,
  DiagnosticSeverity,
  ErrorCodes,
  ResponseError,
  DidChangeConfigurationNotification,
  InitializeParams,
  InitializeResult,
  MarkupKind,
  ProposedFeatures,
  TextDocumentSyncKind,
  createConnection,
} from 'vscode-languageserver/node';
import { DatasetDocument, Diagnostic, LintResult, OpenDocumentPartner } from '../core/document';
import { LintOptions, RawSettings, resolveOptions } from '../core/options';
import { ruleAnchor } from '../core/rules';
import { convertLines } from '../core/convert';
import { DedupeText, dedupeTextOfLine } from '../core/dedupe';
import { PartnerIndex, conventionalPartners, findPartner } from '../core/leakage';
import { serializeLike } from '../core/fixes';
import { ConvertDatasetRequest, DatasetSummaryNotification, FIX_ALL_KIND, LANGUAGE_ID, SETTINGS_SECTION, ServerInitializationOptions } from '../shared/protocol';
import { hoverMarkdown } from './hover';
import { codeActions } from './codeActions';
import { turnsOfLine } from '../core/analyze';
import { TokenWorker } from '../tokenize/client';
import type { TokenizerId } from '../core/targets';

const connection = createConnection(ProposedFeatures.all);

interface OpenDataset {
  readonly uri: string;
  /** The other split of the dataset, when there is one. */
  partner?: string;
  /** Whether its samples are read from its open document (unsaved edits count) rather than from disk. */
  partnerOpen?: boolean;
  version: number;
  doc: DatasetDocument;
  options: LintOptions;
  last: LintResult | undefined;
  /** A lint is wanted (something changed since the last publish). */
  scheduled: boolean;
  /** `work` is running for this dataset. */
  working: boolean;
  /** Tokenizers that have a batch of this dataset's samples in their worker. */
  readonly counting: Set<TokenizerId>;
}

/** Exact token counts run in a worker_thread; the server sends it samples in batches of this many. */
const COUNT_BATCH = 2000;
/** One worker_thread per tokenizer, so two targets' tokenizers count in parallel. */
const tokenWorkers = new Map<TokenizerId, TokenWorker>();
let tokenWorkerFailed = false;

const datasets = new Map<string, OpenDataset>();

/** Above this size a dataset's first lint is published before duplicates are looked for. */
const LARGE_DATASET_CHARS = 8 * 1024 * 1024;
/**
 * Analysis and duplicate indexing run in slices of about this many milliseconds,
 * with a turn of the event loop between them: edits, hovers and other requests
 * are served while a large file is read, instead of waiting seconds.
 */
const SLICE_MS = 25;
let rulesDocUri = '';
let canPullConfiguration = false;
let canRegisterConfiguration = false;
let workspaceRoots: string[] = [];

const SEVERITY: Record<Diagnostic['severity'], DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  information: DiagnosticSeverity.Information,
  hint: DiagnosticSeverity.Hint,
};

/** Core diagnostics are reused across lints while their line is unchanged; so are their LSP twins. */
const lspCache = new WeakMap<Diagnostic, LspDiagnostic>();

function toLspCached(uri: string, d: Diagnostic): LspDiagnostic {
  let out = lspCache.get(d);
  if (out === undefined) lspCache.set(d, (out = toLsp(uri, d)));
  return out;
}

export function toLsp(uri: string, d: Diagnostic): LspDiagnostic {
  const out: LspDiagnostic = {
    range: { start: { line: d.line, character: d.column }, end: { line: d.endLine, character: d.endColumn } },
    severity: SEVERITY[d.severity],
    code: d.code,
    source: 'sft-studio',
    message: d.message,
  };
  // Target diagnostics name their target in the message ("… of OpenAI gpt-4.1-mini"); `data` carries its id.
  if (d.target !== undefined) out.data = { target: d.target };
  if (rulesDocUri) out.codeDescription = { href: `${rulesDocUri}#${ruleAnchor(d.code)}` };
  if (d.related) {
    out.relatedInformation = d.related.map((r) => ({
      location: { uri: r.file !== undefined ? pathToFileURL(r.file).toString() : uri, range: { start: { line: r.line, character: 0 }, end: { line: r.line, character: 0 } } },
      message: r.message,
    }));
  }
  return out;
}

async function settingsFor(uri: string): Promise<RawSettings> {
  if (!canPullConfiguration) return {};
  const value: unknown = await connection.workspace.getConfiguration({ scopeUri: uri, section: SETTINGS_SECTION });
  return typeof value === 'object' && value !== null ? (value as RawSettings) : {};
}

function pathOf(uri: string): string {
  try {
    return uri.startsWith('file:') ? fileURLToPath(uri) : decodeURIComponent(new URL(uri).pathname);
  } catch {
    return uri;
  }
}

async function optionsFor(uri: string): Promise<LintOptions> {
  const { options, problems } = resolveOptions(await settingsFor(uri), pathOf(uri));
  for (const p of problems) connection.console.warn(`setting sftStudio.${p.setting}: ${p.message}`);
  return options;
}

/** VS Code strips a UTF-8 BOM before the text reaches us; read it from disk. */
async function fileHasBom(uri: string): Promise<boolean> {
  if (!uri.startsWith('file:')) return false;
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(fileURLToPath(uri), 'r');
    const buf = Buffer.alloc(3);
    const { bytesRead } = await handle.read(buf, 0, 3, 0);
    return bytesRead === 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf;
  } catch {
    return false;
  } finally {
    await handle?.close();
  }
}

function lintNow(ds: OpenDataset): void {
  ds.scheduled = false;
  const result = ds.doc.lint();
  ds.last = result;
  void connection.sendDiagnostics({ uri: ds.uri, version: ds.version, diagnostics: result.diagnostics.map((d) => toLspCached(ds.uri, d)) });
  const s = result.summary;
  void connection.sendNotification(DatasetSummaryNotification, { ...s, uri: ds.uri, version: ds.version, format: s.format ?? null });
  countExactTokens(ds);
}

/**
 * Count the samples of the targets' tokenizers exactly, off the main thread: one
 * worker per tokenizer, one batch at a time each; each answer is stored by line
 * id and the file linted again, so the estimates shown while typing are
 * replaced by exact counts.
 */
function countExactTokens(ds: OpenDataset): void {
  if (tokenWorkerFailed) return;
  for (const tokenizer of ds.doc.exactTokenizers()) {
    if (tokenizer === 'estimate' || ds.counting.has(tokenizer)) continue;
    const batch = ds.doc.pendingExact(tokenizer, COUNT_BATCH);
    if (batch.length === 0) continue;
    const format = ds.doc.context().format;
    const samples = batch.map((p) => turnsOfLine(ds.doc.lineText(p.line), format)?.turns.map((t) => t.text) ?? []);
    let worker = tokenWorkers.get(tokenizer);
    if (worker === undefined) tokenWorkers.set(tokenizer, (worker = new TokenWorker(path.join(__dirname, 'tokenWorker.js'))));
    ds.counting.add(tokenizer);
    worker.count(tokenizer, samples).then(
      ({ counts }) => {
        ds.counting.delete(tokenizer);
        if (datasets.get(ds.uri) !== ds) return;
        batch.forEach((p, k) => ds.doc.setExactTokens(tokenizer, p.id, counts[k] as number));
        schedule(ds);
      },
      (err: unknown) => {
        ds.counting.delete(tokenizer);
        tokenWorkerFailed = true;
        connection.console.error(`exact token counts are off (estimates stay): ${err instanceof Error ? err.message : String(err)}`);
      },
    );
  }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Lint on the next turn of the event loop, so a burst of changes is linted once. */
function schedule(ds: OpenDataset): void {
  ds.scheduled = true;
  if (ds.working) return; // the running `work` sees the flag
  ds.working = true;
  setImmediate(() => void work(ds));
}

/**
 * Brings a dataset's diagnostics up to date a slice at a time: analyses changed
 * lines and publishes, then indexes deferred duplicates (a large file's) and
 * publishes again when they are all in. An edit that arrives between slices is
 * analysed and published at once, with the duplicates found so far. Work stops
 * when the dataset is closed or replaced (its entry in `datasets` changes).
 */
async function work(ds: OpenDataset): Promise<void> {
  try {
    for (;;) {
      if (datasets.get(ds.uri) !== ds) return;
      if (ds.scheduled) {
        if (!ds.doc.analyzePending(SLICE_MS)) {
          await nextTurn();
          continue;
        }
        lintNow(ds);
      }
      if (ds.doc.duplicatesIndexed) return;
      if (ds.doc.indexDuplicates(SLICE_MS)) ds.scheduled = true; // all in: publish them
      await nextTurn();
    }
  } finally {
    ds.working = false;
  }
}

/** Up to date for a request (hover, code actions) if that takes a slice at most; else answers from what is known. */
function catchUp(ds: OpenDataset): void {
  if (ds.scheduled && ds.doc.analyzePending(SLICE_MS)) lintNow(ds);
}

connection.onInitialize((params: InitializeParams): InitializeResult => {
  const init = params.initializationOptions as Partial<ServerInitializationOptions> | undefined;
  rulesDocUri = init?.rulesDocUri ?? '';
  canPullConfiguration = params.capabilities.workspace?.configuration === true;
  workspaceRoots = (params.workspaceFolders ?? []).filter((f) => f.uri.startsWith('file:')).map((f) => fileURLToPath(f.uri));
  canRegisterConfiguration = params.capabilities.workspace?.didChangeConfiguration?.dynamicRegistration === true;
  return {
    capabilities: {
      textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
      hoverProvider: true,
      codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix, CodeActionKind.RefactorRewrite, FIX_ALL_KIND] },
    },
    serverInfo: { name: 'sft-studio' },
  };
});

connection.onInitialized(() => {
  if (canPullConfiguration && canRegisterConfiguration) void connection.client.register(DidChangeConfigurationNotification.type, { section: SETTINGS_SECTION });
});

connection.onDidOpenTextDocument(async ({ textDocument }) => {
  if (textDocument.languageId !== LANGUAGE_ID) return;
  const [options, bom] = await Promise.all([optionsFor(textDocument.uri), fileHasBom(textDocument.uri)]);
  // A large dataset gets its rule diagnostics first; duplicate detection (the slow part) follows.
  const large = options.duplicates && textDocument.text.length > LARGE_DATASET_CHARS;
  const ds: OpenDataset = {
    uri: textDocument.uri, version: textDocument.version, doc: new DatasetDocument(textDocument.text, options, bom),
    options, last: undefined, scheduled: false, working: false, counting: new Set(),
  };
  if (large) ds.doc.deferDuplicates();
  datasets.set(ds.uri, ds);
  schedule(ds);
  await refreshPartner(ds);
  await refreshDependents(ds);
});

/** The workspace folder a file is in, for paths in settings. */
function rootOf(file: string): string | undefined {
  return workspaceRoots.filter((r) => file.startsWith(r + path.sep)).sort((a, b) => b.length - a.length)[0];
}

/** Find the other split of a dataset (validation for training, and back) and index its samples. */
async function refreshPartner(ds: OpenDataset): Promise<void> {
  if (!ds.uri.startsWith('file:')) return;
  const file = fileURLToPath(ds.uri);
  const partner = findPartner(file, ds.options.pairs, rootOf(file), existsSync);
  if (partner === undefined) {
    if (ds.partner !== undefined) {
      ds.partner = undefined;
      ds.doc.setPartner(undefined);
      schedule(ds);
    }
    return;
  }
  // Open in the editor, with the same duplicate settings and its samples all indexed: ask its document.
  const pairWithOpen = (): boolean => {
    const open = openDatasetOf(partner);
    if (open === undefined || open === ds || !open.doc.duplicatesEnabled || !open.doc.duplicatesIndexed) return false;
    if (JSON.stringify(open.doc.dedupeOptions) !== JSON.stringify(ds.options.dedupe)) return false;
    ds.partner = partner;
    ds.partnerOpen = true;
    ds.doc.setPartner(new OpenDocumentPartner(partner, open.doc));
    schedule(ds);
    return true;
  };
  if (pairWithOpen()) return;
  let text: string;
  try {
    text = await fs.readFile(partner, 'utf8');
  } catch (err) {
    connection.console.warn(`cannot read ${partner}, the other split of ${file}: ${String(err)}`);
    return;
  }
  if (datasets.get(ds.uri) !== ds) return;
  if (pairWithOpen()) return; // it was opened while the file was read
  ds.partner = partner;
  ds.partnerOpen = false;
  ds.doc.setPartner(new PartnerIndex(partner, text.replace(/^\uFEFF/, '').split(/\r?\n/), ds.options.dedupe));
  schedule(ds);
}

/** The open dataset of a file on disk, if it is open in the editor. */
function openDatasetOf(file: string): OpenDataset | undefined {
  for (const other of datasets.values()) if (other.uri.startsWith('file:') && pathOf(other.uri) === file) return other;
  return undefined;
}

/** Open datasets whose other split is `ds` (read from its open document). */
function dependentsOf(ds: OpenDataset): OpenDataset[] {
  if (!ds.uri.startsWith('file:')) return [];
  const file = pathOf(ds.uri);
  return [...datasets.values()].filter((other) => other !== ds && other.partner === file);
}

/** Datasets that pair with `ds`'s file look for it again (it was opened or closed: its document or its file). */
async function refreshDependents(ds: OpenDataset): Promise<void> {
  if (!ds.uri.startsWith('file:')) return;
  const file = pathOf(ds.uri);
  for (const other of [...datasets.values()]) {
    if (other === ds) continue;
    if (other.partner === file || (other.partner === undefined && other.uri.startsWith('file:') && conventionalPartners(pathOf(other.uri)).includes(file))) await refreshPartner(other);
  }
}

/** Dedupe texts of the lines an edit replaces, in `doc` as it is now. */
function samplesIn(doc: DatasetDocument, first: number, last: number): DedupeText[] {
  const out: DedupeText[] = [];
  for (let i = first; i <= last && i < doc.lineCount; i++) {
    const s = dedupeTextOfLine(doc.lineText(i), doc.dedupeOptions.turns);
    if (s !== undefined) out.push(s);
  }
  return out;
}

connection.onDidChangeTextDocument(({ textDocument, contentChanges }) => {
  const ds = datasets.get(textDocument.uri);
  if (!ds) return;
  // Datasets pairing with this one through its open document: what the edit changes, before and after.
  const dependents = dependentsOf(ds).filter((d) => d.partnerOpen === true);
  let changed: DedupeText[] | undefined = dependents.length > 0 ? [] : undefined;
  for (const change of contentChanges) {
    if ('range' in change) {
      const { start, end } = change.range;
      if (changed !== undefined) changed.push(...samplesIn(ds.doc, start.line, end.line));
      ds.doc.applyEdit({ startLine: start.line, startCharacter: start.character, endLine: end.line, endCharacter: end.character, text: change.text });
      if (changed !== undefined) changed.push(...samplesIn(ds.doc, start.line, start.line + change.text.split('\n').length - 1));
    } else {
      ds.doc.setText(change.text);
      changed = undefined;
    }
  }
  ds.version = textDocument.version;
  schedule(ds);
  for (const d of dependents) {
    d.doc.partnerChanged(changed);
    schedule(d);
  }
});

connection.onDidSaveTextDocument(async ({ textDocument }) => {
  const ds = datasets.get(textDocument.uri);
  if (!ds) return;
  ds.doc.setBom(await fileHasBom(textDocument.uri));
  schedule(ds);
});

/**
 * A dataset changed on disk (another tool, the BOM fix, a save): its bytes may have changed
 * without its text, and it may be the other split of an open dataset.
 */
connection.onDidChangeWatchedFiles(async ({ changes }) => {
  for (const change of changes) {
    const ds = datasets.get(change.uri);
    if (ds) {
      ds.doc.setBom(await fileHasBom(ds.uri));
      schedule(ds);
    }
    if (!change.uri.startsWith('file:')) continue;
    const changed = fileURLToPath(change.uri);
    for (const other of datasets.values()) {
      if (other.partner === changed || (other.partner === undefined && other.uri.startsWith('file:') && conventionalPartners(fileURLToPath(other.uri)).includes(changed))) {
        await refreshPartner(other);
      }
    }
  }
});

connection.onDidCloseTextDocument(async ({ textDocument }) => {
  const ds = datasets.get(textDocument.uri);
  if (!ds || !datasets.delete(textDocument.uri)) return;
  void connection.sendDiagnostics({ uri: textDocument.uri, diagnostics: [] });
  await refreshDependents(ds); // back to the file on disk (unsaved edits are gone)
});

connection.onDidChangeConfiguration(async () => {
  for (const ds of datasets.values()) {
    ds.options = await optionsFor(ds.uri);
    ds.doc.setOptions(ds.options);
    schedule(ds);
    await refreshPartner(ds);
  }
});

connection.onHover(({ textDocument, position }) => {
  const ds = datasets.get(textDocument.uri);
  if (!ds || position.line >= ds.doc.lineCount) return null;
  catchUp(ds);
  const value = hoverMarkdown(ds.doc, position.line, ds.options, ds.last?.diagnostics ?? []);
  if (value === undefined) return null;
  return {
    contents: { kind: MarkupKind.Markdown, value },
    range: { start: { line: position.line, character: 0 }, end: { line: position.line, character: ds.doc.lineText(position.line).length } },
  };
});

connection.onCodeAction((params: CodeActionParams): CodeAction[] => {
  const ds = datasets.get(params.textDocument.uri);
  if (!ds) return [];
  catchUp(ds);
  const tooLong = (ds.last?.diagnostics ?? []).filter((d) => d.code === 'too-long').map((d) => d.line);
  return codeActions(ds.doc, ds.uri, ds.version, params, {
    lines: tooLong,
    existingText: (target) => {
      if (!target.startsWith('file:')) return undefined;
      try {
        return readFileSync(fileURLToPath(target), 'utf8');
      } catch {
        return undefined;
      }
    },
  });
});

connection.onRequest(ConvertDatasetRequest, ({ uri, to }) => {
  const ds = datasets.get(uri);
  if (!ds) throw new ResponseError(ErrorCodes.InvalidParams, `${uri} is not an open dataset`);
  const lines = Array.from({ length: ds.doc.lineCount }, (_, i) => ds.doc.lineText(i));
  const r = convertLines(lines, to, serializeLike);
  return { text: r.lines.join('\n'), converted: r.converted, problems: r.problems.map((p) => ({ line: p.line, lost: p.lost })) };
});

connection.listen();
