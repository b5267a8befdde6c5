/**
 * Lint one file from disk as a stream: memory stays flat whatever the file's
 * size. Each line is analysed once as it passes; the few lines that need the
 * whole file's context (another format than the file's, an unusual system
 * instruction, no format of their own) are read again by offset at the end.
 */
import { closeSync, createReadStream, openSync, promises as fs, readSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { LineAnalysis, analyzeLine } from '../core/analyze';
import {
  Diagnostic, FileContext, FileStats, LintSummary, TargetTokens, blankLineDiagnostic, bomDiagnostic, contextDiagnostics, duplicateDiagnostic, spansFromText, crlfDiagnostic, summarize, toDiagnostic,
} from '../core/document';
import type { LintOptions } from '../core/options';
import { Cluster, DedupeText, DuplicateIndex, dedupeText, dedupeTextOfLine } from '../core/dedupe';
import { FORMATS, FORMAT_ORDER, FormatId } from '../core/formats';
import { PartnerIndex, leakageDiagnostic } from '../core/leakage';
import { Locator, Span } from '../core/locate';
import type { Turn } from '../core/formats';
import { TokenizerId, targetDatasetDiagnostics } from '../core/targets';

/**
 * Exact token counts of samples (each given as its turns' texts) with a tokenizer.
 * The command line hands it to token workers, so counting runs beside the parsing.
 */
export type ExactCounter = (tokenizer: Exclude<TokenizerId, 'estimate'>, samples: readonly (readonly string[])[]) => Promise<readonly number[]>;

/** Samples are sent to the counter in batches of this many. */
const COUNT_BATCH = 256;

export interface FileLintResult {
  readonly file: string;
  readonly diagnostics: Diagnostic[];
  readonly summary: LintSummary;
  readonly context: FileContext;
}

/** Growable typed array of line facts. */
class Column<T extends Float64Array | Uint8Array> {
  length = 0;
  constructor(private data: T, private readonly make: (n: number) => T) {}
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = this.make(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  get(i: number): number {
    return this.data[i] as number;
  }
}

const KIND_BLANK = 0, KIND_INVALID = 1, KIND_SAMPLE = 2;

/** What the file's counts learn from a line too large to read. */
const OVERSIZE: LineAnalysis = {
  kind: 'invalid', ownFormat: undefined, checkedAs: undefined, diagnostics: [], system: undefined, markerKey: undefined, turns: 0, chars: 0, tokens: 0, bytes: 0,
};
const NO_FORMAT = 255;

async function readLineAt(handle: fs.FileHandle, offset: number, length: number): Promise<string> {
  const buf = Buffer.alloc(length);
  await handle.read(buf, 0, length, offset);
  let text = buf.toString('utf8');
  if (text.endsWith('\r')) text = text.slice(0, -1);
  return text;
}

/**
 * Which samples the command line counts with a tokenizer (tokenizing a sample
 * costs tens of times parsing it): every sample whose estimate is over a quarter
 * of the smallest limit (so no sample over a limit is missed: the estimate is
 * off by far less than 4× for any text but long runs of emoji), and the first
 * 100 samples and every 500th, whose counts calibrate the estimates of the
 * others for the totals. `exactAll` counts every sample.
 */
const CANDIDATE_FACTOR = 4;
const CALIBRATION_FIRST = 100;
const CALIBRATION_EVERY = 500;

export async function lintFile(file: string, options: LintOptions, partner?: PartnerIndex, countExact?: ExactCounter, exactAll = false): Promise<FileLintResult> {
  let samplesSeen = 0;
  const minLimit = Math.min(...options.targets.map((t) => t.tokenLimit));
  const stats = new FileStats();
  const tokens = new TargetTokens(options.targets, 1024);
  const tokenizers = [...new Set(options.targets.map((t) => t.tokenizer))].filter((t): t is Exclude<TokenizerId, 'estimate'> => t !== 'estimate');
  /** Samples waiting for exact counts, and the counts per tokenizer as batches come back. */
  const toCount: { line: number; estimate: number; texts: readonly string[]; calibrates: boolean; format: FormatId | undefined }[] = [];
  const counted = new Map<TokenizerId, number[]>(tokenizers.map((t) => [t, []]));
  const batches: Promise<void>[] = [];
  let sent = 0;
  const sendBatch = () => {
    if (countExact === undefined || sent === toCount.length) return;
    const from = sent;
    const batch = toCount.slice(from).map((x) => x.texts);
    sent = toCount.length;
    for (const tk of tokenizers) {
      batches.push(countExact(tk, batch).then((counts) => {
        const into = counted.get(tk) as number[];
        counts.forEach((n, k) => (into[from + k] = n));
      }));
    }
  };
  const addTokens = (line: number, estimate: number, exact: ((tk: TokenizerId) => number | undefined) | undefined, calibrates: boolean, text: () => string, format: FormatId | undefined) => {
    const long = tokens.add(estimate, exact, calibrates);
    if (long.length === 0) return;
    const span = markerSpan(text().replace(/^\uFEFF/, ' '), false, format);
    for (const d of long) {
      const diag = toDiagnostic(line, { ...span, code: 'too-long', message: d.message, target: d.target }, options);
      if (diag) lineDiagnostics.push(diag);
    }
  };
  const firstWithSystem = new Map<number, number>();
  const kinds = new Column(new Uint8Array(1024), (n) => new Uint8Array(n));
  const formats = new Column(new Uint8Array(1024), (n) => new Uint8Array(n));
  const systems = new Column(new Float64Array(1024), (n) => new Float64Array(n));
  const offsets = new Column(new Float64Array(1024), (n) => new Float64Array(n));
  const lengths = new Column(new Float64Array(1024), (n) => new Float64Array(n));
  const lineDiagnostics: Diagnostic[] = [];
  let bom = false;
  let crlfCount = 0;
  let firstCrlf = -1;
  let lineNo = 0;
  let position = 0; // byte offset of the start of the pending line

  const pending: Buffer[] = [];
  let pendingBytes = 0;
  let oversize = false;

  // Duplicates: the index keeps no texts; it reads a line back from the file when it must compare it.
  const fd = openSync(file, 'r');
  const lineAt = (line: number, maxBytes = Number.POSITIVE_INFINITY): string => {
    const skip = line === 0 && bom ? 3 : 0;
    const buf = Buffer.alloc(Math.max(0, Math.min(maxBytes, lengths.get(line) - skip)));
    readSync(fd, buf, 0, buf.length, offsets.get(line) + skip);
    const text = buf.toString('utf8');
    return text.endsWith('\r') ? text.slice(0, -1) : text;
  };
  const dup = new DuplicateIndex({ ...options.dedupe, source: (id) => dedupeTextOfLine(lineAt(id), options.dedupe.turns) });

  const finishLine = (bytes: Buffer | undefined, byteLength: number): void => {
    const line = lineNo++;
    offsets.push(position);
    lengths.push(byteLength);
    position += byteLength + 1;
    if (bytes === undefined) {
      const mb = (byteLength / (1024 * 1024)).toFixed(1);
      const d = toDiagnostic(line, { start: 0, end: 1, code: 'line-too-large', message: `this line is ${mb} MB, over the ${(options.maxLineLength / (1024 * 1024)).toFixed(0)} MB limit for one sample: it was not checked` }, options);
      if (d) lineDiagnostics.push(d);
      kinds.push(KIND_INVALID);
      formats.push(NO_FORMAT);
      systems.push(NaN);
      stats.add(OVERSIZE);
      return;
    }
    let start = 0;
    if (line === 0 && bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
      bom = true;
      start = 3;
    }
    let end = bytes.length;
    if (end > start && bytes[end - 1] === 0x0d) {
      end--;
      crlfCount++;
      if (firstCrlf < 0) firstCrlf = line;
    }
    const slice = bytes.subarray(start, end);
    const text = slice.toString('utf8');
    if (!isUtf8(slice)) {
      const bad = text.indexOf('\ufffd');
      const d = toDiagnostic(line, { start: Math.max(0, bad), end: Math.max(1, bad + 1), code: 'invalid-utf8', message: 'this line holds bytes that are not valid UTF-8 (shown as �): re-encode the file as UTF-8' }, options);
      if (d) lineDiagnostics.push(d);
    }
    let sample: DedupeText | undefined;
    let turns: readonly Turn[] | undefined;
    const a = analyzeLine(text, options, undefined, options.duplicates || tokenizers.length > 0 ? (t) => {
      turns = t;
      if (options.duplicates) sample = dedupeText(t, options.dedupe.turns);
    } : undefined);
    if (a.kind === 'sample') {
      const texts = turns?.map((t) => t.text);
      // Counted exactly: every sample that could be near a limit, and a calibration sample of the rest.
      // Such samples wait for their counts (in the workers, beside the parsing); the others are added now.
      const sampleNo = samplesSeen++;
      const calibration = sampleNo < CALIBRATION_FIRST || sampleNo % CALIBRATION_EVERY === 0;
      const candidate = a.tokens * CANDIDATE_FACTOR > minLimit;
      if (countExact !== undefined && texts !== undefined && tokenizers.length > 0 && (calibration || candidate || exactAll)) {
        toCount.push({ line, estimate: a.tokens, texts, calibrates: calibration || exactAll, format: a.ownFormat });
        if (toCount.length - sent >= COUNT_BATCH) sendBatch();
      } else {
        addTokens(line, a.tokens, undefined, true, () => text, a.ownFormat);
      }
    }
    stats.add(a);
    if (sample !== undefined) dup.set(line, sample);
    kinds.push(a.kind === 'blank' ? KIND_BLANK : a.kind === 'invalid' ? KIND_INVALID : KIND_SAMPLE);
    formats.push(a.ownFormat !== undefined ? FORMAT_ORDER.indexOf(a.ownFormat) : NO_FORMAT);
    systems.push(a.system !== undefined ? a.system.hash : NaN);
    if (a.system !== undefined && !firstWithSystem.has(a.system.hash)) firstWithSystem.set(a.system.hash, line);
    // Whether a blank line is the file's last is known only at the end; a line
    // of no format of its own is checked again with the file's format.
    if (a.kind === 'blank' || (a.kind === 'sample' && a.ownFormat === undefined)) return;
    for (const ld of a.diagnostics) {
      const d = toDiagnostic(line, ld, options);
      if (d) lineDiagnostics.push(d);
    }
  };

  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, from);
      const end = nl < 0 ? chunk.length : nl;
      if (!oversize) {
        if (pendingBytes + (end - from) > options.maxLineLength) {
          oversize = true;
          pending.length = 0;
        } else if (end > from) {
          pending.push(chunk.subarray(from, end));
        }
      }
      pendingBytes += end - from;
      if (nl < 0) break;
      finishLine(oversize ? undefined : pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending), pendingBytes);
      pending.length = 0;
      pendingBytes = 0;
      oversize = false;
      from = nl + 1;
    }
  }
  finishLine(oversize ? undefined : Buffer.concat(pending), pendingBytes);
  // The exact counts: the last batch, then every sample that waited for them.
  sendBatch();
  await Promise.all(batches);
  toCount.forEach((x, k) => {
    addTokens(x.line, x.estimate, (tk) => counted.get(tk)?.[k], x.calibrates, () => lineAt(x.line), x.format);
    x.texts = [];
  });

  const ctx = stats.context(options.pinnedFormat);
  const out: Diagnostic[] = lineDiagnostics;
  const add = (line: number, d: Parameters<typeof toDiagnostic>[1], related?: Parameters<typeof toDiagnostic>[3]) => {
    const diag = toDiagnostic(line, d, options, related);
    if (diag) out.push(diag);
  };
  if (bom) add(0, bomDiagnostic());
  const handle = await fs.open(file, 'r');
  try {
    const fileFormatIndex = ctx.format !== undefined ? FORMAT_ORDER.indexOf(ctx.format) : NO_FORMAT;
    const lastLine = lineNo - 1;
    for (let i = 0; i < lineNo; i++) {
      const kind = kinds.get(i);
      if (kind === KIND_BLANK) {
        // The empty "line" after the final newline is not a blank line.
        if (i < lastLine || lengths.get(i) > 0) add(i, blankLineDiagnostic(lengths.get(i)));
        continue;
      }
      if (kind !== KIND_SAMPLE) continue;
      const fmt = formats.get(i);
      const sys = systems.get(i);
      const unknown = fmt === NO_FORMAT;
      const otherFormat = !unknown && fmt !== fileFormatIndex && fileFormatIndex !== NO_FORMAT;
      const otherSystem = !Number.isNaN(sys) && ctx.system !== undefined && sys !== ctx.system.hash;
      if (!unknown && !otherFormat && !otherSystem) continue;
      const text = await readLineAt(handle, offsets.get(i) + (i === 0 && bom ? 3 : 0), lengths.get(i) - (i === 0 && bom ? 3 : 0));
      const a = analyzeLine(text, options, ctx.format);
      if (unknown) for (const ld of a.diagnostics) add(i, ld);
      for (const ld of contextDiagnostics(a, ctx, spansFromText(a, () => text))) {
        const example = ld.code === 'inconsistent-system-instruction' && ctx.system ? firstWithSystem.get(ctx.system.hash) : undefined;
        add(i, ld, example !== undefined ? [{ line: example, message: 'the system instruction most samples use' }] : undefined);
      }
    }
    // Duplicate clusters: each member names its twins.
    const sortedMembers = new Map<number, readonly number[]>();
    const memberLines = (c: Cluster) => {
      let lines = sortedMembers.get(c.key);
      if (lines === undefined) sortedMembers.set(c.key, (lines = [...c.members].sort((x, y) => x - y)));
      return lines;
    };
    for (let i = 0; i < lineNo; i++) {
      if (kinds.get(i) !== KIND_SAMPLE || dup.clusterOf(i) === undefined) continue;
      const fmt = formats.get(i);
      const d = duplicateDiagnostic(dup, i, (x) => (x < lineNo ? x : undefined), markerSpan(lineAt(i, MARKER_WINDOW), lengths.get(i) > MARKER_WINDOW, fmt === NO_FORMAT ? undefined : FORMAT_ORDER[fmt]), memberLines);
      if (d !== undefined) add(i, d.diagnostic, d.related);
    }
    // Leakage: every sample looked up in the other split.
    if (partner !== undefined && options.duplicates) {
      for (let i = 0; i < lineNo; i++) {
        if (kinds.get(i) !== KIND_SAMPLE) continue;
        const text = lineAt(i);
        const twins = partner.find(dedupeTextOfLine(text, options.dedupe.turns));
        if (twins.length === 0) continue;
        const fmt = formats.get(i);
        const d = leakageDiagnostic(twins, partner.file, markerSpan(text, false, fmt === NO_FORMAT ? undefined : FORMAT_ORDER[fmt]));
        if (d !== undefined) add(i, d.diagnostic, d.related);
      }
    }
    if (options.targets.length > 0 && lineNo > 0) {
      const first = lineAt(0, MARKER_WINDOW);
      const fmt0 = formats.get(0);
      const span = kinds.get(0) === KIND_SAMPLE ? markerSpan(first, lengths.get(0) > MARKER_WINDOW, fmt0 === NO_FORMAT ? undefined : FORMAT_ORDER[fmt0]) : { start: 0, end: Math.min(1, first.length) };
      const facts = { samples: stats.samples, bytes: Math.max(0, position - 1), format: ctx.format, formatLabel: ctx.format !== undefined ? FORMATS[ctx.format].label : 'unknown format', split: options.split };
      for (const d of targetDatasetDiagnostics(facts, options.targets, span)) add(0, d);
    }
    if (firstCrlf >= 0) {
      const skip = firstCrlf === 0 && bom ? 3 : 0;
      const len = await lineLength(handle, offsets.get(firstCrlf) + skip, lengths.get(firstCrlf) - 1 - skip);
      add(firstCrlf, crlfDiagnostic(len, crlfCount));
    }
  } finally {
    await handle.close();
    closeSync(fd);
  }
  out.sort((x, y) => x.line - y.line || x.column - y.column);
  return { file, diagnostics: out, summary: summarize(ctx, stats.samples, out, tokens), context: ctx };
}

/** Length in UTF-16 units of a line known by its byte range (for ranges at a line's end). */
async function lineLength(handle: fs.FileHandle, offset: number, byteLength: number): Promise<number> {
  if (byteLength <= 0) return 0;
  if (byteLength > 1 << 20) return byteLength;
  return (await readLineAt(handle, offset, byteLength)).length;
}

/** Bytes of a line read back to place a duplicate's squiggle. */
const MARKER_WINDOW = 64 * 1024;

/**
 * Where a duplicate is squiggled: the key that gave its format away, as in the editor.
 * For a line longer than the window read back, the first occurrence of the key's text.
 */
function markerSpan(text: string, truncated: boolean, format: FormatId | undefined): Span {
  const key = format !== undefined ? FORMATS[format].markerKeys.find((k) => text.includes(`"${k}"`)) : undefined;
  if (truncated) {
    const at = key !== undefined ? text.indexOf(`"${key}"`) : -1;
    return at >= 0 ? { start: at, end: at + (key as string).length + 2 } : { start: 0, end: 1 };
  }
  const loc = new Locator(text.replace(/^\uFEFF/, ' '));
  return key !== undefined ? loc.key([key]) : loc.firstKey();
}

