/**
 * `sft-studio fix`: every safe fix of a file, as a unified diff or written in
 * place. It never deletes a sample; a BOM and CRLF endings are normalised.
 */
import { promises as fs } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import * as path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { dedupeTextOfLine, findDuplicates } from '../core/dedupe';
import { DatasetDocument } from '../core/document';
import { fixAllLines } from '../core/fixes';
import type { LintOptions } from '../core/options';

export interface FileFixResult {
  readonly file: string;
  readonly before: string;
  readonly after: string;
  readonly titles: readonly string[];
}

/**
 * Keep the first sample of each duplicate cluster (exact and near copies), in
 * file order; every other line is kept as it is. Returns the lines and how many went.
 */
export function dedupeLines(lines: readonly string[], options: LintOptions): { lines: string[]; removed: number[] } {
  const report = findDuplicates(lines.map((l) => dedupeTextOfLine(l, options.dedupe.turns)), options.dedupe);
  const drop = new Set<number>();
  for (const cluster of report.clusters()) for (const m of [...cluster.members].sort((a, b) => a - b).slice(1)) drop.add(m);
  return { lines: lines.filter((_, i) => !drop.has(i)), removed: [...drop].sort((a, b) => a - b) };
}

export async function fixFile(file: string, options: LintOptions, dedupe = false): Promise<FileFixResult> {
  const bytes = await fs.readFile(file);
  if (!isUtf8(bytes)) throw new Error(`${file} is not valid UTF-8: re-encode it first (sft-studio lint shows the lines)`);
  const before = bytes.toString('utf8');
  const titles: string[] = [];
  let text = before;
  if (text.charCodeAt(0) === 0xfeff) {
    text = text.slice(1);
    titles.push('Remove the byte-order mark');
  }
  if (text.includes('\r\n')) {
    text = text.replace(/\r\n/g, '\n');
    titles.push('Use LF line endings');
  }
  const format = new DatasetDocument(text, options).context().format;
  const fixed = fixAllLines(text.split('\n'), format);
  titles.push(...fixed.titles);
  let lines = fixed.lines;
  if (dedupe) {
    const d = dedupeLines(lines, options);
    lines = d.lines;
    for (const i of d.removed) titles.push(`Delete duplicate sample on line ${i + 1}`);
  }
  return { file, before, after: lines.join('\n'), titles };
}

export function unifiedDiff(r: FileFixResult): string {
  return createTwoFilesPatch(`a/${r.file}`, `b/${r.file}`, r.before, r.after, undefined, undefined, { context: 1 });
}

/** Write through a temporary file beside the original, so an interrupted write loses nothing. */
export async function writeFixed(r: FileFixResult): Promise<void> {
  const tmp = path.join(path.dirname(r.file), `.${path.basename(r.file)}.sft-studio-${process.pid}.tmp`);
  await fs.writeFile(tmp, r.after);
  await fs.rename(tmp, r.file);
}
