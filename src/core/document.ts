/**
 * A dataset file as lines, linted incrementally: an edit re-analyses only the
 * lines it touched; file-level facts (the file's format, the usual system
 * instruction) are kept as running counts, so a re-lint after a keystroke costs
 * one line's analysis plus one pass over cached results.
 */
import { LineAnalysis, LineDiagnostic, analyzeLine, turnsOfLine } from './analyze';
import { FORMATS, FORMAT_ORDER, FormatId } from './formats';
import { Cluster, DedupeText, DuplicateIndex, DuplicateView, Twin, dedupeText, dedupeTextOfLine } from './dedupe';
import { Partner, leakageDiagnostic } from './leakage';
import { Locator, Span } from './locate';
import { LintOptions, effectiveSeverity } from './options';
import { RULE_IDS, RuleId, Severity } from './rules';
import { ResolvedTarget, TargetSummary, TokenDistribution, TokenizerId, costOf, distribution, targetDatasetDiagnostics, tooLongMessage } from './targets';

export interface RelatedLine {
  /** 0-based line in the same file unless `file` is given. */
  readonly line: number;
  readonly message: string;
  readonly file?: string;
}

/** A diagnostic with 0-based lines and UTF-16 columns, end exclusive. */
export interface Diagnostic {
  readonly line: number;
  readonly column: number;
  readonly endLine: number;
  readonly endColumn: number;
  readonly severity: Severity;
  readonly code: RuleId;
  readonly message: string;
  readonly related?: readonly RelatedLine[];
  /** The target ("provider:model") this diagnostic is for; none for the format rules. */
  readonly target?: string;
}

export type FormatSource = 'pinned' | 'detected' | 'none';

export interface FileContext {
  readonly format: FormatId | undefined;
  readonly source: FormatSource;
  readonly formatCounts: Readonly<Record<FormatId, number>>;
  /** Why the file has its format, for messages: "detected from 95 of 100 samples". */
  readonly formatReason: string;
  /** The system instruction most samples share, when there is a clear one. */
  readonly system: { readonly hash: number; readonly count: number; readonly withSystem: number; readonly preview: string } | undefined;
}

export interface LintSummary {
  readonly format: FormatId | undefined;
  readonly formatLabel: string;
  readonly formatSource: FormatSource;
  readonly samples: number;
  readonly errors: number;
  readonly warnings: number;
  readonly infos: number;
  /** Per target: tokens, trained tokens, cost, samples over the limit (empty when no target is chosen). */
  readonly targets: readonly TargetSummary[];
  /** Token lengths of the samples (the first target's counts, else estimates). */
  readonly distribution: TokenDistribution | null;
}

/** Running counts over a file's lines; add and remove keep them exact under edits. */
export class FileStats {
  readonly formatCounts = new Map<FormatId, number>();
  readonly systems = new Map<number, { count: number; preview: string }>();
  withSystem = 0;
  samples = 0;
  /** UTF-8 bytes of the non-blank lines, without line breaks. */
  bytes = 0;

  add(a: LineAnalysis): void {
    this.update(a, 1);
  }

  remove(a: LineAnalysis): void {
    this.update(a, -1);
  }

  private update(a: LineAnalysis, d: 1 | -1): void {
    if (a.kind === 'blank') return;
    this.samples += d;
    this.bytes += d * a.bytes;
    if (a.ownFormat !== undefined) this.formatCounts.set(a.ownFormat, (this.formatCounts.get(a.ownFormat) ?? 0) + d);
    if (a.system !== undefined) {
      this.withSystem += d;
      const s = this.systems.get(a.system.hash);
      if (s === undefined) this.systems.set(a.system.hash, { count: 1, preview: a.system.preview });
      else if (s.count + d === 0) this.systems.delete(a.system.hash);
      else s.count += d;
    }
  }

  context(pinned: FormatId | undefined): FileContext {
    const formatCounts = Object.fromEntries(FORMAT_ORDER.map((f) => [f, this.formatCounts.get(f) ?? 0])) as Record<FormatId, number>;
    let format: FormatId | undefined = pinned;
    let source: FormatSource = pinned !== undefined ? 'pinned' : 'none';
    if (format === undefined) {
      let best = 0;
      for (const f of FORMAT_ORDER) {
        if (formatCounts[f] > best) {
          best = formatCounts[f];
          format = f;
          source = 'detected';
        }
      }
    }
    let system: FileContext['system'];
    if (this.withSystem >= 3) {
      for (const [hash, s] of this.systems) {
        if (s.count * 2 > this.withSystem && s.count >= 2) system = { hash, count: s.count, withSystem: this.withSystem, preview: s.preview };
      }
    }
    const total = FORMAT_ORDER.reduce((n, f) => n + formatCounts[f], 0);
    const formatReason = source === 'pinned'
      ? 'pinned for this file in the sftStudio.formats setting'
      : format !== undefined ? `detected from ${formatCounts[format]} of ${total} samples` : 'no format detected';
    return { format, source, formatCounts, formatReason, system };
  }
}

const pct = (n: number, of: number) => `${Math.round((100 * n) / Math.max(1, of))} %`;

/** Where a line's file-level diagnostics go: its format's marker key, its system instruction. */
export interface ContextSpans {
  marker(): Span;
  system(): Span;
}

/** Spans found with a syntax tree of the line, built only when asked. */
export function spansFromText(a: LineAnalysis, text: () => string): ContextSpans {
  let loc: Locator | undefined;
  const locator = () => (loc ??= new Locator(text().replace(/^\uFEFF/, ' ')));
  return {
    marker: () => (a.markerKey !== undefined ? locator().key([a.markerKey]) : locator().firstKey()),
    system: () => (a.system !== undefined ? locator().value(a.system.path) : locator().firstKey()),
  };
}

/**
 * Diagnostics a line gets from the file around it: another format than the
 * file's, a system instruction unlike the usual one.
 */
export function contextDiagnostics(a: LineAnalysis, ctx: FileContext, spans: ContextSpans): LineDiagnostic[] {
  if (a.kind !== 'sample') return [];
  const out: LineDiagnostic[] = [];
  if (a.ownFormat !== undefined && ctx.format !== undefined && a.ownFormat !== ctx.format) {
    out.push({ ...spans.marker(), code: 'mixed-format', message: `this sample is ${FORMATS[a.ownFormat].label}, but the file is ${FORMATS[ctx.format].label} (${ctx.formatReason})` });
  }
  if (a.system !== undefined && ctx.system !== undefined && a.system.hash !== ctx.system.hash) {
    out.push({
      ...spans.system(), code: 'inconsistent-system-instruction',
      message: `this system instruction differs from the one ${ctx.system.count} of ${ctx.system.withSystem} samples (${pct(ctx.system.count, ctx.system.withSystem)}) use: "${ctx.system.preview}"`,
    });
  }
  return out;
}

const NO_DIAGNOSTICS: readonly Diagnostic[] = Object.freeze([]);

/** At most this many twins are linked from one duplicate diagnostic. */
const MAX_RELATED_TWINS = 20;

/**
 * The diagnostic of a sample that has twins: "duplicate of line N" or "near duplicate
 * of line N (similarity 0.91)", linked to every twin. Shared by the editor and the CLI.
 */
export function duplicateDiagnostic(
  view: DuplicateView, id: number, lineOf: (id: number) => number | undefined, span: Span,
  memberLines: (cluster: Cluster) => readonly number[],
): { diagnostic: LineDiagnostic; related: RelatedLine[] } | undefined {
  const own = lineOf(id);
  const cluster = view.clusterOf(id);
  if (own === undefined || cluster === undefined) return undefined;
  if (cluster.exact) {
    // A group of exact copies, possibly thousands: its members' lines, sorted once per cluster.
    const lines = memberLines(cluster);
    const others: number[] = [];
    for (const l of lines) {
      if (l !== own) others.push(l);
      if (others.length >= MAX_RELATED_TWINS) break;
    }
    if (others.length === 0) return undefined;
    const more = lines.length > 2 ? ` and ${lines.length - 2} more` : '';
    return {
      diagnostic: { ...span, code: 'duplicate', message: `duplicate of line ${(others[0] as number) + 1}${more}` },
      related: others.map((l) => ({ line: l, message: 'exact duplicate' })),
    };
  }
  const twins = view.twinsOf(id)
    .map((t) => ({ ...t, line: lineOf(t.id) }))
    .filter((t): t is Twin & { line: number } => t.line !== undefined)
    .sort((x, y) => Number(y.exact) - Number(x.exact) || y.similarity - x.similarity || x.line - y.line);
  const best = twins[0];
  if (best === undefined) return undefined;
  const related: RelatedLine[] = twins
    .slice(0, MAX_RELATED_TWINS)
    .map((t) => ({ line: t.line, message: t.exact ? 'exact duplicate' : `near duplicate (similarity ${t.similarity.toFixed(2)})` }));
  const exactCount = twins.filter((t) => t.exact).length;
  if (exactCount > 0) {
    const more = exactCount > 1 ? ` and ${exactCount - 1} more` : '';
    return { diagnostic: { ...span, code: 'duplicate', message: `duplicate of line ${best.line + 1}${more}` }, related };
  }
  const size = cluster.members.length;
  const clusterNote = size > 2 ? `; ${size} samples in its cluster` : '';
  return {
    diagnostic: { ...span, code: 'near-duplicate', message: `near duplicate of line ${best.line + 1} (similarity ${best.similarity.toFixed(2)})${clusterNote}` },
    related,
  };
}

export function toDiagnostic(line: number, d: LineDiagnostic, options: LintOptions, related?: readonly RelatedLine[]): Diagnostic | undefined {
  return withSeverity(line, d, effectiveSeverity(options, d.code), related);
}

function withSeverity(line: number, d: LineDiagnostic, severity: Severity | undefined, related?: readonly RelatedLine[]): Diagnostic | undefined {
  if (severity === undefined) return undefined;
  // Literal shapes only (no properties added later): these objects are made by the hundred thousand.
  if (d.target === undefined) {
    return related === undefined
      ? { line, column: d.start, endLine: line, endColumn: d.end, severity, code: d.code, message: d.message }
      : { line, column: d.start, endLine: line, endColumn: d.end, severity, code: d.code, message: d.message, related };
  }
  return related === undefined
    ? { line, column: d.start, endLine: line, endColumn: d.end, severity, code: d.code, message: d.message, target: d.target }
    : { line, column: d.start, endLine: line, endColumn: d.end, severity, code: d.code, message: d.message, related, target: d.target };
}

export function bomDiagnostic(): LineDiagnostic {
  return { start: 0, end: 1, code: 'bom', message: 'the file starts with a UTF-8 byte-order mark (BOM), which some loaders read as part of the first key: save it as UTF-8 without BOM' };
}

export function crlfDiagnostic(textLength: number, count: number): LineDiagnostic {
  return { start: Math.max(0, textLength - 1), end: textLength, code: 'crlf', message: `${count} line${count === 1 ? '' : 's'} end${count === 1 ? 's' : ''} with CRLF (Windows line endings); most tools expect LF` };
}

export function blankLineDiagnostic(textLength: number): LineDiagnostic {
  return { start: 0, end: textLength, code: 'blank-line', message: 'blank line between samples: many loaders fail on it or read it as an empty sample' };
}

export function countSeverities(diagnostics: readonly Diagnostic[]): { errors: number; warnings: number; infos: number } {
  let errors = 0, warnings = 0, infos = 0;
  for (const d of diagnostics) {
    if (d.severity === 'error') errors++;
    else if (d.severity === 'warning') warnings++;
    else infos++;
  }
  return { errors, warnings, infos };
}

export function summarize(ctx: FileContext, samples: number, diagnostics: readonly Diagnostic[], tokens?: TargetTokens): LintSummary {
  return {
    format: ctx.format,
    formatLabel: ctx.format !== undefined ? FORMATS[ctx.format].label : 'unknown format',
    formatSource: ctx.source,
    samples,
    ...countSeverities(diagnostics),
    targets: tokens?.summaries() ?? [],
    distribution: tokens?.distribution() ?? null,
  };
}

/**
 * Token counts of a file's samples per target, gathered as the lint passes each
 * sample: the too-long diagnostics, the totals and the distribution. Shared by
 * the editor and the CLI.
 */
export class TargetTokens {
  /** Per target: exact counts summed, estimates of the samples not counted, and the calibration sums. */
  private readonly exactSum: number[];
  private readonly uncountedEstimate: number[];
  private readonly calExact: number[];
  private readonly calEstimate: number[];
  private readonly counted: number[];
  private readonly over: number[];
  private lengths: Uint32Array;
  private count = 0;
  private sum = 0;
  private sumSq = 0;

  /** `buffer`: a buffer to reuse for the token lengths (the editor lints the same file again and again). */
  constructor(readonly targets: readonly ResolvedTarget[], expected: number, buffer?: Uint32Array) {
    this.exactSum = targets.map(() => 0);
    this.uncountedEstimate = targets.map(() => 0);
    this.calExact = targets.map(() => 0);
    this.calEstimate = targets.map(() => 0);
    this.counted = targets.map(() => 0);
    this.over = targets.map(() => 0);
    this.lengths = buffer !== undefined && buffer.length >= expected ? buffer : new Uint32Array(Math.max(16, expected));
  }

  /** The buffer of token lengths, to hand to the next lint. */
  get buffer(): Uint32Array {
    return this.lengths;
  }

  /**
   * One sample: its estimate and, per tokenizer, its exact count when known.
   * `calibrates`: whether its exact count may calibrate the estimates of the
   * samples not counted (false for samples counted because they were long).
   * Returns the too-long diagnostics (without a span: the caller places them).
   */
  add(estimate: number, exact: ((tokenizer: TokenizerId) => number | undefined) | undefined, calibrates = true): readonly { message: string; target: string }[] {
    let out: { message: string; target: string }[] | undefined;
    let first = estimate;
    const targets = this.targets;
    for (let k = 0; k < targets.length; k++) {
      const t = targets[k] as ResolvedTarget;
      const counted = t.tokenizer === 'estimate' || exact === undefined ? undefined : exact(t.tokenizer);
      const n = counted ?? estimate;
      if (counted === undefined) {
        this.uncountedEstimate[k] = (this.uncountedEstimate[k] as number) + estimate;
      } else {
        this.exactSum[k] = (this.exactSum[k] as number) + counted;
        this.counted[k] = (this.counted[k] as number) + 1;
        if (calibrates) {
          this.calExact[k] = (this.calExact[k] as number) + counted;
          this.calEstimate[k] = (this.calEstimate[k] as number) + estimate;
        }
      }
      if (k === 0) first = n;
      if (n > t.tokenLimit) {
        this.over[k] = (this.over[k] as number) + 1;
        (out ??= []).push({ target: t.id, message: tooLongMessage(n, counted !== undefined ? t.tokenizer : undefined, t) });
      }
    }
    if (this.count === this.lengths.length) {
      const grown = new Uint32Array(this.lengths.length * 2);
      grown.set(this.lengths);
      this.lengths = grown;
    }
    this.lengths[this.count++] = first;
    this.sum += first;
    this.sumSq += first * first;
    return out ?? NO_TOO_LONG;
  }

  summaries(): TargetSummary[] {
    const dist = this.distribution();
    return this.targets.map((t, k) => {
      // Samples not counted: their estimates, scaled by what the counted ones showed the estimate to be worth.
      const calEstimate = this.calEstimate[k] as number;
      const ratio = calEstimate > 0 ? (this.calExact[k] as number) / calEstimate : 1;
      const uncounted = this.uncountedEstimate[k] as number;
      const tokens = Math.round((this.exactSum[k] as number) + ratio * uncounted);
      const trainedTokens = tokens * t.epochs;
      return {
        target: t.id, label: t.label, tokens, exact: this.counted[k] === this.count, counted: this.counted[k] as number, epochs: t.epochs, trainedTokens,
        costUsd: costOf(trainedTokens, t), priceSource: t.priceSource ?? null, priceVerified: t.priceVerified, tokenLimit: Number.isFinite(t.tokenLimit) ? t.tokenLimit : null, overLimit: this.over[k] as number, distribution: k === 0 ? dist : null,
      };
    });
  }

  private dist: TokenDistribution | null | undefined;

  /** What the distribution depends on, cheaply: lengths with the same count, sum and sum of squares almost surely have the same quartiles. */
  get key(): string {
    return `${this.count}|${this.sum}|${this.sumSq}`;
  }

  /** Reuse the distribution of a previous lint whose key is the same (typing rarely changes a token count). */
  reuse(previous: { key: string; dist: TokenDistribution | null } | undefined): void {
    if (previous !== undefined && previous.key === this.key) this.dist = previous.dist;
  }

  /** Computed once (it reorders the lengths). */
  distribution(): TokenDistribution | null {
    if (this.dist === undefined) this.dist = distribution(this.lengths.subarray(0, this.count)) ?? null;
    return this.dist;
  }
}

const NO_TOO_LONG: readonly { message: string; target: string }[] = Object.freeze([]);

export interface LintResult {
  readonly diagnostics: Diagnostic[];
  readonly summary: LintSummary;
  readonly context: FileContext;
}

/** A position edit as LSP sends it: 0-based line and UTF-16 character. */
export interface TextEdit {
  readonly startLine: number;
  readonly startCharacter: number;
  readonly endLine: number;
  readonly endCharacter: number;
  readonly text: string;
}

/**
 * The editor's model of one dataset. Lines are kept with a trailing '\r' when
 * they end in CRLF, so positions inside a line are those the editor uses.
 */
export class DatasetDocument {
  private lines: string[];
  private results: (LineAnalysis | undefined)[];
  /** A stable id per line for the duplicate index: an edited line gets a new one, a moved line keeps its own. */
  private ids: number[];
  private nextId = 0;
  private dup: DuplicateIndex;
  private lineOfId = new Map<number, number>();
  private lineOfIdStale = true;
  private pendingDeletes: number[] = [];
  /** Ids that are in a duplicate cluster: the only lines whose duplicate diagnostics need a look. */
  private clustered = new Set<number>();
  /** A line's duplicate diagnostics, valid while its findings, its line and its closest twin's line stay. */
  private dupCache = new Map<number, { line: number; diagnostics: Diagnostic[] }>();
  /** The other split of the dataset, and each line's finding in it (by line id). */
  private partner: Partner | undefined;
  private leakCache = new Map<number, { line: number; diagnostics: readonly Diagnostic[] }>();
  private readonly stats = new FileStats();
  /** Lines from here on are analysed and linted without being in the duplicate index yet (see `deferDuplicates`). */
  private dupCursor = Infinity;
  /** Lines before this one are analysed (lines after it may be too): where `analyzePending` looks first. */
  private analyzedUpTo = 0;
  private fileFormat: FormatId | undefined;
  private crlfCount = 0;
  /** Located spans per analysis: replaced analyses (edited lines) drop out by themselves. */
  private readonly spans = new WeakMap<LineAnalysis, { marker?: Span; system?: Span }>();
  /** A line's own diagnostics with severities, reused while the line keeps its number and the options stay. */
  private materialized = new WeakMap<LineAnalysis, { line: number; diagnostics: Diagnostic[] }>();
  /** A line's file-level diagnostics, reused while the line, its number and the file context stay. */
  private contextual = new WeakMap<LineAnalysis, { line: number; key: string; diagnostics: Diagnostic[] }>();
  /** Exact token counts per tokenizer, by line id (an edited line gets a new id, so its count goes stale by itself). */
  private readonly exact = new Map<TokenizerId, Map<number, number>>();
  /** The token lengths of the last lint, reused as the next one's buffer. */
  private lengthsBuffer: Uint32Array | undefined;
  private lastDistribution: { key: string; dist: TokenDistribution | null } | undefined;

  constructor(text: string, private options: LintOptions, private bom = false) {
    if (text.charCodeAt(0) === 0xfeff) {
      this.bom = true;
    }
    this.lines = text.split('\n');
    this.results = new Array<LineAnalysis | undefined>(this.lines.length).fill(undefined);
    this.ids = this.lines.map(() => this.nextId++);
    this.dup = this.newDuplicateIndex();
    for (const l of this.lines) if (l.endsWith('\r')) this.crlfCount++;
  }

  get lineCount(): number {
    return this.lines.length;
  }

  lineText(line: number): string {
    const t = this.lines[line] ?? '';
    return t.endsWith('\r') ? t.slice(0, -1) : t;
  }

  private newDuplicateIndex(): DuplicateIndex {
    return new DuplicateIndex({ ...this.options.dedupe, expectedSize: this.lines.length, source: (id) => this.dedupeTextOf(id) });
  }

  /** What the duplicate index was given for a line, derived again from its text (the index keeps no texts). */
  private dedupeTextOf(id: number): DedupeText | undefined {
    const line = this.lineOfId.get(id);
    if (line === undefined || this.results[line]?.kind !== 'sample') return undefined;
    return dedupeTextOfLine(this.lineText(line), this.options.dedupe.turns, this.fileFormat);
  }

  /** The duplicate findings of the document, keyed by line ids (see `idOfLine`). */
  get duplicates(): DuplicateView {
    return this.dup;
  }

  /** Pair the document with the other split of its dataset (undefined: none). */
  setPartner(partner: Partner | undefined): void {
    this.partner = partner;
    this.leakCache.clear();
  }

  /**
   * The other split changed (it is open in the editor and was edited): `changed` holds
   * its samples before and after the edit (undefined: unknown, look again at every
   * line). Only lines with a finding (it names lines of the other split, which may
   * have moved) and lines similar to a changed sample are looked at again; the rest
   * cannot have gained or lost a twin. That needs every sample of this file in the
   * duplicate index; otherwise every line is looked at again.
   */
  partnerChanged(changed: readonly DedupeText[] | undefined): void {
    if (changed === undefined || !this.options.duplicates || !this.duplicatesIndexed) {
      this.leakCache.clear();
      return;
    }
    for (const [id, c] of this.leakCache) if (c.diagnostics.length > 0) this.leakCache.delete(id);
    for (const sample of changed) for (const twin of this.dup.query(sample)) this.leakCache.delete(twin.id);
  }

  /**
   * Lines of this document that hold `sample` (exactly or nearly), for a document of
   * the other split: exact copies first by line, then by similarity. Lines not
   * analysed yet are analysed first, so unsaved edits count.
   */
  linesHolding(sample: DedupeText | undefined): Twin[] {
    if (sample === undefined) return [];
    this.analyzePending(Number.POSITIVE_INFINITY);
    const out: Twin[] = [];
    for (const t of this.dup.query(sample)) {
      const line = this.lineOfId.get(t.id);
      if (line !== undefined) out.push({ id: line, similarity: t.similarity, exact: t.exact });
    }
    return out.sort((a, b) => Number(b.exact) - Number(a.exact) || b.similarity - a.similarity || a.id - b.id);
  }

  /** The duplicate settings in effect. */
  get dedupeOptions(): LintOptions['dedupe'] {
    return this.options.dedupe;
  }

  /** Whether duplicates are looked for in this document. */
  get duplicatesEnabled(): boolean {
    return this.options.duplicates;
  }

  get partnerFile(): string | undefined {
    return this.partner?.file;
  }

  /** Record the exact token count of a sample (line id) with a tokenizer; false when the line is gone. */
  setExactTokens(tokenizer: TokenizerId, id: number, tokens: number): boolean {
    if (!this.lineOfIdStale && !this.lineOfId.has(id)) return false;
    let m = this.exact.get(tokenizer);
    if (m === undefined) this.exact.set(tokenizer, (m = new Map()));
    m.set(id, tokens);
    return true;
  }

  exactTokens(tokenizer: TokenizerId, line: number): number | undefined {
    const id = this.ids[line];
    return id !== undefined ? this.exact.get(tokenizer)?.get(id) : undefined;
  }

  /** The tokenizers of the targets that count exactly. */
  exactTokenizers(): TokenizerId[] {
    return [...new Set(this.options.targets.map((t) => t.tokenizer))].filter((t) => t !== 'estimate');
  }

  /** Up to `limit` sample lines not yet counted with `tokenizer`, from the top: what to send to a tokenizer next. */
  pendingExact(tokenizer: TokenizerId, limit = Number.POSITIVE_INFINITY): { id: number; line: number }[] {
    const out: { id: number; line: number }[] = [];
    const m = this.exact.get(tokenizer);
    for (let i = 0; i < this.results.length && out.length < limit; i++) {
      if (this.results[i]?.kind !== 'sample') continue;
      const id = this.ids[i] as number;
      if (m?.has(id) !== true) out.push({ id, line: i });
    }
    return out;
  }

  idOfLine(line: number): number | undefined {
    return this.ids[line];
  }

  lineOf(id: number): number | undefined {
    return this.lineOfId.get(id);
  }

  setOptions(options: LintOptions): void {
    const dedupeChanged = JSON.stringify(options.dedupe) !== JSON.stringify(this.options.dedupe) || options.duplicates !== this.options.duplicates;
    this.options = options;
    if (dedupeChanged) {
      this.dup = this.newDuplicateIndex();
      this.clustered.clear();
    }
    if (this.dupCursor !== Infinity) this.dupCursor = 0;
    this.analyzedUpTo = 0;
    this.dupCache.clear();
    this.leakCache.clear();
    this.materialized = new WeakMap();
    this.contextual = new WeakMap();
    for (let i = 0; i < this.results.length; i++) {
      const r = this.results[i];
      if (r !== undefined) this.stats.remove(r);
      this.results[i] = undefined;
    }
  }

  setBom(bom: boolean): void {
    this.bom = bom;
  }

  /**
   * Lint without duplicates for now, and put the samples into the duplicate
   * index later, a slice at a time, with `indexDuplicates` (a large file gets its
   * rule diagnostics first, and edits are served between slices). Until then,
   * duplicates are reported among the lines indexed so far.
   */
  deferDuplicates(): void {
    if (this.options.duplicates) this.dupCursor = 0;
  }

  /** Whether every sample is in the duplicate index (nothing deferred is left). */
  get duplicatesIndexed(): boolean {
    return this.dupCursor === Infinity;
  }

  /**
   * Puts deferred lines into the duplicate index for about `budgetMs`
   * milliseconds; returns true when none is left. Edits in between are fine:
   * the lines they bring are analysed and indexed like the others.
   */
  indexDuplicates(budgetMs: number): boolean {
    if (this.dupCursor === Infinity) return true;
    if (!this.options.duplicates) {
      this.dupCursor = Infinity;
      return true;
    }
    this.syncIds();
    const end = performance.now() + budgetMs;
    const n = this.lines.length;
    while (this.dupCursor < n) {
      const i = this.dupCursor++;
      const a = this.results[i];
      if (a === undefined) this.analyze(i); // before the cursor now: indexed as it is analysed
      else if (a.kind === 'sample') this.dup.set(this.ids[i] as number, dedupeTextOfLine(this.lineText(i), this.options.dedupe.turns, this.fileFormat));
      if (performance.now() > end) return this.dupCursor >= n && this.finishIndexing(); // a clock read is ~1 % of a line
    }
    return this.finishIndexing();
  }

  private finishIndexing(): true {
    this.dupCursor = Infinity;
    return true;
  }

  /**
   * Analyses lines not analysed yet (new, edited, or all after a change of
   * options) for about `budgetMs` milliseconds; returns true when none is left,
   * so that `lint` will only assemble results. `lint` alone does the same at once.
   */
  analyzePending(budgetMs: number): boolean {
    this.syncIds();
    const end = performance.now() + budgetMs;
    const n = this.lines.length;
    for (let i = this.analyzedUpTo; i < n; i++) {
      if (this.results[i] === undefined) {
        this.analyze(i);
        if (performance.now() > end) {
          this.analyzedUpTo = i + 1;
          return false;
        }
      }
    }
    this.analyzedUpTo = n;
    return true;
  }

  /** Apply one LSP content change. Only the touched lines are re-analysed on the next lint. */
  applyEdit(e: TextEdit): void {
    const first = this.lines[e.startLine] ?? '';
    const last = this.lines[e.endLine] ?? '';
    const replaced = (first.slice(0, e.startCharacter) + e.text + last.slice(e.endCharacter)).split('\n');
    const count = e.endLine - e.startLine + 1;
    this.analyzedUpTo = Math.min(this.analyzedUpTo, e.startLine);
    if (this.dupCursor !== Infinity && e.startLine < this.dupCursor) {
      // Lines before the cursor are indexed as they are analysed, lines from it on wait for `indexDuplicates`.
      this.dupCursor = this.dupCursor <= e.endLine ? e.startLine : this.dupCursor + replaced.length - count;
    }
    for (let i = e.startLine; i <= e.endLine && i < this.lines.length; i++) {
      const r = this.results[i];
      if (r !== undefined) this.stats.remove(r);
      if ((this.lines[i] as string).endsWith('\r')) this.crlfCount--;
    }
    for (const l of replaced) if (l.endsWith('\r')) this.crlfCount++;
    const fresh = new Array<LineAnalysis | undefined>(replaced.length).fill(undefined);
    const freshIds = replaced.map(() => this.nextId++);
    const oldIds = this.ids.slice(e.startLine, e.startLine + count);
    this.pendingDeletes.push(...oldIds);
    if (replaced.length < 50_000) {
      this.lines.splice(e.startLine, count, ...replaced);
      this.results.splice(e.startLine, count, ...fresh);
      this.ids.splice(e.startLine, count, ...freshIds);
    } else {
      this.lines = this.lines.slice(0, e.startLine).concat(replaced, this.lines.slice(e.startLine + count));
      this.results = this.results.slice(0, e.startLine).concat(fresh, this.results.slice(e.startLine + count));
      this.ids = this.ids.slice(0, e.startLine).concat(freshIds, this.ids.slice(e.startLine + count));
    }
    if (replaced.length !== count) {
      this.lineOfIdStale = true;
    } else if (!this.lineOfIdStale) {
      for (const id of oldIds) this.lineOfId.delete(id);
      freshIds.forEach((id, k) => this.lineOfId.set(id, e.startLine + k));
    }
  }

  /** Replace the whole text (a full sync, or a file reloaded from disk). */
  setText(text: string): void {
    this.applyEdit({ startLine: 0, startCharacter: 0, endLine: this.lines.length - 1, endCharacter: (this.lines[this.lines.length - 1] ?? '').length, text });
  }

  private analyze(i: number): LineAnalysis {
    let sample: DedupeText | undefined;
    const dedupe = this.options.duplicates && i < this.dupCursor;
    const a = analyzeLine(this.lineText(i), this.options, this.fileFormat, dedupe ? (turns) => (sample = dedupeText(turns, this.options.dedupe.turns)) : undefined);
    this.results[i] = a;
    this.stats.add(a);
    if (dedupe) this.dup.set(this.ids[i] as number, sample);
    return a;
  }

  /** The analysis of one line (cached). */
  analysis(line: number): LineAnalysis {
    return this.results[line] ?? this.analyze(line);
  }

  context(): FileContext {
    return this.stats.context(this.options.pinnedFormat);
  }

  /** Line numbers of ids after edits that moved lines, and removed lines out of the duplicate index. */
  private syncIds(): void {
    if (this.lineOfIdStale) {
      const n = this.lines.length;
      this.lineOfId = new Map();
      for (let i = 0; i < n; i++) this.lineOfId.set(this.ids[i] as number, i);
      this.lineOfIdStale = false;
      this.dupCache.clear(); // line numbers in messages moved
      this.leakCache.clear();
    }
    for (const id of this.pendingDeletes.splice(0)) {
      this.dup.delete(id);
      this.dupCache.delete(id);
      this.leakCache.delete(id);
      for (const m of this.exact.values()) m.delete(id);
    }
  }

  lint(): LintResult {
    const n = this.lines.length;
    this.syncIds();
    for (let i = this.analyzedUpTo; i < n; i++) if (this.results[i] === undefined) this.analyze(i);
    this.analyzedUpTo = n;
    for (const id of this.dup.takeChanged()) {
      this.dupCache.delete(id);
      if (this.dup.clusterOf(id) !== undefined) this.clustered.add(id);
      else this.clustered.delete(id);
    }
    const ctx = this.stats.context(this.options.pinnedFormat);
    if (ctx.format !== this.fileFormat) {
      this.fileFormat = ctx.format;
      // Lines that name no format of their own were checked as the old file format.
      for (let i = 0; i < n; i++) {
        const r = this.results[i] as LineAnalysis;
        if (r.kind === 'sample' && r.ownFormat === undefined && r.checkedAs !== ctx.format) {
          this.stats.remove(r);
          this.analyze(i);
        }
      }
    }
    const options = this.options;
    const severity = Object.fromEntries(RULE_IDS.map((id) => [id, effectiveSeverity(options, id)])) as Record<RuleId, Severity | undefined>;
    const out: Diagnostic[] = [];
    const push = (line: number, d: LineDiagnostic, related?: readonly RelatedLine[]) => {
      const diag = withSeverity(line, d, severity[d.code], related);
      if (diag !== undefined) out.push(diag);
    };
    if (this.bom) push(0, bomDiagnostic());
    let usualSystemLine: number | undefined | null = null;
    const linesOfCluster = new Map<number, number[]>();
    const memberLines = (c: Cluster): readonly number[] => {
      let lines = linesOfCluster.get(c.key);
      if (lines === undefined) {
        lines = c.members.map((m) => this.lineOfId.get(m)).filter((l): l is number => l !== undefined).sort((x, y) => x - y);
        linesOfCluster.set(c.key, lines);
      }
      return lines;
    };
    let crlfPending = this.crlfCount > 0;
    const lastLine = n - 1;
    const results = this.results as LineAnalysis[];
    const fileSystem = ctx.system?.hash;
    // Everything a file-level message depends on, including where the usual system instruction first appears.
    const ctxKey = `${ctx.format}|${ctx.formatReason}|${fileSystem}|${ctx.system?.count}|${ctx.system?.withSystem}|${fileSystem !== undefined ? this.firstLineWithSystem(fileSystem) : ''}`;
    const tokens = new TargetTokens(options.targets, this.stats.samples, this.lengthsBuffer);
    const exact = this.exact;
    // One lookup function for every line (no closure per line): it reads the id of the line at hand.
    let currentId = 0;
    const exactOf = exact.size === 0 ? undefined : (tk: TokenizerId) => exact.get(tk)?.get(currentId);
    for (let i = 0; i < n; i++) {
      const r = results[i] as LineAnalysis;
      if (crlfPending && (this.lines[i] as string).endsWith('\r')) {
        push(i, crlfDiagnostic(this.lineText(i).length, this.crlfCount));
        crlfPending = false;
      }
      if (r.kind === 'blank') {
        const len = this.lineText(i).length;
        if (i < lastLine || len > 0) push(i, blankLineDiagnostic(len));
        continue;
      }
      if (r.diagnostics.length > 0) {
        let m = this.materialized.get(r);
        if (m === undefined || m.line !== i) {
          const diagnostics: Diagnostic[] = [];
          for (const d of r.diagnostics) {
            const diag = withSeverity(i, d, severity[d.code]);
            if (diag !== undefined) diagnostics.push(diag);
          }
          this.materialized.set(r, (m = { line: i, diagnostics }));
        }
        for (let k = 0; k < m.diagnostics.length; k++) out.push(m.diagnostics[k] as Diagnostic);
      }
      if (r.kind === 'sample' && ((r.ownFormat !== undefined && r.ownFormat !== ctx.format) || (r.system !== undefined && fileSystem !== undefined && r.system.hash !== fileSystem))) {
        let c = this.contextual.get(r);
        if (c === undefined || c.line !== i || c.key !== ctxKey) {
          const diagnostics: Diagnostic[] = [];
          for (const d of contextDiagnostics(r, ctx, this.cachedSpans(i, r))) {
            let related: RelatedLine[] | undefined;
            if (d.code === 'inconsistent-system-instruction' && fileSystem !== undefined) {
              if (usualSystemLine === null) usualSystemLine = this.firstLineWithSystem(fileSystem);
              if (usualSystemLine !== undefined) related = [{ line: usualSystemLine, message: 'the system instruction most samples use' }];
            }
            const diag = withSeverity(i, d, severity[d.code], related);
            if (diag !== undefined) diagnostics.push(diag);
          }
          this.contextual.set(r, (c = { line: i, key: ctxKey, diagnostics }));
        }
        for (let k = 0; k < c.diagnostics.length; k++) out.push(c.diagnostics[k] as Diagnostic);
      }
      if (r.kind === 'sample') {
        currentId = this.ids[i] as number;
        const long = tokens.add(r.tokens, exactOf);
        if (long.length > 0) {
          for (let k = 0; k < long.length; k++) {
            const d = long[k] as { message: string; target: string };
            push(i, { ...this.cachedSpans(i, r).marker(), code: 'too-long', message: d.message, target: d.target });
          }
        }
        if (this.clustered.size > 0 && this.clustered.has(this.ids[i] as number)) {
          const dups = this.duplicateDiagnostics(i, r, severity, memberLines);
          for (let k = 0; k < dups.length; k++) out.push(dups[k] as Diagnostic);
        }
        if (this.partner !== undefined && this.options.duplicates) {
          const leaks = this.leakageDiagnostics(i, r, severity, this.partner);
          for (let k = 0; k < leaks.length; k++) out.push(leaks[k] as Diagnostic);
        }
      }
    }
    if (options.targets.length > 0) {
      const first = results[0];
      const span = first !== undefined && first.kind === 'sample' ? this.cachedSpans(0, first).marker() : { start: 0, end: Math.min(1, this.lineText(0).length) };
      const facts = { samples: this.stats.samples, bytes: this.stats.bytes + (n - 1) + this.crlfCount, format: ctx.format, formatLabel: ctx.format !== undefined ? FORMATS[ctx.format].label : 'unknown format', split: options.split };
      for (const d of targetDatasetDiagnostics(facts, options.targets, span)) push(0, d);
    }
    tokens.reuse(this.lastDistribution);
    const summary = summarize(ctx, this.stats.samples, out, tokens);
    this.lengthsBuffer = tokens.buffer;
    this.lastDistribution = { key: tokens.key, dist: summary.distribution };
    return { diagnostics: out, summary, context: ctx };
  }

  /** The full text of the system instruction most samples use, if there is one. */
  usualSystemInstruction(): string | undefined {
    const hash = this.context().system?.hash;
    if (hash === undefined) return undefined;
    const line = this.firstLineWithSystem(hash);
    if (line === undefined) return undefined;
    const parsed = turnsOfLine(this.lineText(line), this.fileFormat);
    return parsed?.turns.find((t) => t.kind === 'system')?.text.trim();
  }

  private duplicateDiagnostics(line: number, a: LineAnalysis, severity: Record<RuleId, Severity | undefined>, memberLines: (c: Cluster) => readonly number[]): readonly Diagnostic[] {
    const id = this.ids[line] as number;
    const cached = this.dupCache.get(id);
    if (cached !== undefined && cached.line === line) return cached.diagnostics;
    if (this.dup.clusterOf(id) === undefined) return NO_DIAGNOSTICS;
    const d = duplicateDiagnostic(this.dup, id, (x) => this.lineOfId.get(x), this.cachedSpans(line, a).marker(), memberLines);
    const diag = d !== undefined ? withSeverity(line, d.diagnostic, severity[d.diagnostic.code], d.related) : undefined;
    const diagnostics = diag !== undefined ? [diag] : [];
    this.dupCache.set(id, { line, diagnostics });
    return diagnostics;
  }

  private leakageDiagnostics(line: number, a: LineAnalysis, severity: Record<RuleId, Severity | undefined>, partner: Partner): readonly Diagnostic[] {
    const id = this.ids[line] as number;
    const cached = this.leakCache.get(id);
    if (cached !== undefined && cached.line === line) return cached.diagnostics;
    const twins = partner.find(dedupeTextOfLine(this.lineText(line), this.options.dedupe.turns));
    const d = twins.length > 0 ? leakageDiagnostic(twins, partner.file, this.cachedSpans(line, a).marker()) : undefined;
    const diag = d !== undefined ? withSeverity(line, d.diagnostic, severity[d.diagnostic.code], d.related) : undefined;
    const diagnostics = diag !== undefined ? [diag] : NO_DIAGNOSTICS;
    this.leakCache.set(id, { line, diagnostics });
    return diagnostics;
  }

  private cachedSpans(line: number, a: LineAnalysis): ContextSpans {
    let cache = this.spans.get(a);
    if (cache === undefined) this.spans.set(a, (cache = {}));
    const c = cache;
    let fromText: ContextSpans | undefined;
    const located = () => (fromText ??= spansFromText(a, () => this.lineText(line)));
    return {
      marker: () => (c.marker ??= located().marker()),
      system: () => (c.system ??= located().system()),
    };
  }

  private firstLineWithSystem(hash: number): number | undefined {
    for (let i = 0; i < this.results.length; i++) if (this.results[i]?.system?.hash === hash) return i;
    return undefined;
  }
}

/** The other split when it is open in the editor: its own duplicate index answers, unsaved edits included. */
export class OpenDocumentPartner implements Partner {
  constructor(readonly file: string, private readonly doc: DatasetDocument) {}

  find(sample: DedupeText | undefined): Twin[] {
    return this.doc.linesHolding(sample);
  }
}
