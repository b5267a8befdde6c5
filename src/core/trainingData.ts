/**
 * A dataset in any supported format, as the samples the local trainer reads: one JSON object per
 * line, `{line, system, turns: [{role: user|model|tool, text}]}`, where `line` is the sample's
 * 1-based line in the user's file (so losses come back to the right line). The conversion is the
 * same one "Convert Dataset To…" uses; what cannot be carried over is reported, never dropped
 * silently.
 */
import { toConversation, type ConvRole } from './convert';
import { detectFormat, type FormatId } from './formats';

export interface TrainingSample {
  readonly line: number;
  readonly system: string | null;
  readonly turns: readonly { readonly role: ConvRole; readonly text: string }[];
}

export interface LineNote {
  /** 1-based line in the dataset. */
  readonly line: number;
  readonly reason: string;
}

export interface TrainingData {
  /** The normalized samples, one JSON text per sample. */
  readonly lines: string[];
  /** Lines left out of training, with why. */
  readonly skipped: LineNote[];
  /** Samples kept, but with content the trainer cannot use (tool calls, files). */
  readonly lossy: LineNote[];
  readonly formats: ReadonlyMap<FormatId, number>;
}

/** One line of a dataset read as a sample: its object, format and conversation; or why it is not one. */
export type DatasetLine =
  | { readonly line: number; readonly raw: string; readonly value: Record<string, unknown>; readonly format: FormatId; readonly conv: ReturnType<typeof toConversation> }
  | { readonly line: number; readonly problem: string };

/**
 * Every non-blank line of a dataset, parsed, its format detected (or pinned) and read as a
 * conversation; a line that is not a sample of any format says why. One reading for the local
 * trainer's data and the Vertex AI upload alike.
 */
export function* datasetLines(text: string, pinned?: FormatId): Generator<DatasetLine> {
  const rows = text.replace(/^\uFEFF/, '').split('\n');
  for (let i = 0; i < rows.length; i++) {
    const raw = rows[i]!.replace(/\r$/, '');
    if (raw.trim() === '') continue;
    const line = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      yield { line, problem: 'not valid JSON' };
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      yield { line, problem: 'not a JSON object' };
      continue;
    }
    const sample = value as Record<string, unknown>;
    const format = pinned ?? detectFormat(sample);
    if (format === undefined) {
      yield { line, problem: 'no known dataset format' };
      continue;
    }
    yield { line, raw, value: sample, format, conv: toConversation(format, sample) };
  }
}

export function normalizeDataset(text: string, pinned?: FormatId): TrainingData {
  const lines: string[] = [];
  const skipped: LineNote[] = [];
  const lossy: LineNote[] = [];
  const formats = new Map<FormatId, number>();
  for (const l of datasetLines(text, pinned)) {
    if ('problem' in l) {
      skipped.push({ line: l.line, reason: l.problem });
      continue;
    }
    const { line, format, conv } = l;
    formats.set(format, (formats.get(format) ?? 0) + 1);
    if (!conv.turns.some((t) => t.role === 'model')) {
      skipped.push({ line, reason: 'no model turn to learn from' });
      continue;
    }
    if (conv.lost.length > 0) lossy.push({ line, reason: conv.lost.join('; ') });
    const sample: TrainingSample = { line, system: conv.system ?? null, turns: conv.turns.map((t) => ({ role: t.role, text: t.text })) };
    lines.push(JSON.stringify(sample));
  }
  return { lines, skipped, lossy, formats };
}
