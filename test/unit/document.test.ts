import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DatasetDocument } from '../../src/core/document';
import { DEFAULT_OPTIONS, resolveOptions } from '../../src/core/options';
import { lint, openai, vertex } from './helpers';

const good = (i: number) => vertex([['user', `question ${i}`], ['model', `answer ${i}`]], 'You are a support agent.');

describe('file-level rules', () => {
  test('the file format is the majority; other lines are mixed-format on their marker key', () => {
    const other = openai([['user', 'q'], ['assistant', 'a']]);
    const diags = lint([good(1), good(2), other, good(3)].join('\n') + '\n');
    assert.deepEqual(diags.map((d) => [d.line, d.code, d.column, d.endColumn]), [[2, 'mixed-format', 1, 11]]);
    assert.equal(diags[0]?.message, 'this sample is OpenAI chat, but the file is Vertex AI Gemini (detected from 3 of 4 samples)');
  });
  test('a pinned format wins over the majority', () => {
    const diags = lint([good(1), good(2)].join('\n'), { formats: { 'train.jsonl': 'openai-chat' } });
    assert.deepEqual(diags.map((d) => d.message), [
      'this sample is Vertex AI Gemini, but the file is OpenAI chat (pinned for this file in the sftStudio.formats setting)',
      'this sample is Vertex AI Gemini, but the file is OpenAI chat (pinned for this file in the sftStudio.formats setting)',
    ]);
  });
  test('a system instruction unlike the usual one, linked to an example of the usual one', () => {
    const odd = vertex([['user', 'q'], ['model', 'a']], 'You are a pirate.');
    const text = [good(1), good(2), odd, good(3)].join('\n');
    const diags = lint(text);
    assert.equal(diags.length, 1);
    const d = diags[0]!;
    assert.equal(d.code, 'inconsistent-system-instruction');
    assert.equal(d.severity, 'information');
    assert.equal(d.message, 'this system instruction differs from the one 3 of 4 samples (75 %) use: "You are a support agent."');
    assert.equal(odd.slice(d.column, d.endColumn), '"You are a pirate."');
    assert.deepEqual(d.related, [{ line: 0, message: 'the system instruction most samples use' }]);
  });
  test('blank lines, but not the final newline', () => {
    const diags = lint(`${good(1)}\n\n${good(2)}\n  \n${good(3)}\n`);
    assert.deepEqual(diags.map((d) => [d.line, d.code, d.column, d.endColumn]), [[1, 'blank-line', 0, 0], [3, 'blank-line', 0, 2]]);
  });
  test('CRLF: one diagnostic with the count', () => {
    const diags = lint(`${good(1)}\r\n${good(2)}\r\n`);
    assert.deepEqual(diags.map((d) => [d.line, d.code, d.message]), [[0, 'crlf', '2 lines end with CRLF (Windows line endings); most tools expect LF']]);
  });
  test('a BOM in the text is reported once, not as broken JSON', () => {
    const diags = lint(`\ufeff${good(1)}\n`);
    assert.deepEqual(diags.map((d) => [d.line, d.code, d.column, d.endColumn]), [[0, 'bom', 0, 1]]);
  });
  test('summary counts samples and problems', () => {
    const doc = new DatasetDocument([good(1), '{bad', vertex([['user', 'q'], ['assistant', 'a']]), ''].join('\n'), resolveOptions({}, 'x.jsonl').options);
    const { summary } = doc.lint();
    const { distribution, targets, ...counts } = summary;
    assert.deepEqual(counts, { format: 'vertex-gemini', formatLabel: 'Vertex AI Gemini', formatSource: 'detected', samples: 3, errors: 2, warnings: 0, infos: 0 });
    assert.deepEqual(targets, [], 'no target chosen');
    // Two samples (the broken line is none): 23 and 10 estimated tokens (a quarter of the characters, plus 4 per turn).
    assert.deepEqual(distribution, { min: 10, q1: 10, median: 23, q3: 23, max: 23 });
  });
});

describe('incremental edits', () => {
  test('re-lints only the edited line', () => {
    const lines = Array.from({ length: 1000 }, (_, i) => good(i));
    // "question 1" and "question 2" are near duplicates; this test is about the other rules.
    const doc = new DatasetDocument(lines.join('\n'), resolveOptions({ rules: { 'near-duplicate': 'off' } }, 'x.jsonl').options);
    assert.equal(doc.lint().diagnostics.length, 0);
    const before = doc.analysis(10);
    const col = lines[500]!.indexOf('"model"') + 1;
    doc.applyEdit({ startLine: 500, startCharacter: col, endLine: 500, endCharacter: col + 5, text: 'assistant' });
    const { diagnostics } = doc.lint();
    assert.deepEqual(diagnostics.map((d) => [d.line, d.code]), [[500, 'invalid-role']]);
    assert.equal(doc.analysis(10), before, 'untouched lines keep their cached analysis');
  });

  const linePool = [
    good(1), good(2), vertex([['user', 'q'], ['assistant', 'a']]), openai([['user', 'q'], ['assistant', 'a']]),
    '{"prompt": "p", "completion": "c"}', '{bad json', '', '   ', '{"question": 1}', vertex([['user', 'q'], ['model', 'a']], 'Other system.'),
    '{"contents": [{"role": "user", "parts": "x"}]}', '\r',
  ];
  const arbText = fc.array(fc.constantFrom(...linePool), { minLength: 0, maxLength: 12 }).map((ls) => ls.join('\n'));

  test('any sequence of edits gives the same diagnostics as linting the final text afresh (property)', () => {
    fc.assert(
      fc.property(arbText, fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat(), fc.oneof(arbText, fc.constantFrom('', '\n', 'x', '"', '}', '\n\n'))), { maxLength: 8 }), (initial, edits) => {
        const options = resolveOptions({}, 'x.jsonl').options;
        const doc = new DatasetDocument(initial, options);
        doc.lint();
        let text = initial;
        for (const [a, b, c, d, insert] of edits) {
          const lines = text.split('\n');
          const sl = a % lines.length;
          const el = sl + (b % Math.min(3, lines.length - sl));
          const sc = c % ((lines[sl] ?? '').length + 1);
          const ec = el === sl ? sc + (d % ((lines[el] ?? '').length - sc + 1)) : d % ((lines[el] ?? '').length + 1);
          const startOffset = lines.slice(0, sl).reduce((n, l) => n + l.length + 1, 0) + sc;
          const endOffset = lines.slice(0, el).reduce((n, l) => n + l.length + 1, 0) + ec;
          text = text.slice(0, startOffset) + insert + text.slice(endOffset);
          doc.applyEdit({ startLine: sl, startCharacter: sc, endLine: el, endCharacter: ec, text: insert });
          if (c % 2 === 0) doc.lint();
        }
        const fresh = new DatasetDocument(text, options).lint();
        const incremental = doc.lint();
        assert.deepEqual(incremental.diagnostics, fresh.diagnostics);
        assert.deepEqual(incremental.summary, fresh.summary);
      }),
      { numRuns: 300 },
    );
  });
});

describe('deferred duplicate indexing (large files, in slices)', () => {
  const pool = [
    good(1), good(2), good(3), vertex([['user', 'question 1'], ['model', 'answer 1']], 'You are a support agent.'),
    vertex([['user', 'q'], ['assistant', 'a']]), '{bad json', '', vertex([['user', 'question 12'], ['model', 'answer 12']], 'Other.'),
    openai([['system', 'You are a support agent.'], ['user', 'question 2'], ['assistant', 'answer 2']]),
  ];
  const arbText = fc.array(fc.constantFrom(...pool), { minLength: 1, maxLength: 80 }).map((ls) => ls.join('\n'));

  test('rules first without duplicates; slices with edits in between end as a fresh lint of the final text (property)', () => {
    fc.assert(
      fc.property(arbText, fc.array(fc.tuple(fc.nat(), fc.nat(3), fc.constantFrom(...pool, '', `${good(1)}\n${good(2)}`)), { maxLength: 6 }), (initial, edits) => {
        const options = resolveOptions({}, 'x.jsonl').options;
        const doc = new DatasetDocument(initial, options);
        doc.deferDuplicates();
        assert.equal(doc.duplicatesIndexed, false);
        const first = doc.lint().diagnostics;
        assert.ok(first.every((d) => d.code !== 'duplicate' && d.code !== 'near-duplicate'), 'no duplicates before indexing');
        let text = initial;
        let pending = [...edits];
        // A zero budget indexes one sample per call, then edits land between slices.
        while (!doc.indexDuplicates(0)) {
          const edit = pending.shift();
          if (edit === undefined) continue;
          const [at, span, insert] = edit;
          const lines = text.split('\n');
          const sl = at % lines.length;
          const el = Math.min(lines.length - 1, sl + (span % 2));
          lines.splice(sl, el - sl + 1, insert);
          doc.applyEdit({ startLine: sl, startCharacter: 0, endLine: el, endCharacter: (text.split('\n')[el] as string).length, text: insert });
          text = lines.join('\n');
          if (at % 2 === 0) doc.lint();
        }
        pending = [];
        assert.equal(doc.duplicatesIndexed, true);
        assert.deepEqual(doc.lint().diagnostics, new DatasetDocument(text, options).lint().diagnostics);
      }),
      { numRuns: 200 },
    );
  });

  test('analysis in slices: nothing is left when analyzePending says so, and lint agrees', () => {
    const text = Array.from({ length: 3000 }, (_, i) => (i % 100 === 7 ? vertex([['user', 'q'], ['assistant', 'a']]) : good(i))).join('\n');
    const options = resolveOptions({ rules: { 'near-duplicate': 'off', duplicate: 'off' } }, 'x.jsonl').options;
    const doc = new DatasetDocument(text, options);
    let slices = 0;
    while (!doc.analyzePending(0)) slices++;
    assert.ok(slices > 10, `slices ${slices}`);
    const diagnostics = doc.lint().diagnostics;
    assert.deepEqual(diagnostics, new DatasetDocument(text, options).lint().diagnostics);
    assert.deepEqual([...new Set(diagnostics.map((d) => d.line))], Array.from({ length: 30 }, (_, k) => k * 100 + 7));
  });
});

describe('duplicates', () => {
  const sample = (q: string, a: string, system?: string) => vertex([['user', q], ['model', a]], system);
  const base = [
    sample('How do I reset the router to factory settings?', 'Hold the reset button for ten seconds until the light blinks.'),
    sample('What does the blinking orange light mean on the front?', 'The router is installing a firmware update; do not unplug it.'),
    sample('Does this model support WPA3 security on the guest network?', 'Yes, from firmware 2.1 onwards, under Wireless settings.'),
  ];
  test('exact copies link to every twin; whitespace, case and key order do not matter', () => {
    const copy = JSON.stringify({ contents: [{ parts: [{ text: '  how do I reset the router to  FACTORY settings?' }], role: 'user' }, { role: 'model', parts: [{ text: 'Hold the reset button for ten seconds until the light blinks.' }] }] });
    const diags = lint([...base, copy, base[0]].join('\n'));
    assert.deepEqual(diags.map((d) => [d.line, d.code, d.message]), [
      [0, 'duplicate', 'duplicate of line 4 and 1 more'],
      [3, 'duplicate', 'duplicate of line 1 and 1 more'],
      [4, 'duplicate', 'duplicate of line 1 and 1 more'],
    ]);
    assert.deepEqual(diags[0]?.related?.map((r) => r.line), [3, 4]);
    assert.equal(base[0]!.slice(diags[0]!.column, diags[0]!.endColumn), '"contents"');
  });
  test('near duplicates give the similarity and follow edits', () => {
    const near = sample('How do I reset the router to its factory settings?', 'Hold the reset button for ten seconds until the light blinks.');
    const doc = new DatasetDocument([...base, near].join('\n'), DEFAULT_OPTIONS);
    const diags = doc.lint().diagnostics;
    assert.deepEqual(diags.map((d) => [d.line, d.code]), [[0, 'near-duplicate'], [3, 'near-duplicate']]);
    assert.match(diags[1]!.message, /^near duplicate of line 1 \(similarity 0\.\d\d\)$/);
    assert.equal(diags[1]!.severity, 'information');
    // Insert a line above: the messages follow the lines.
    doc.applyEdit({ startLine: 0, startCharacter: 0, endLine: 0, endCharacter: 0, text: sample('An unrelated question about cables and ports?', 'Use the blue port for the modem.') + '\n' });
    assert.deepEqual(doc.lint().diagnostics.map((d) => [d.line, d.message.replace(/ \(.*/, '')]), [[1, 'near duplicate of line 5'], [4, 'near duplicate of line 2']]);
    // Edit the twin away: both diagnostics go.
    const changed = sample('Completely different words here, nothing alike at all.', 'Something else entirely, about the weather today.');
    doc.applyEdit({ startLine: 4, startCharacter: 0, endLine: 4, endCharacter: doc.lineText(4).length, text: changed });
    assert.deepEqual(doc.lint().diagnostics, []);
  });
  test('the threshold and the turns that count are settings', () => {
    const sys = (s: string) => sample('Where is the serial number printed on the device?', 'On the label under the router, next to the barcode.', s);
    const text = [sys('You are a support agent.'), sys('You are a pirate.')].join('\n');
    assert.deepEqual(lint(text).map((d) => d.code), ['near-duplicate', 'near-duplicate'], 'another system prompt: a near duplicate');
    assert.deepEqual(lint(text, { duplicates: { turns: 'user' } }).map((d) => d.code), ['duplicate', 'duplicate']);
    assert.deepEqual(lint(text, { duplicates: { threshold: 1 } }).map((d) => d.code), []);
  });
});

