import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  LineMarks, escapeMarkdown, fingerprint, firstWords, formatLoss, hardSampleHover, hardSampleMessage, hardSamples, isHard, percentileBand, rankSampleLosses,
  runSampleKey, sampleTurns, topPercentOf, trainingKey, type LineSource, type TextChange,
} from '../../src/core/hardSamples';
import type { SampleLossEvent, TrainerEvent } from '../../src/core/runs';
import { normalizeDataset } from '../../src/core/trainingData';
import { openai, vertex } from './helpers';

const T = '2026-11-23T17:00:00.000Z';
const loss = (line: number, value: number | null, extra: Partial<SampleLossEvent> = {}): SampleLossEvent => ({
  event: 'sample_loss', time: T, file: 'train', line, loss: value, tokens: 10, turns: value === null ? [] : [{ turn: 1, loss: value, tokens: 10 }], stage: 'after_training', ...extra,
});

describe('rankSampleLosses', () => {
  test('ranks by loss, highest first; percentile is the fraction with a higher loss; ties share it', () => {
    const events: TrainerEvent[] = [
      { event: 'started', time: T, config: {}, device: 'cpu', model: 'builtin:tiny', total_steps: 2 },
      loss(1, 2.0), loss(2, 4.0), loss(3, 3.0), loss(4, 3.0), loss(5, null, { skipped: 'longer than max_length (9 > 8 tokens)' }),
      loss(1, 1.0, { file: 'validation' }),
    ];
    const r = rankSampleLosses(events, 'train');
    assert.deepEqual(r.samples.map((s) => [s.line, s.loss, s.rank, s.percentile]), [[2, 4, 1, 0], [3, 3, 2, 0.25], [4, 3, 2, 0.25], [1, 2, 4, 0.75]]);
    assert.deepEqual(r.skipped, [{ line: 5, reason: 'longer than max_length (9 > 8 tokens)' }]);
    assert.deepEqual(rankSampleLosses(events, 'validation').samples.map((s) => [s.line, s.percentile]), [[1, 0]]);
  });

  test('a line scored twice counts with its last event; turns are sorted worst first, turns without a loss left out', () => {
    const r = rankSampleLosses([
      loss(7, 9, { stage: 'score' }),
      loss(7, 2.5, { turns: [{ turn: 1, loss: 1, tokens: 3 }, { turn: 3, loss: 4, tokens: 2 }, { turn: 5, loss: null, tokens: 0 }] }),
    ]);
    assert.equal(r.samples.length, 1);
    assert.equal(r.samples[0]!.loss, 2.5);
    assert.equal(r.samples[0]!.stage, 'after_training');
    assert.deepEqual(r.samples[0]!.turns, [{ turn: 3, loss: 4, tokens: 2 }, { turn: 1, loss: 1, tokens: 3 }]);
  });

  test('top N %: strictly fewer than N % have a higher loss; the hardest always counts', () => {
    const events = Array.from({ length: 20 }, (_, i) => loss(i + 1, i)); // line 20 has the highest loss
    const r = rankSampleLosses(events);
    assert.deepEqual(hardSamples(r, 10).map((s) => s.line), [20, 19]);
    assert.deepEqual(hardSamples(r, 5).map((s) => s.line), [20]);
    assert.deepEqual(hardSamples(r, 0.1).map((s) => s.line), [20]);
    assert.equal(hardSamples(r, 100).length, 20);
    assert.equal(isHard({ percentile: 0.1 }, 10), false);
    assert.equal(isHard({ percentile: 0.0999 }, 10), true);
  });
});

describe('labels', () => {
  test('"top k %" is the smallest whole k with the sample inside it, and agrees with isHard', () => {
    assert.equal(topPercentOf({ percentile: 0 }), 1);
    assert.equal(topPercentOf({ percentile: 1 / 12 }), 9);
    assert.equal(topPercentOf({ percentile: 0.05 }), 6);
    assert.equal(topPercentOf({ percentile: 0.049 }), 5);
    assert.equal(topPercentOf({ percentile: 0.07 }), 8, '0.07 * 100 is 7.000000000000001 in floating point');
    assert.equal(topPercentOf({ percentile: 0.999 }), 100);
    for (let h = 0; h < 200; h++) {
      const p = { percentile: h / 200 };
      assert.equal(isHard(p, 10), topPercentOf(p) <= 10, `percentile ${p.percentile}`);
    }
  });

  test('message, loss format, bands', () => {
    assert.equal(hardSampleMessage({ loss: 3.2149, percentile: 0.04 }), 'hard sample: loss 3.2, top 5 %');
    assert.equal(formatLoss(0.8712), '0.87');
    assert.equal(formatLoss(12.04), '12');
    assert.equal(formatLoss(12.34), '12.3');
    assert.equal(formatLoss(0), '0');
    assert.deepEqual([0, 0.009, 0.01, 0.049, 0.05, 0.099, 0.1, 0.24, 0.25, 0.99].map((p) => percentileBand({ percentile: p })), [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
  });
});

/** A document as lines, edited the way VS Code reports it (ranges in the text as the previous changes left it). */
class Doc implements LineSource {
  lines: string[];
  constructor(text: string) {
    this.lines = text.split('\n');
  }
  get lineCount(): number {
    return this.lines.length;
  }
  lineAt(line: number): string {
    return this.lines[line]!;
  }
  edit(...changes: TextChange[]): TextChange[] {
    for (const c of changes) {
      const { start, end } = c.range;
      const head = this.lines[start.line]!.slice(0, start.character);
      const tail = this.lines[end.line]!.slice(end.character);
      this.lines.splice(start.line, end.line - start.line + 1, ...(head + c.text + tail).split('\n'));
    }
    return changes;
  }
}
const at = (sl: number, sc: number, el: number, ec: number, text: string): TextChange => ({ range: { start: { line: sl, character: sc }, end: { line: el, character: ec } }, text });

describe('LineMarks', () => {
  const text = ['{"a":0}', '{"a":1}', '{"a":2}', '{"a":3}', '{"a":4}'].join('\n');
  const make = (doc: Doc) => new LineMarks([{ line: 1, data: 'one' }, { line: 3, data: 'three' }], doc);
  const shown = (m: LineMarks<string>) => m.marks().map((x) => [x.line, x.data]);

  test('lines inserted above move the marks; lines below do not', () => {
    const doc = new Doc(text);
    const m = make(doc);
    assert.equal(m.applyChanges(doc.edit(at(0, 7, 0, 7, '\n{"new":1}\n{"new":2}')), doc), true);
    assert.deepEqual(shown(m), [[3, 'one'], [5, 'three']]);
    assert.equal(m.applyChanges(doc.edit(at(6, 7, 6, 7, '\n{"end":1}')), doc), false);
    assert.deepEqual(shown(m), [[3, 'one'], [5, 'three']]);
  });

  test('a line inserted at the start of a marked line (Enter at column 0) moves the mark down', () => {
    const doc = new Doc(text);
    const m = make(doc);
    m.applyChanges(doc.edit(at(1, 0, 1, 0, '{"new":1}\n')), doc);
    assert.deepEqual(doc.lines.slice(1, 3), ['{"new":1}', '{"a":1}']);
    assert.deepEqual(shown(m), [[2, 'one'], [4, 'three']]);
  });

  test('deleting lines above moves the marks up; deleting the marked line drops its mark', () => {
    const doc = new Doc(text);
    const m = make(doc);
    m.applyChanges(doc.edit(at(0, 0, 1, 0, '')), doc);
    assert.deepEqual(shown(m), [[0, 'one'], [2, 'three']]);
    m.applyChanges(doc.edit(at(0, 0, 1, 0, '')), doc);
    assert.deepEqual(shown(m), [[1, 'three']]);
    assert.equal(m.at(1), 'three');
    assert.equal(m.at(0), undefined);
  });

  test('an edit inside the line drops the mark once the text differs; undoing it brings it back', () => {
    const doc = new Doc(text);
    const m = make(doc);
    assert.equal(m.applyChanges(doc.edit(at(3, 5, 3, 6, '9')), doc), true);
    assert.deepEqual(shown(m), [[1, 'one']]);
    assert.equal(m.applyChanges(doc.edit(at(3, 5, 3, 6, '3')), doc), true);
    assert.deepEqual(shown(m), [[1, 'one'], [3, 'three']]);
  });

  test('an edit that leaves the text as it was keeps the mark', () => {
    const doc = new Doc(text);
    const m = make(doc);
    assert.equal(m.applyChanges(doc.edit(at(3, 5, 3, 6, '3')), doc), false);
    assert.deepEqual(shown(m), [[1, 'one'], [3, 'three']]);
  });

  test('several changes in one event (multi-cursor), applied in order', () => {
    const doc = new Doc(text);
    const m = make(doc);
    // VS Code sends them bottom-up: an edit inside line 3, then a line inserted at the top.
    m.applyChanges(doc.edit(at(3, 1, 3, 4, '"b"'), at(0, 0, 0, 0, '{"top":1}\n')), doc);
    assert.deepEqual(doc.lines, ['{"top":1}', '{"a":0}', '{"a":1}', '{"a":2}', '{"b":3}', '{"a":4}']);
    assert.deepEqual(shown(m), [[2, 'one']]);
  });

  test('moving a marked line down (cut and paste as one change) keeps its mark', () => {
    const doc = new Doc(text);
    const m = make(doc);
    m.applyChanges(doc.edit(at(1, 0, 3, 7, '{"a":2}\n{"a":3}\n{"a":1}')), doc);
    assert.deepEqual(shown(m), [[2, 'three'], [3, 'one']]);
  });

  test('a whole-document replace (reverted from disk) finds unchanged samples wherever they went', () => {
    const doc = new Doc(text);
    const m = make(doc);
    m.applyChanges(doc.edit(at(0, 0, 4, 7, ['{"a":3}', '{"x":1}', '{"a":1}'].join('\n'))), doc);
    assert.deepEqual(shown(m), [[0, 'three'], [2, 'one']]);
  });

  test('relocate: a reopened document gets the marks of its unchanged lines back, wherever they are', () => {
    const m = make(new Doc(text));
    m.relocate(new Doc(['{"z":1}', '{"a":0}', '{"a":1}', '{"a":2}', '{"a":3 }', '{"a":4}'].join('\n')));
    assert.deepEqual(shown(m), [[2, 'one']]);
    m.relocate(new Doc(text));
    assert.deepEqual(shown(m), [[1, 'one'], [3, 'three']]);
  });

  test('identical lines: the mark goes to the copy nearest its line', () => {
    const doc = new Doc(['{"d":1}', '{"x":1}', '{"d":1}', '{"d":1}'].join('\n'));
    const m = new LineMarks([{ line: 2, data: 'two' }], doc);
    m.relocate(new Doc(['{"d":1}', '{"x":1}', '{"y":1}', '{"d":1}'].join('\n')));
    assert.deepEqual(shown(m), [[3, 'two']]);
  });

  test('a filter hides marks without forgetting them; lines out of range are ignored', () => {
    const doc = new Doc(text);
    const m = new LineMarks([{ line: 0, data: 1 }, { line: 4, data: 5 }, { line: 5, data: 6 }, { line: -1, data: 0 }], doc);
    assert.equal(m.size, 2);
    m.setFilter((d) => d > 3);
    assert.deepEqual(m.marks().map((x) => x.line), [4]);
    assert.equal(m.at(0), undefined);
    m.setFilter(() => true);
    assert.deepEqual(m.marks().map((x) => x.line), [0, 4]);
  });

  test('property: through any edits, every mark sits on a line with its text, and the drawn list matches a fresh one', () => {
    const text = fc.stringMatching(/^[ab]{1,3}$/);
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('type' as const), line: fc.nat(), col: fc.nat(3), ch: fc.constantFrom('a', 'b', '') }),
      fc.record({ kind: fc.constant('insert' as const), line: fc.nat(), text }),
      fc.record({ kind: fc.constant('delete' as const), line: fc.nat() }),
    );
    fc.assert(fc.property(fc.array(text, { minLength: 2, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 6 }), fc.array(edit, { maxLength: 15 }), (lines, marked, edits) => {
      const doc = new Doc(lines.join('\n'));
      const entries = marked.map((n) => ({ line: n % lines.length, data: lines[n % lines.length]! }));
      const drawn = new LineMarks(entries, doc);
      const fresh = new LineMarks(entries, new Doc(lines.join('\n')));
      const check = () => {
        for (const m of drawn.marks()) assert.equal(doc.lineAt(m.line), m.data);
      };
      drawn.marks();
      for (const e of edits) {
        const line = e.line % doc.lineCount;
        let change: TextChange;
        if (e.kind === 'type') {
          const col = Math.min(e.col, doc.lineAt(line).length);
          change = at(line, col, line, Math.min(col + (e.ch === '' ? 1 : 0), doc.lineAt(line).length), e.ch);
        } else if (e.kind === 'insert') change = at(line, 0, line, 0, `${e.text}\n`);
        else change = doc.lineCount > 1 ? (line + 1 < doc.lineCount ? at(line, 0, line + 1, 0, '') : at(line - 1, doc.lineAt(line - 1).length, line, doc.lineAt(line).length, '')) : at(0, 0, 0, 0, '');
        doc.edit(change);
        drawn.applyChanges([change], doc);
        fresh.applyChanges([change], doc);
        check();
      }
      assert.deepEqual(drawn.marks(), fresh.marks());
    }), { numRuns: 300 });
  });

  test('fingerprint: equal for equal text, different for any change', () => {
    assert.deepEqual(fingerprint('{"a":1}'), fingerprint('{"a":1}'));
    assert.notDeepEqual(fingerprint('{"a":1}'), fingerprint('{"a":2}'));
    assert.equal(fingerprint('héllo').length, 5);
  });
});

describe('turns and the hover', () => {
  test('sampleTurns numbers the turns as the trainer does (system excluded) with the file\'s role names', () => {
    const line = openai([['system', 's'], ['user', 'q'], ['assistant', 'a'], ['user', 'q2'], ['assistant', 'a2']]);
    assert.deepEqual(sampleTurns(line), [
      { role: 'user', text: 'q' }, { role: 'assistant', text: 'a' }, { role: 'user', text: 'q2' }, { role: 'assistant', text: 'a2' },
    ]);
    const normalized = JSON.parse(normalizeDataset(line).lines[0]!) as { turns: { role: string }[] };
    assert.equal(normalized.turns.length, 4, 'the trainer sees the same four turns');
    assert.deepEqual(sampleTurns('not json'), []);
    assert.deepEqual(sampleTurns('[1]'), []);
  });

  test('trainingKey equals the key of the run\'s normalized sample for the same line, and differs after an edit', () => {
    const line = vertex([['user', 'q'], ['model', 'a']], 'sys');
    const runLine = JSON.parse(normalizeDataset(line).lines[0]!) as Record<string, unknown>;
    assert.deepEqual(runSampleKey(JSON.stringify({ ...runLine, line: 7 })), { line: 7, key: trainingKey(line) });
    assert.notEqual(trainingKey(vertex([['user', 'q'], ['model', 'b']], 'sys')), trainingKey(line));
    assert.equal(trainingKey('{"broken"'), undefined);
    assert.equal(runSampleKey('nope'), undefined);
  });

  test('firstWords cuts at a word and flattens whitespace', () => {
    assert.equal(firstWords('short\n\ttext'), 'short text');
    assert.equal(firstWords('The quick brown fox jumps over the lazy dog', 20), 'The quick brown fox…');
    assert.equal(firstWords('x'.repeat(30), 10), 'xxxxxxxxxx…');
  });

  test('escapeMarkdown escapes HTML and Markdown syntax', () => {
    assert.equal(escapeMarkdown('<img src=x onerror=alert(1)>'), '\\<img src\\=x onerror\\=alert\\(1\\)\\>');
    assert.equal(escapeMarkdown('**b** [l](u) `c` &amp; |t|'), '\\*\\*b\\*\\* \\[l\\]\\(u\\) \\`c\\` \\&amp\\; \\|t\\|');
    assert.equal(escapeMarkdown('plain words 123 é'), 'plain words 123 é');
  });

  test('the hover lists the loss per turn, worst first, with role and first words (escaped), and the run', () => {
    const line = openai([['user', 'What is <b>2+2</b>?'], ['assistant', 'Four.'], ['user', 'And 3*3?'], ['assistant', '<img src=x onerror=alert(1)>']]);
    const ranking = rankSampleLosses([
      loss(4, 2.75, { turns: [{ turn: 1, loss: 1.5, tokens: 3 }, { turn: 3, loss: 4, tokens: 9 }] }),
      loss(5, 1),
    ]);
    assert.equal(hardSampleHover({ sample: ranking.samples[0]!, total: 2, run: 'builtin:tiny, 2026-11-23 17:12', lineText: line }), [
      '**Hard sample**: loss 2.8, top 1 % (rank 1 of 2)',
      '',
      'Loss per turn, worst first:',
      '',
      '- turn 4, assistant “\\<img src\\=x onerror\\=alert\\(1\\)\\>”: loss 4.0 (9 tokens)',
      '- turn 2, assistant “Four\\.”: loss 1.5 (3 tokens)',
      '',
      'Run: builtin\\:tiny\\, 2026\\-11\\-23 17\\:12',
    ].join('\n'));
  });

  test('the hover says when a turn is gone from the line, and when the base model scored it', () => {
    const ranking = rankSampleLosses([loss(1, 3, { stage: 'score', turns: [{ turn: 5, loss: 3 }] })]);
    const md = hardSampleHover({ sample: ranking.samples[0]!, total: 1, run: 'r', lineText: vertex([['user', 'q'], ['model', 'a']]) });
    assert.match(md, /- turn 6, a turn the line no longer has: loss 3\.0\n/);
    assert.match(md, /Run: r \(scored by the base model\)$/);
  });
});
