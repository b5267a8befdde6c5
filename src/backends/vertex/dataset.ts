/**
 * A dataset made ready for Vertex AI: every sample in Vertex's Gemini format (converted with
 * core/convert.ts when the file holds another format; a line already in it is kept as written),
 * then checked against the limits the target profile of the model documents (core/targets.ts: tokens
 * per example, validation examples, file size). A sample over a limit refuses the run, naming its
 * lines: Vertex would reject the file after the upload (or cut the sample). Lines that are no sample
 * at all (broken JSON, no model turn, not writable in Vertex's format) are left out and listed.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { convertSample } from '../../core/convert';
import type { FormatId } from '../../core/formats';
import { findTarget, type TargetProfile } from '../../core/targets';
import { estimateSampleTokens } from '../../core/tokens';
import { datasetLines, type LineNote } from '../../core/trainingData';
import { countSample } from '../../tokenize/counters';
import { VertexSetupError } from './settings';

export interface VertexDatasetRecord {
  /** The user's file, as given (absolute). */
  readonly path: string;
  /** SHA-256 of the user's file. */
  readonly sha256: string;
  readonly bytes: number;
  readonly samples: number;
  /** The formats found in the file, and whether it was converted to Vertex's. */
  readonly formats: readonly FormatId[];
  readonly converted: boolean;
  /** Samples converted without something Vertex's format cannot hold. */
  readonly lossy: readonly LineNote[];
  /** Lines left out: broken JSON, no known format, no model turn, not writable in Vertex's format. */
  readonly skipped?: readonly LineNote[];
  /** SHA-256 and size of what is uploaded (the converted data). */
  readonly upload_sha256: string;
  readonly upload_bytes: number;
  /** gs:// URI, once uploaded. */
  readonly uri?: string;
}

export interface PreparedDataset {
  readonly record: VertexDatasetRecord;
  readonly data: Buffer;
}

/** The target profile of a Gemini model (`gemini-2.5-flash`, `gemini-2.5-flash-001`...), if there is one. */
export function vertexTarget(model: string): TargetProfile | undefined {
  const t = findTarget(`vertex:${model}`);
  return t?.provider === 'vertex' ? t : undefined;
}

const listLines = (lines: readonly number[]) => {
  const shown = lines.slice(0, 10).join(', ');
  return lines.length > 10 ? `${shown} and ${lines.length - 10} more` : shown;
};

export interface PrepareOptions {
  readonly pinnedFormat?: FormatId;
  /** Exact token count of a sample's texts (default: the Gemma 3 tokenizer, loaded only for samples near the limit). */
  readonly countTokens?: (texts: readonly string[]) => number;
}

/** Reads, converts and checks one file; throws VertexSetupError naming the lines that break a rule. */
export function prepareVertexDataset(file: string, split: 'training' | 'validation', model: string, opts: PrepareOptions = {}): PreparedDataset {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new VertexSetupError(`cannot read the ${split} file ${file}: ${(err as Error).message}`);
  }
  const target = vertexTarget(model);
  const out: string[] = [];
  const formats = new Set<FormatId>();
  const broken: LineNote[] = [];
  const lossy: LineNote[] = [];
  const tooLong: { line: number; tokens: number }[] = [];
  let converted = false;
  const exact = opts.countTokens ?? ((texts: readonly string[]) => countSample('gemma3', texts));
  for (const l of datasetLines(bytes.toString('utf8'), opts.pinnedFormat)) {
    if ('problem' in l) {
      broken.push({ line: l.line, reason: l.problem });
      continue;
    }
    const { line, raw, value: sample, format, conv } = l;
    formats.add(format);
    if (!conv.turns.some((t) => t.role === 'model')) {
      broken.push({ line, reason: 'has no model turn to learn from' });
      continue;
    }
    if (format === 'vertex-gemini') out.push(raw.trim());
    else {
      const c = convertSample(sample, 'vertex-gemini', format);
      if (c.value === undefined) {
        broken.push({ line, reason: `cannot be written in Vertex's format (${c.lost.join('; ')})` });
        continue;
      }
      converted = true;
      if (c.lost.length > 0) lossy.push({ line, reason: c.lost.join('; ') });
      out.push(JSON.stringify(c.value));
    }
    if (target !== undefined) {
      const texts = [...(conv.system !== undefined ? [conv.system] : []), ...conv.turns.map((t) => t.text)];
      // The estimate is cheap; the exact count (a 34 MB vocabulary) only near the limit.
      const estimate = estimateSampleTokens(texts);
      if (estimate > target.maxTokensPerExample / 2) {
        const tokens = exact(texts);
        if (tokens > target.maxTokensPerExample) tooLong.push({ line, tokens });
      }
    }
  }
  // Lines that cannot be tuned on are left out and listed (as the local trainer does), never sent:
  // Vertex AI would reject the whole file for one of them. The panel shows the lint errors before.
  if (out.length === 0) {
    const reasons = [...new Set(broken.map((b) => b.reason))].slice(0, 3).join('; ');
    throw new VertexSetupError(broken.length > 0 ? `${file} has no sample to tune on: line${broken.length === 1 ? '' : 's'} ${listLines(broken.map((b) => b.line))} cannot be tuned on (${reasons})` : `${file} has no sample (the file is empty)`);
  }
  if (target !== undefined) {
    if (tooLong.length > 0) {
      throw new VertexSetupError(`${file}: line${tooLong.length === 1 ? '' : 's'} ${listLines(tooLong.map((t) => t.line))} ${tooLong.length === 1 ? 'has' : 'have'} more than the ${target.maxTokensPerExample.toLocaleString('en-US')} tokens ${target.label} takes per example (${tooLong.slice(0, 3).map((t) => `line ${t.line}: ${t.tokens.toLocaleString('en-US')}`).join(', ')}, counted with the Gemma 3 tokenizer); shorten or split ${tooLong.length === 1 ? 'it' : 'them'}`);
    }
    if (split === 'validation' && target.maxValidationExamples !== undefined && out.length > target.maxValidationExamples) {
      throw new VertexSetupError(`${file} has ${out.length.toLocaleString('en-US')} validation samples, more than the ${target.maxValidationExamples.toLocaleString('en-US')} ${target.label} allows: keep at most ${target.maxValidationExamples.toLocaleString('en-US')} (lines after ${target.maxValidationExamples.toLocaleString('en-US')} are over)`);
    }
  }
  const data = Buffer.from(out.join('\n') + '\n', 'utf8');
  if (target?.maxFileBytes !== undefined && data.length > target.maxFileBytes) {
    throw new VertexSetupError(`${file} is ${(data.length / 1e9).toFixed(2)} GB in Vertex's format, over the ${(target.maxFileBytes / 1e9).toFixed(0)} GB ${target.label} accepts: split it`);
  }
  return {
    data,
    record: {
      path: file, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length, samples: out.length, formats: [...formats], converted, lossy, skipped: broken,
      upload_sha256: createHash('sha256').update(data).digest('hex'), upload_bytes: data.length,
    },
  };
}
