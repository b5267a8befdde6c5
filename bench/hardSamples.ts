/**
 * Hard-sample marks on a large dataset: what showing a run's marks, and keeping them through
 * edits, costs in the extension host, each beside a baseline measured in the same run.
 * Every line is a scored sample (the worst case: the marks keep a fingerprint of each).
 */
import { performance } from 'node:perf_hooks';
import { LineMarks, isHard, rankSampleLosses, trainingKey, type LineSource, type RankedSample, type TextChange } from '../src/core/hardSamples';
import type { SampleLossEvent } from '../src/core/runs';
import { rng } from './generate';

const ms = (x: number) => `${x.toFixed(x < 10 ? 2 : 0)} ms`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function best(repeat: number, fn: () => void): number {
  let min = Infinity;
  for (let i = 0; i < repeat; i++) {
    const t = performance.now();
    fn();
    min = Math.min(min, performance.now() - t);
  }
  return min;
}

class Lines implements LineSource {
  constructor(readonly lines: string[]) {}
  get lineCount(): number {
    return this.lines.length;
  }
  lineAt(line: number): string {
    return this.lines[line] as string;
  }
  apply(c: TextChange): void {
    const { start, end } = c.range;
    const head = (this.lines[start.line] as string).slice(0, start.character);
    const tail = (this.lines[end.line] as string).slice(end.character);
    this.lines.splice(start.line, end.line - start.line + 1, ...(head + c.text + tail).split('\n'));
  }
}

export function runHardSamplesBench(text: string, repeat: number): void {
  const rows = text.split('\n');
  if (rows[rows.length - 1] === '') rows.pop();
  const rand = rng(11);
  const events: SampleLossEvent[] = rows.map((_, i) => ({
    event: 'sample_loss', time: '2026-11-23T00:00:00Z', file: 'train', line: i + 1, loss: rand() * 5, tokens: 100, turns: [{ turn: 1, loss: rand() * 5, tokens: 100 }], stage: 'after_training',
  }));
  process.stdout.write(`4. hard-sample marks (${rows.length.toLocaleString('en-US')} scored samples, the top 10 % drawn; best of ${repeat})\n`);

  const parse = best(repeat, () => {
    for (const r of rows) {
      try {
        JSON.parse(r);
      } catch {
        // the dataset has broken lines on purpose
      }
    }
  });
  let marks: LineMarks<RankedSample> | undefined;
  const doc = new Lines([...rows]);
  const show = best(repeat, () => {
    const ranking = rankSampleLosses(events);
    marks = new LineMarks(ranking.samples.map((s) => ({ line: s.line - 1, data: s })), doc);
    marks.setFilter((s) => isHard(s, 10)); // as the editor does with the default setting
  });
  process.stdout.write(`   baseline: JSON.parse of every line          ${ms(parse)}\n`);
  process.stdout.write(`   rank + fingerprint every sample (show)      ${ms(show)}  ratio ${(show / parse).toFixed(2)}×\n`);

  const m = marks as LineMarks<RankedSample>;
  const timeEdits = (text: string): number[] => {
    const times: number[] = [];
    for (let i = 0; i < 50; i++) {
      const line = Math.floor(rand() * doc.lineCount);
      const change: TextChange = { range: { start: { line, character: 5 }, end: { line, character: 5 } }, text };
      doc.apply(change);
      const t = performance.now();
      m.applyChanges([change], doc);
      m.marks();
      times.push(performance.now() - t);
    }
    return times;
  };
  const typed = timeEdits('x');
  const breaks = timeEdits('\n');
  process.stdout.write(`   a character typed in a sample + the marks to draw: median ${ms(median(typed))}, max ${ms(Math.max(...typed))} (50 random lines)\n`);
  process.stdout.write(`   a line break (every mark below moves) + the marks to draw: median ${ms(median(breaks))}, max ${ms(Math.max(...breaks))}\n`);

  // A line inserted at the top of the file on disk: every sample has moved.
  const moved = new Lines([rows[0] as string, ...rows]);
  const relocate = best(repeat, () => m.relocate(moved));
  const whole = new Lines([...moved.lines]);
  const replaceAll: TextChange = { range: { start: { line: 0, character: 0 }, end: { line: whole.lineCount - 1, character: (whole.lineAt(whole.lineCount - 1)).length } }, text: whole.lines.join('\n') };
  const replace = best(1, () => m.applyChanges([replaceAll], whole));
  process.stdout.write(`   reopened with every line moved (relocate)   ${ms(relocate)}  ratio ${(relocate / parse).toFixed(2)}×\n`);
  process.stdout.write(`   whole document replaced in one change       ${ms(replace)}  ratio ${(replace / parse).toFixed(2)}×\n`);

  // Show after lines were added since the run: each line's sample is looked up by what it trains on.
  const keys = best(1, () => {
    for (const r of rows) trainingKey(r);
  });
  process.stdout.write(`   training key of every line (a run shown after lines moved) ${ms(keys)}  ratio ${(keys / parse).toFixed(2)}×\n\n`);
}
