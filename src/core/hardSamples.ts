/**
 * Hard samples: the samples of a dataset file with the highest loss in a run, as the trainer's
 * `sample_loss` events report them. Ranks them (percentile = the fraction of scored samples with a
 * higher loss), keeps a fingerprint of each sample's line as it was when it was marked, and carries
 * the marks through edits of the document: lines inserted or deleted above move a mark, a change
 * of the line's text drops it (and undoing the change brings it back). Pure: the editor's
 * decorations, diagnostics and hovers (src/extension/hardSamples.ts) and the tuning panel read it.
 */
import { createHash } from 'node:crypto';
import { toConversation } from './convert';
import { FORMATS, detectFormat, type FormatId } from './formats';
import { METRIC_LABELS } from './evalMetrics';
import type { SampleEvaluation, SampleLossEvent, TrainerEvent } from './runs';
import { normalizeDataset } from './trainingData';

export type DatasetFile = SampleLossEvent['file'];

export interface TurnLoss {
  /** Index among the sample's turns as the trainer saw them (user/model/tool in order, system excluded). */
  readonly turn: number;
  readonly loss: number;
  readonly tokens: number | undefined;
}

export interface RankedSample {
  /** 1-based line in the dataset file. */
  readonly line: number;
  /** Mean loss over the sample's completion tokens. */
  readonly loss: number;
  readonly tokens: number | undefined;
  /** Fraction of the scored samples with a strictly higher loss: 0 for the hardest. */
  readonly percentile: number;
  /** 1 for the highest loss; samples with equal loss share a rank. */
  readonly rank: number;
  /** The model turns' losses, worst first (turns without a loss are left out). */
  readonly turns: readonly TurnLoss[];
  readonly stage: SampleLossEvent['stage'];
  readonly ifd: number | null | undefined;
  /** An evaluated sample's answer and scores (`stage: 'evaluate'`; loss = 1 − the deciding score). */
  readonly evaluation?: SampleEvaluation;
}

export interface SampleRanking {
  readonly file: DatasetFile;
  /** Every sample with a loss, highest loss first. */
  readonly samples: readonly RankedSample[];
  /** Samples the trainer could not score (too long), with why. */
  readonly skipped: readonly { readonly line: number; readonly reason: string }[];
}

/**
 * Ranks the samples of one dataset file of a run by loss. When a line was scored more than once
 * (a score pass, then a pass after training) its last event counts.
 */
export function rankSampleLosses(events: readonly TrainerEvent[], file: DatasetFile = 'train'): SampleRanking {
  const last = new Map<number, SampleLossEvent>();
  for (const e of events) if (e.event === 'sample_loss' && e.file === file) last.set(e.line, e);
  const scored: SampleLossEvent[] = [];
  const skipped: { line: number; reason: string }[] = [];
  for (const e of last.values()) {
    if (e.loss === null || !Number.isFinite(e.loss)) skipped.push({ line: e.line, reason: e.skipped ?? 'no loss' });
    else scored.push(e);
  }
  scored.sort((a, b) => (b.loss as number) - (a.loss as number) || a.line - b.line);
  skipped.sort((a, b) => a.line - b.line);
  const n = scored.length;
  const samples: RankedSample[] = [];
  let higher = 0;
  for (let i = 0; i < n; i++) {
    const e = scored[i]!;
    const loss = e.loss as number;
    if (i > 0 && loss < (scored[i - 1]!.loss as number)) higher = i;
    const turns: TurnLoss[] = [];
    for (const t of e.turns ?? []) if (t.loss !== null && Number.isFinite(t.loss)) turns.push({ turn: t.turn, loss: t.loss, tokens: t.tokens });
    turns.sort((a, b) => b.loss - a.loss || a.turn - b.turn);
    samples.push({ line: e.line, loss, tokens: e.tokens, percentile: higher / n, rank: higher + 1, turns, stage: e.stage, ifd: e.ifd, ...(e.evaluation !== undefined ? { evaluation: e.evaluation } : {}) });
  }
  return { file, samples, skipped };
}

/**
 * Whether a sample is within the top `topPercent` % by loss (the hardest one always is); an
 * evaluated sample is hard when the model's answer was wrong, whatever its rank.
 */
export function isHard(sample: Pick<RankedSample, 'percentile'> & { readonly evaluation?: Pick<SampleEvaluation, 'correct'> }, topPercent: number): boolean {
  return sample.evaluation !== undefined ? !sample.evaluation.correct : sample.percentile * 100 < topPercent;
}

/** The samples within the top `topPercent` % by loss, highest loss first. */
export function hardSamples(ranking: SampleRanking, topPercent: number): RankedSample[] {
  return ranking.samples.filter((s) => isHard(s, topPercent));
}

/**
 * The smallest whole k such that the sample is in the "top k %" (more than (k−1) % of the samples
 * have a higher loss, fewer than k % do): 1 for the hardest.
 */
export function topPercentOf(sample: Pick<RankedSample, 'percentile'>): number {
  return Math.min(100, Math.floor(Math.round(sample.percentile * 1e9) / 1e7) + 1);
}

/** A loss as people read it: 3.2, 0.87, 12. */
export function formatLoss(loss: number): string {
  if (loss === 0) return '0';
  const abs = Math.abs(loss);
  return abs >= 10 ? loss.toFixed(1).replace(/\.0$/, '') : abs >= 1 ? loss.toFixed(1) : loss.toPrecision(2);
}

/** A score in [0, 1] as people read it: 0.42, 1, 0. */
export function formatScore(score: number): string {
  return score === 0 || score === 1 ? String(score) : score.toFixed(2);
}

/** An evaluated answer's scores on one line: "ROUGE-L 0.27, F1 0.40, exact match no, judge 2/5". */
export function scoresText(ev: Pick<SampleEvaluation, 'metric' | 'scores'>): string {
  const parts = [
    `${METRIC_LABELS.rouge_l} ${formatScore(ev.scores.rouge_l)}`,
    `${METRIC_LABELS.f1} ${formatScore(ev.scores.f1)}`,
    `${METRIC_LABELS.exact_match} ${ev.scores.exact_match === 1 ? 'yes' : 'no'}`,
    ...(ev.scores.judge !== undefined ? [`${METRIC_LABELS.judge} ${ev.scores.judge === null ? 'no score' : `${ev.scores.judge}/5`}`] : []),
  ];
  // The deciding score first.
  const first = parts.findIndex((p) => p.startsWith(METRIC_LABELS[ev.metric]));
  return (first > 0 ? [parts[first]!, ...parts.filter((_, i) => i !== first)] : parts).join(', ');
}

/** The diagnostic's message: "hard sample: loss 3.2, top 5 %", or "wrong answer by the base model: ROUGE-L 0.27, …". */
export function hardSampleMessage(sample: Pick<RankedSample, 'loss' | 'percentile'> & { readonly evaluation?: SampleEvaluation }): string {
  if (sample.evaluation !== undefined) return `${sample.evaluation.correct ? 'right' : 'wrong'} answer by the base model: ${scoresText(sample.evaluation)}`;
  return `hard sample: loss ${formatLoss(sample.loss)}, top ${topPercentOf(sample)} %`;
}

/** Upper bounds (in %) of the tint bands, strongest first: top 1 %, top 5 %, top 10 %, top 25 %, the rest. */
export const PERCENTILE_BANDS: readonly number[] = [1, 5, 10, 25, 100];

/** Index into PERCENTILE_BANDS of the band a sample falls in (0 = the hardest samples). */
export function percentileBand(sample: Pick<RankedSample, 'percentile'>): number {
  const p = sample.percentile * 100;
  const i = PERCENTILE_BANDS.findIndex((bound) => p < bound);
  return i === -1 ? PERCENTILE_BANDS.length - 1 : i;
}

// ---------------------------------------------------------------------------------------------
// Fingerprints and marks that follow edits

/** What identifies a line's text at mark time: its length (a cheap first test) and a hash. */
export interface Fingerprint {
  readonly length: number;
  readonly hash: string;
}

export function fingerprint(text: string): Fingerprint {
  return { length: text.length, hash: createHash('sha1').update(text, 'utf8').digest('base64') };
}

const textKey = (fp: Fingerprint): string => `${fp.length}:${fp.hash}`;

export function sameFingerprint(a: Fingerprint, b: Fingerprint): boolean {
  return a.length === b.length && a.hash === b.hash;
}

/** The lines of a document (a vscode.TextDocument adapts to it in one line). 0-based. */
export interface LineSource {
  readonly lineCount: number;
  lineAt(line: number): string;
}

/** One edit of a document; vscode.TextDocumentContentChangeEvent has this shape. 0-based. */
export interface TextChange {
  readonly range: { readonly start: { readonly line: number; readonly character: number }; readonly end: { readonly line: number; readonly character: number } };
  readonly text: string;
}

export interface Mark<T> {
  /** 0-based line in the document now. */
  readonly line: number;
  readonly data: T;
}

interface Origin<T> {
  readonly data: T;
  readonly fingerprint: Fingerprint;
  /** 0-based line when it was marked, to choose among identical lines. */
  readonly line: number;
  /** 0-based line it is shown on now, or -1 while its text is nowhere. */
  at: number;
}

function countNewlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * The marked lines of one document. Each mark keeps the fingerprint of its line's text at mark
 * time; `applyChanges` moves marks below an edit, and re-checks the lines an edit touched: a mark
 * stays only on a line with its text, so an edit inside the line drops it, and an undo that
 * restores the text brings it back. `relocate` finds every mark's text in the document afresh
 * (a reopened document). An edit inside a line costs the lines it touched; one that adds or
 * removes lines, one pass over the marks.
 */
export class LineMarks<T> {
  private readonly origins: Origin<T>[] = [];
  /** The marks on a line now, sorted by line (`at`): shifting lines is one pass over numbers. */
  private live: Origin<T>[] = [];
  private keep: (data: T) => boolean = () => true;
  /** The lengths of the marked lines: a line of another length is not hashed. */
  private readonly lengths = new Set<number>();
  /** The marks by their text's fingerprint. */
  private readonly byText = new Map<string, Origin<T>[]>();
  private shown: Mark<T>[] | undefined;

  /** Marks `entries` (0-based lines) on the document's current text; lines out of range are ignored. */
  constructor(entries: readonly Mark<T>[], doc: LineSource) {
    const taken = new Set<number>();
    for (const e of entries) {
      if (!Number.isInteger(e.line) || e.line < 0 || e.line >= doc.lineCount || taken.has(e.line)) continue;
      taken.add(e.line);
      const origin: Origin<T> = { data: e.data, fingerprint: fingerprint(doc.lineAt(e.line)), line: e.line, at: e.line };
      this.origins.push(origin);
      this.lengths.add(origin.fingerprint.length);
      const key = textKey(origin.fingerprint);
      const same = this.byText.get(key);
      if (same === undefined) this.byText.set(key, [origin]);
      else same.push(origin);
    }
    this.live = [...this.origins].sort((x, y) => x.at - y.at);
  }

  /** The marks shown now, by line. */
  marks(): Mark<T>[] {
    if (this.shown === undefined) {
      const shown: Mark<T>[] = [];
      for (const o of this.live) if (this.keep(o.data)) shown.push({ line: o.at, data: o.data });
      this.shown = shown;
    }
    return [...this.shown];
  }

  /** The mark on a 0-based line, if one is shown there. */
  at(line: number): T | undefined {
    const o = this.live[this.indexOf(line)];
    return o !== undefined && o.at === line && this.keep(o.data) ? o.data : undefined;
  }

  /** How many samples were marked in all (whatever the filter and the edits since). */
  get size(): number {
    return this.origins.length;
  }

  /** Shows only the marks whose data passes `keep` (e.g. the top N % setting changed). */
  setFilter(keep: (data: T) => boolean): void {
    this.keep = keep;
    this.shown = undefined;
  }

  /**
   * Carries the marks through one document change event (its changes applied in order, each range
   * in the document as the previous ones left it); `doc` is the document after them. Returns
   * whether any mark moved, went or came back.
   */
  applyChanges(changes: readonly TextChange[], doc: LineSource): boolean {
    /** Whether marks moved (lines added or removed above them, or the marked line itself). */
    let shifted = false;
    /** Marks taken off lines by edits that kept the line count (typing): by origin, their line. */
    const removed = new Map<Origin<T>, number>();
    /** Spans [from, to] of lines (after the changes so far) that an edit rewrote. */
    let spans: [number, number][] = [];
    for (const c of changes) {
      const start = c.range.start.line;
      const end = c.range.end.line;
      const added = countNewlines(c.text);
      const delta = added - (end - start);
      const i0 = this.indexOf(start);
      const i1 = this.indexOf(end + 1);
      for (const o of this.live.splice(i0, i1 - i0)) {
        if (delta === 0) removed.set(o, o.at);
        else shifted = true;
        o.at = -1;
      }
      if (delta !== 0) {
        for (let j = i0; j < this.live.length; j++) (this.live[j] as Origin<T>).at += delta;
        if (i0 < this.live.length) shifted = true;
      }
      const shift = (line: number) => (line > end ? line + delta : line);
      spans = spans.map(([a, b]): [number, number] => (b < start ? [a, b] : a > end ? [a + delta, b + delta] : [Math.min(a, start), Math.max(shift(b), start + added)]));
      spans.push([start, start + added]);
    }
    // The rewritten lines: a mark stays (or comes back) where a line still has its text.
    const revived: Origin<T>[] = [];
    for (const [from, to] of spans) {
      for (let line = Math.max(0, from); line <= Math.min(to, doc.lineCount - 1); line++) {
        const i = this.indexOf(line);
        if (this.live[i]?.at === line) continue;
        const text = doc.lineAt(line);
        if (!this.lengths.has(text.length)) continue;
        const found = this.closestUnplaced(fingerprint(text), line);
        if (found === undefined) continue;
        found.at = line;
        this.live.splice(i, 0, found);
        revived.push(found);
      }
    }
    if (!shifted) {
      // Only lines' texts changed: a mark that left its line and came back to it has not changed.
      const back = revived.filter((o) => removed.get(o) === o.at);
      if (back.length === removed.size && back.length === revived.length) return false;
    }
    this.shown = undefined;
    return true;
  }

  /** Finds every mark's text in the document again (after a reopen, or a change on disk). */
  relocate(doc: LineSource): void {
    this.shown = undefined;
    const byLine = new Map<number, Origin<T>>();
    for (const o of this.origins) o.at = -1;
    // First the lines where the marks were (the usual case: nothing moved), then the rest.
    let left = this.origins.length;
    for (const o of this.origins) {
      if (o.line < doc.lineCount && !byLine.has(o.line) && sameFingerprint(fingerprint(doc.lineAt(o.line)), o.fingerprint)) {
        byLine.set(o.line, o);
        o.at = o.line;
        left--;
      }
    }
    if (left > 0) {
      const lines = new Map<string, number[]>();
      for (let line = 0; line < doc.lineCount; line++) {
        if (byLine.has(line)) continue;
        const text = doc.lineAt(line);
        if (!this.lengths.has(text.length)) continue;
        const k = textKey(fingerprint(text));
        if (!this.byText.has(k)) continue;
        const list = lines.get(k);
        if (list === undefined) lines.set(k, [line]);
        else list.push(line);
      }
      for (const o of this.origins) {
        if (o.at !== -1) continue;
        let best: number | undefined;
        for (const line of lines.get(textKey(o.fingerprint)) ?? []) {
          if (!byLine.has(line) && (best === undefined || Math.abs(line - o.line) < Math.abs(best - o.line))) best = line;
        }
        if (best !== undefined) {
          byLine.set(best, o);
          o.at = best;
        }
      }
    }
    this.live = [...byLine.values()].sort((x, y) => x.at - y.at);
  }

  /** Where a mark on `line` is, or would go, in `live`. */
  private indexOf(line: number): number {
    let lo = 0;
    let hi = this.live.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.live[mid] as Origin<T>).at < line) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private closestUnplaced(fp: Fingerprint, line: number): Origin<T> | undefined {
    let best: Origin<T> | undefined;
    for (const o of this.byText.get(textKey(fp)) ?? []) {
      if (o.at !== -1) continue;
      if (best === undefined || Math.abs(o.line - line) < Math.abs(best.line - line)) best = o;
    }
    return best;
  }
}

// ---------------------------------------------------------------------------------------------
// The sample's turns, for the hover

/**
 * The sample on a line as the trainer saw it (the same conversion the run used), as a key that is
 * equal for two lines exactly when they train the same: to tell whether a line still holds the
 * sample a run scored. Undefined when the line is no sample.
 */
export function trainingKey(lineText: string): string | undefined {
  const first = normalizeDataset(lineText).lines[0];
  if (first === undefined) return undefined;
  const { system, turns } = JSON.parse(first) as { system: unknown; turns: unknown };
  return JSON.stringify({ system, turns });
}

/** The same key for one line of a run's data/train.jsonl (normalized samples); with its line. */
export function runSampleKey(normalizedLine: string): { line: number; key: string } | undefined {
  try {
    const { line, system, turns } = JSON.parse(normalizedLine) as { line: unknown; system: unknown; turns: unknown };
    return typeof line === 'number' ? { line, key: JSON.stringify({ system, turns }) } : undefined;
  } catch {
    return undefined;
  }
}

export interface TurnInfo {
  /** The role as the file names it (`assistant`, `gpt`, `model`…). */
  readonly role: string;
  readonly text: string;
}

/** The turns of a sample line as the trainer numbers them (system excluded); empty if it is no sample. */
export function sampleTurns(lineText: string, pinned?: FormatId): TurnInfo[] {
  let value: unknown;
  try {
    value = JSON.parse(lineText);
  } catch {
    return [];
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  const format = pinned ?? detectFormat(value as Record<string, unknown>);
  if (format === undefined) return [];
  const names = FORMATS[format].roleNames;
  return toConversation(format, value as Record<string, unknown>).turns.map((t) => ({ role: names[t.role] ?? t.role, text: t.text }));
}

/** The first words of a text, on one line: at most `maxChars` characters, cut at a word. */
export function firstWords(text: string, maxChars = 60): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= maxChars) return flat;
  const cut = flat.slice(0, maxChars);
  const space = cut.lastIndexOf(' ');
  return `${(space > maxChars / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

/**
 * Escapes text for a Markdown string so that it shows as typed: every ASCII punctuation
 * character is backslash-escaped (CommonMark renders `\<` as `<`), so neither HTML nor Markdown
 * syntax in dataset text takes effect.
 */
export function escapeMarkdown(text: string): string {
  return text.replace(/[!-/:-@[-`{-~]/g, '\\$&');
}

export interface HoverInput {
  readonly sample: RankedSample;
  /** Scored samples in the file. */
  readonly total: number;
  readonly run: string;
  readonly lineText: string;
}

/** The hover of a hard sample, as Markdown (dataset text escaped): loss per turn, worst first, and the run. */
export function hardSampleHover({ sample, total, run, lineText }: HoverInput): string {
  if (sample.evaluation !== undefined) return evaluationHover(sample.evaluation, run);
  const turns = sampleTurns(lineText);
  const out = [
    `**Hard sample**: loss ${formatLoss(sample.loss)}, top ${topPercentOf(sample)} % (rank ${sample.rank} of ${total})`,
    '',
  ];
  if (sample.turns.length > 0) {
    out.push('Loss per turn, worst first:', '');
    for (const t of sample.turns) {
      const info = turns[t.turn];
      const who = info !== undefined ? `${escapeMarkdown(info.role)} “${escapeMarkdown(firstWords(info.text))}”` : 'a turn the line no longer has';
      const tokens = t.tokens !== undefined ? ` (${t.tokens} tokens)` : '';
      out.push(`- turn ${t.turn + 1}, ${who}: loss ${formatLoss(t.loss)}${tokens}`);
    }
  }
  out.push('', `Run: ${escapeMarkdown(run)}${sample.stage === 'score' ? ' (scored by the base model)' : ''}`);
  return out.join('\n');
}

/** A text as a Markdown block quote, escaped, cut to `maxChars` characters. */
function quote(text: string, maxChars = 1500): string {
  const cut = text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
  if (cut.trim() === '') return '> *(empty)*';
  return cut.split(/\r?\n/).map((l) => `> ${escapeMarkdown(l)}`).join('\n');
}

/** The hover of an evaluated sample: its scores, the reference and the model's answer (escaped), the judge's reason. */
export function evaluationHover(ev: SampleEvaluation, run: string): string {
  const out = [
    `**${ev.correct ? 'Right' : 'Wrong'} answer** by the base model: ${scoresText(ev)}`,
    '',
    '**Reference** (the last model turn):',
    '',
    quote(ev.reference),
    '',
    `**Model's answer**${ev.finish_reason !== undefined && ev.finish_reason !== 'STOP' ? ` (finish reason ${escapeMarkdown(ev.finish_reason)})` : ''}:`,
    '',
    quote(ev.prediction),
  ];
  if (ev.judge_reason !== undefined && ev.judge_reason !== '') out.push('', `Judge: ${escapeMarkdown(ev.judge_reason)}`);
  if (ev.judge_problem !== undefined) out.push('', `Judge: ${escapeMarkdown(ev.judge_problem)}`);
  out.push('', `Run: ${escapeMarkdown(run)} (evaluation)`);
  return out.join('\n');
}
