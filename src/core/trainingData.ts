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

export function normalizeDataset(text: string, pinned?: FormatId): TrainingData {
  const lines: string[] = [];
  const skipped: LineNote[] = [];
  const lossy: LineNote[] = [];
  const formats = new Map<FormatId, number>();
  const rows = text.replace(/^\uFEFF/, '').split('\n');
  for (let i = 0; i < rows.length; i++) {
    const raw = rows[i]!.replace(/\r$/, '');
    if (raw.trim() === '') continue;
    const line = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      skipped.push({ line, reason: 'not valid JSON' });
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      skipped.push({ line, reason: 'not a JSON object' });
      continue;
    }
    const format = pinned ?? detectFormat(value as Record<string, unknown>);
    if (format === undefined) {
      skipped.push({ line, reason: 'no known dataset format' });
      continue;
    }
    formats.set(format, (formats.get(format) ?? 0) + 1);
    const conv = toConversation(format, value as Record<string, unknown>);
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
