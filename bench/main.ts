/**
 * `npm run bench`: the language service's speed and memory on a generated
 * 100,000-line dataset, each figure printed beside a baseline measured in the
 * same run.
 *
 *   1. Full lint in the CLI (streamed) vs. reading the file and JSON.parse of every line.
 *   2. Re-lint after a one-character edit: in the document model, and end to end
 *      through the real language server over stdio (didChange → publishDiagnostics).
 *   3. Memory the server holds for the document vs. the file's size.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  DidChangeTextDocumentNotification, DidOpenTextDocumentNotification, InitializeRequest, InitializedNotification, PublishDiagnosticsNotification,
  PublishDiagnosticsParams, StreamMessageReader, StreamMessageWriter, createProtocolConnection,
} from 'vscode-languageserver-protocol/node';
import { lintFile } from '../src/cli/lintFile';
import { DatasetDocument } from '../src/core/document';
import { DEFAULT_OPTIONS, resolveOptions } from '../src/core/options';
import type { countSample } from '../src/tokenize/counters';
import { TokenWorker } from '../src/tokenize/client';
import { ConfigurationRequest } from 'vscode-languageserver-protocol/node';
import { DatasetSummaryNotification } from '../src/shared/protocol';
import { runDedupeBench } from './dedupe';
import { rng, writeDataset } from './generate';
import { runHardSamplesBench } from './hardSamples';

const LINES = Number(process.env.BENCH_LINES ?? 100_000);
const ROOT = path.resolve(__dirname, '..');
const DATA = path.join(ROOT, 'bench', 'data');
const FILE = path.join(DATA, `dataset-${LINES}.jsonl`);
const REPEAT = 3;

const ms = (x: number) => `${x.toFixed(x < 10 ? 2 : 0)} ms`;
const mb = (x: number) => `${(x / (1024 * 1024)).toFixed(1)} MB`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

async function best(fn: () => unknown | Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < REPEAT; i++) {
    gc();
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return Math.min(...times);
}

function baselineParse(file: string): number {
  const text = readFileSync(file, 'utf8');
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    try {
      JSON.parse(line);
      n++;
    } catch {
      n--;
    }
  }
  return n;
}

async function serverRoundTrip(text: string, editLines: number[]): Promise<{ open: number; edits: number[] }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'server.js'), '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const conn = createProtocolConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
  let waiting: ((p: PublishDiagnosticsParams) => void) | undefined;
  conn.onNotification(PublishDiagnosticsNotification.type, (p) => waiting?.(p));
  conn.listen();
  const next = (version: number) => new Promise<void>((resolve) => {
    waiting = (p) => {
      if (p.version === version) resolve();
    };
  });
  await conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, workspaceFolders: null, capabilities: {} });
  await conn.sendNotification(InitializedNotification.type, {});
  const uri = 'file:///bench/dataset.jsonl';
  let t = performance.now();
  let done = next(1);
  await conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'jsonl', version: 1, text } });
  await done;
  const open = performance.now() - t;
  const edits: number[] = [];
  let version = 1;
  for (const line of editLines) {
    version++;
    done = next(version);
    t = performance.now();
    await conn.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri, version }, contentChanges: [{ range: { start: { line, character: 5 }, end: { line, character: 5 } }, text: 'x' }],
    });
    await done;
    edits.push(performance.now() - t);
  }
  conn.dispose();
  child.kill();
  return { open, edits };
}

async function main(): Promise<void> {
  mkdirSync(DATA, { recursive: true });
  if (!existsSync(FILE)) {
    process.stdout.write(`generating ${LINES.toLocaleString('en-US')} lines → ${path.relative(ROOT, FILE)}\n`);
    await writeDataset(FILE, LINES);
  }
  const size = statSync(FILE).size;
  process.stdout.write(`dataset: ${LINES.toLocaleString('en-US')} lines, ${mb(size)}; best of ${REPEAT} runs; node ${process.version}\n\n`);
  if (process.env.BENCH_ONLY === 'targets') {
    await targetsBench(readFileSync(FILE, 'utf8'));
    return;
  }

  // 1. Full lint vs. bare JSON.parse.
  const base = await best(() => baselineParse(FILE));
  let diagnostics = 0;
  const rulesOnly = await best(async () => {
    diagnostics = (await lintFile(FILE, { ...DEFAULT_OPTIONS, duplicates: false })).diagnostics.length;
  });
  let withDup = 0;
  const full = await best(async () => {
    withDup = (await lintFile(FILE, DEFAULT_OPTIONS)).diagnostics.length;
  });
  process.stdout.write('1. full lint (CLI, streamed)\n');
  process.stdout.write(`   baseline: read + JSON.parse of every line   ${ms(base)}\n`);
  process.stdout.write(`   sft-studio lint --no-duplicates            ${ms(rulesOnly)}  (${diagnostics.toLocaleString('en-US')} diagnostics)  ratio ${(rulesOnly / base).toFixed(2)}× (target ≤ 3×)\n`);
  process.stdout.write(`   sft-studio lint (with duplicates)          ${ms(full)}  (${withDup.toLocaleString('en-US')} diagnostics)  ratio ${(full / base).toFixed(2)}×\n\n`);

  // 3 (measured first, on a clean heap). Memory of the server's document model.
  gc();
  const before = process.memoryUsage();
  let text: string | undefined = readFileSync(FILE, 'utf8');
  const doc = new DatasetDocument(text, DEFAULT_OPTIONS);
  const t0 = performance.now();
  const first = doc.lint();
  const firstLint = performance.now() - t0;
  text = undefined; // the document keeps what it needs
  gc();
  const after = process.memoryUsage();
  const held = after.heapUsed + after.external + after.arrayBuffers - (before.heapUsed + before.external + before.arrayBuffers);

  // 2. Re-lint after a one-character edit.
  const rand = rng(7);
  const editLines = Array.from({ length: 50 }, () => Math.floor(rand() * LINES));
  const inProcess: number[] = [];
  for (const line of editLines) {
    const t = performance.now();
    doc.applyEdit({ startLine: line, startCharacter: 5, endLine: line, endCharacter: 5, text: 'x' });
    doc.lint();
    inProcess.push(performance.now() - t);
  }
  const fullText = readFileSync(FILE, 'utf8');
  const rt = await serverRoundTrip(fullText, editLines);
  process.stdout.write('2. re-lint after a one-character edit (median of 50 edits on random lines)\n');
  process.stdout.write(`   baseline: first full lint of the document   ${ms(firstLint)}  (${first.diagnostics.length.toLocaleString('en-US')} diagnostics)\n`);
  process.stdout.write(`   document model: edit + re-lint            ${ms(median(inProcess))}  (max ${ms(Math.max(...inProcess))}; ${(firstLint / median(inProcess)).toFixed(0)}× faster than a full lint; target < 20 ms)\n`);
  process.stdout.write(`   language server over stdio: didChange → publishDiagnostics ${ms(median(rt.edits))}  (max ${ms(Math.max(...rt.edits))}; open → first publish ${ms(rt.open)})\n\n`);

  process.stdout.write('3. memory held by the server for the document\n');
  process.stdout.write(`   baseline: file size                         ${mb(size)}\n`);
  process.stdout.write(`   text + per-line analyses after a full lint  ${mb(held)}  (${(held / size).toFixed(2)}× the file; target < 3×)\n\n`);

  if (process.env.BENCH_SKIP_HARD !== '1') runHardSamplesBench(fullText, REPEAT);
  await targetsBench(fullText);

  if (process.env.BENCH_SKIP_DEDUPE !== '1') await runDedupeBench(FILE);
}

/**
 * 5. Targets with exact token counts (Gemma 3 vocabulary for Vertex AI Gemini,
 * o200k_base for OpenAI) against the same lint without a target.
 */
async function targetsBench(text: string): Promise<void> {
  const targets = 'vertex:gemini-2.5-flash,openai:gpt-4.1-mini';
  const plain = { ...DEFAULT_OPTIONS, duplicates: false };
  const withTargets = { ...resolveOptions({ target: targets }, FILE).options, duplicates: false };
  // As the command line does: one token worker per tokenizer, counting beside the parsing.
  const workers = new Map<string, TokenWorker>();
  const exact = async (tk: Parameters<typeof countSample>[0], samples: readonly (readonly string[])[]) => {
    let w = workers.get(tk);
    if (w === undefined) workers.set(tk, (w = new TokenWorker(path.join(ROOT, 'dist', 'tokenWorker.js'))));
    return (await w.count(tk, samples)).counts;
  };
  const base = await best(() => lintFile(FILE, plain));
  let firstRun = 0;
  const t = performance.now();
  await lintFile(FILE, withTargets, undefined, exact);
  firstRun = performance.now() - t;
  let summary = '';
  const counted = await best(async () => {
    const r = await lintFile(FILE, withTargets, undefined, exact);
    summary = r.summary.targets.map((x) => `${x.target} ${x.tokens.toLocaleString('en-US')} tokens, ${x.counted.toLocaleString('en-US')} samples counted`).join('; ');
  });
  // Every sample counted (one run, only with BENCH_EXACT_ALL=1: it tokenizes 100,000 samples twice, minutes).
  let countedAll: number | undefined;
  let all = '';
  if (process.env.BENCH_EXACT_ALL === '1') {
    const t1 = performance.now();
    const r = await lintFile(FILE, withTargets, undefined, exact, true);
    countedAll = performance.now() - t1;
    all = r.summary.targets.map((x) => `${x.target} ${x.tokens.toLocaleString('en-US')} tokens`).join('; ');
  }
  const estimated = await best(() => lintFile(FILE, withTargets));
  await Promise.all([...workers.values()].map((w) => w.dispose()));
  process.stdout.write(`5. targets (${targets}), CLI --no-duplicates\n`);
  process.stdout.write(`   baseline: lint without a target             ${ms(base)}\n`);
  process.stdout.write(`   with the targets, estimated counts         ${ms(estimated)}  ratio ${(estimated / base).toFixed(2)}×\n`);
  process.stdout.write(`   with the targets, exact counts (CLI: long samples + calibration, in token workers) ${ms(counted)}  ratio ${(counted / base).toFixed(2)}× (target ≤ 2×); first run, starting the workers and loading the vocabularies: ${ms(firstRun)}\n`);
  process.stdout.write(`      ${summary}\n`);
  if (countedAll !== undefined) {
    process.stdout.write(`   every sample counted exactly (one run)     ${ms(countedAll)}  ratio ${(countedAll / base).toFixed(2)}×\n`);
    process.stdout.write(`      ${all}\n`);
  }
  // The editor: the first publish (estimates), then the corrections as the token worker counts batches of samples.
  const rt = await serverExactRoundTrip(text, targets, 10_000);
  process.stdout.write(`   language server: open → first publish ${ms(rt.first)} (estimates); → first ${rt.samples.toLocaleString('en-US')} samples counted exactly for both targets in the token worker ${ms(rt.exact)}`);
  process.stdout.write(` (${Math.round(rt.samples / ((rt.exact - rt.first) / 1000)).toLocaleString('en-US')} samples/s for both tokenizers; edits stay served meanwhile)\n\n`);
}

async function serverExactRoundTrip(text: string, target: string, samples: number): Promise<{ first: number; exact: number; samples: number }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'server.js'), '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const conn = createProtocolConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
  const settings = { target, duplicates: { enabled: false } };
  conn.onRequest(ConfigurationRequest.type, (p) => p.items.map(() => settings));
  let onFirst: (() => void) | undefined;
  let onExact: (() => void) | undefined;
  conn.onNotification(PublishDiagnosticsNotification.type, () => onFirst?.());
  conn.onNotification(DatasetSummaryNotification, (s) => {
    if (s.targets.length > 0 && s.targets.every((x) => x.counted >= samples)) onExact?.();
  });
  conn.listen();
  await conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, workspaceFolders: null, capabilities: { workspace: { configuration: true } } });
  await conn.sendNotification(InitializedNotification.type, {});
  const first = new Promise<number>((resolve) => (onFirst = () => resolve(performance.now())));
  const exact = new Promise<number>((resolve) => (onExact = () => resolve(performance.now())));
  const t = performance.now();
  await conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: 'file:///bench/targets.jsonl', languageId: 'jsonl', version: 1, text } });
  const [a, b] = await Promise.all([first, exact]);
  conn.dispose();
  child.kill();
  return { first: a - t, exact: b - t, samples };
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
