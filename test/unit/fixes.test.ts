import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { analyzeLine } from '../../src/core/analyze';
import { DatasetDocument } from '../../src/core/document';
import { FormatId } from '../../src/core/formats';
import { LineFix, fixAllLines, lineFixes, sampleRefactors } from '../../src/core/fixes';
import { DEFAULT_OPTIONS } from '../../src/core/options';
import { openai, vertex } from './helpers';

const src = (lines: string[]) => ({ lineCount: lines.length, lineText: (i: number) => lines[i] ?? '' });
const fixesOf = (line: string, format?: FormatId) => lineFixes(src([line]), 0, format);
const codesAfter = (text: string) => analyzeLine(text, DEFAULT_OPTIONS, undefined).diagnostics.map((d) => d.code);

/** Every string value of a JSON value, in order (keys excluded). */
function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => strings(x, out));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => strings(x, out));
  return out;
}

describe('fixes on samples that parse', () => {
  test('rename a role: a minimal edit, the rule passes', () => {
    const line = vertex([['user', 'q'], ['assistant', 'a']]);
    const [f] = fixesOf(line);
    assert.equal(f?.title, 'Rename role "assistant" to "model"');
    assert.equal(f?.newText, line.replace('"assistant"', '"model"'));
    assert.deepEqual(codesAfter(f!.newText), []);
    assert.equal(line.slice(f!.span.start, f!.span.end), '"assistant"', 'the fix sits on the diagnostic');
  });
  test('rename in OpenAI, ShareGPT and case mistakes', () => {
    assert.equal(fixesOf(openai([['user', 'q'], ['model', 'a']]))[0]?.title, 'Rename role "model" to "assistant"');
    assert.equal(fixesOf(JSON.stringify({ conversations: [{ from: 'human', value: 'q' }, { from: 'bot', value: 'a' }] }))[0]?.title, 'Rename role "bot" to "gpt"');
    assert.equal(fixesOf(vertex([['User', 'q'], ['model', 'a']]))[0]?.title, 'Rename role "User" to "user"');
    assert.deepEqual(fixesOf(vertex([['user', 'q'], ['narrator', 'a']])), [], 'no guess, no fix');
  });
  test('move a Vertex system turn into systemInstruction', () => {
    const line = vertex([['system', 'Be brief.'], ['user', 'q'], ['model', 'a']]);
    const [f] = fixesOf(line);
    assert.equal(f?.title, 'Move the system turn to `systemInstruction`');
    const v = JSON.parse(f!.newText) as { systemInstruction: unknown; contents: unknown[] };
    assert.deepEqual(v.systemInstruction, { parts: [{ text: 'Be brief.' }] });
    assert.equal(v.contents.length, 2);
    assert.deepEqual(codesAfter(f!.newText), []);
    assert.ok(f!.newText.startsWith('{"systemInstruction"'), 'placed first, where readers expect it');
  });
  test('move an OpenAI system message to the front', () => {
    const [f] = fixesOf(openai([['user', 'q'], ['system', 's'], ['assistant', 'a']]));
    assert.deepEqual((JSON.parse(f!.newText) as { messages: { role: string }[] }).messages.map((m) => m.role), ['system', 'user', 'assistant']);
  });
  test('merge two user turns, keeping both texts', () => {
    const line = vertex([['user', 'It was fast.'], ['user', 'Now it is slow.'], ['model', 'Restart it.']]);
    const [f] = fixesOf(line);
    assert.equal(f?.title, 'Merge the two "user" turns');
    const v = JSON.parse(f!.newText) as { contents: { parts: { text: string }[] }[] };
    assert.deepEqual(v.contents[0]?.parts, [{ text: 'It was fast.' }, { text: 'Now it is slow.' }]);
    assert.deepEqual(codesAfter(f!.newText), []);
    const [g] = fixesOf(openai([['user', 'a'], ['user', 'b'], ['assistant', 'c']]));
    assert.equal((JSON.parse(g!.newText) as { messages: { content: string }[] }).messages[0]?.content, 'a\n\nb');
  });
  test('delete an empty turn (offered, not preferred)', () => {
    const line = openai([['user', 'q'], ['assistant', 'a'], ['user', ' '], ['assistant', 'b']]);
    const fixes = fixesOf(line);
    const f = fixes.find((x) => x.code === 'empty-turn');
    assert.equal(f?.preferred, false);
    assert.equal((JSON.parse(f!.newText) as { messages: unknown[] }).messages.length, 3);
  });
  test('wrap string parts; move text into parts', () => {
    const [f] = fixesOf('{"contents": [{"role": "user", "parts": "hello"}, {"role": "model", "parts": [{"text": "hi"}]}]}');
    assert.equal(f?.newText, '{"contents": [{"role": "user", "parts": [{"text":"hello"}]}, {"role": "model", "parts": [{"text": "hi"}]}]}');
    const [g] = fixesOf('{"contents": [{"role": "user", "text": "hello"}, {"role": "model", "parts": [{"text": "hi"}]}]}');
    assert.deepEqual(codesAfter(g!.newText), []);
  });
});

describe('repairs of broken JSON', () => {
  test('trailing comma, single quotes, bare keys: written back in the line\'s own style', () => {
    const [a] = fixesOf('{"prompt": "a", "completion": "b",}');
    assert.equal(a?.newText, '{"prompt": "a", "completion": "b"}');
    const [b] = fixesOf("{'prompt':'it\\'s','completion':'b'}");
    assert.equal(b?.newText, '{"prompt":"it\'s","completion":"b"}');
    const [c] = fixesOf('{prompt: "a", completion: "b"}');
    assert.equal(c?.newText, '{"prompt": "a", "completion": "b"}');
  });
  test('never drops a comment or invents numbers', () => {
    assert.deepEqual(fixesOf('{"prompt": "a", /* note */ "completion": "b",}'), []);
    assert.deepEqual(fixesOf('{"prompt": "a", "completion": NaN,}'), []);
  });
  test('two samples on one line are split', () => {
    const [f] = fixesOf('{"prompt": "a", "completion": "b"} {"prompt": "c", "completion": "d"}');
    assert.equal(f?.newText, '{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": "d"}');
  });
  test('a sample spread over several lines is joined', () => {
    const lines = ['{"contents": [', '  {"role": "user", "parts": [{"text": "q"}]},', '  {"role": "model", "parts": [{"text": "a"}]}', ']}', '{"prompt": "x", "completion": "y"}'];
    const [f] = lineFixes(src(lines), 0, undefined);
    assert.deepEqual([f?.line, f?.endLine], [0, 3]);
    assert.equal(f?.title, 'Join lines 1–4 into one sample');
    assert.deepEqual(JSON.parse(f!.newText), { contents: [{ role: 'user', parts: [{ text: 'q' }] }, { role: 'model', parts: [{ text: 'a' }] }] });
  });
  test('a raw line break inside a string becomes \\n', () => {
    const lines = ['{"prompt": "first line', 'second line", "completion": "b"}'];
    const [f] = lineFixes(src(lines), 0, undefined);
    assert.deepEqual(JSON.parse(f!.newText), { prompt: 'first line\nsecond line', completion: 'b' });
    assert.equal(f?.endLine, 1);
  });
  test('blank lines are deleted', () => {
    const [f] = lineFixes(src(['{"prompt": "a", "completion": "b"}', '  ', '']), 1, undefined);
    assert.deepEqual([f?.code, f?.deleteLines], ['blank-line', true]);
    assert.deepEqual(lineFixes(src(['x', '']), 1, undefined), [], 'the final newline is not a blank line');
  });
});

describe('fix all', () => {
  test('applies every preferred fix, and fixes revealed by a fix', () => {
    const lines = [
      vertex([['user', 'q'], ['assistant', 'a']]),
      '',
      "{'contents': [{'role': 'user', 'parts': [{'text': 'q'}]}, {'role': 'bot', 'parts': [{'text': 'a'}]},]}",
      vertex([['user', 'a'], ['user', 'b'], ['model', 'c']]),
    ];
    const { lines: out, applied } = fixAllLines(lines, undefined);
    assert.equal(applied, 5);
    assert.equal(out.length, 3);
    const doc = new DatasetDocument(out.join('\n') + '\n', DEFAULT_OPTIONS);
    // Only the duplicates are left: removing them is an explicit choice, never part of Fix all.
    assert.deepEqual(doc.lint().diagnostics.map((d) => d.code).filter((c) => c !== 'duplicate' && c !== 'near-duplicate'), []);
  });

  // Property: break a valid sample in a known way; the fix parses, passes the rule, and keeps every text.
  const turnText = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim().length > 0);
  const sample = fc.array(fc.tuple(turnText, turnText), { minLength: 1, maxLength: 3 }).map((pairs) =>
    ({ contents: pairs.flatMap(([q, a]) => [{ role: 'user', parts: [{ text: q }] }, { role: 'model', parts: [{ text: a }] }]) }));
  const breakers: [string, (s: string, v: { contents: { role: string }[] }) => string][] = [
    ['trailing comma', (s) => s.replace(/\}\]\}$/, '},]}')],
    ['rename model→assistant', (_s, v) => JSON.stringify({ contents: v.contents.map((t) => ({ ...t, role: t.role === 'model' ? 'assistant' : t.role })) })],
    ['rename to upper case', (_s, v) => JSON.stringify({ contents: v.contents.map((t) => ({ ...t, role: t.role.toUpperCase() })) })],
    ['bare keys', (s) => s.replace(/"(contents|role|parts|text)":/g, '$1:')],
  ];
  test('every fix keeps the sample parseable, passes its rule and keeps every text in order (property)', () => {
    fc.assert(
      fc.property(sample, fc.constantFrom(...breakers), (v, [, breakIt]) => {
        const valid = JSON.stringify(v);
        const broken = breakIt(valid, v);
        if (broken === valid) return;
        const before = new Set(codesAfter(broken));
        const { lines } = fixAllLines([broken], undefined);
        assert.equal(lines.length, 1);
        const fixed = lines[0] as string;
        const parsed: unknown = JSON.parse(fixed);
        assert.deepEqual(strings(parsed).filter((s) => !['user', 'model'].includes(s)), strings(v).filter((s) => !['user', 'model'].includes(s)));
        for (const code of codesAfter(fixed)) assert.ok(!before.has(code), `${code} still there after the fix: ${fixed}`);
      }),
      { numRuns: 300 },
    );
  });
  test('fixes never touch other lines', () => {
    const lines = [vertex([['user', 'q'], ['assistant', 'a']]), 'unrelated {', vertex([['user', 'q'], ['model', 'a']])];
    for (const f of lineFixes(src(lines), 0, undefined) as LineFix[]) assert.deepEqual([f.line, f.endLine], [0, 0]);
  });
});

describe('offered on a sample, never automatic', () => {
  test('add the usual system instruction to a sample that has none', () => {
    const doc = new DatasetDocument([
      vertex([['user', 'q1'], ['model', 'a1']], 'Be brief.'),
      vertex([['user', 'q2'], ['model', 'a2']], 'Be brief.'),
      vertex([['user', 'q3'], ['model', 'a3']], 'Be brief.'),
      vertex([['user', 'q4'], ['model', 'a4']]),
    ].join('\n'), DEFAULT_OPTIONS);
    doc.lint();
    const usual = doc.usualSystemInstruction();
    assert.equal(usual, 'Be brief.');
    const [r] = sampleRefactors(doc.lineText(3), 3, 'vertex-gemini', usual);
    assert.equal(r?.title, 'Add the system instruction most samples use ("Be brief.")');
    assert.equal(r?.newText, vertex([['user', 'q4'], ['model', 'a4']], 'Be brief.').replace('{"systemInstruction":{"parts":[{"text":"Be brief."}]},', '{"systemInstruction": {"parts":[{"text":"Be brief."}]},'));
    const [o] = sampleRefactors(openai([['user', 'q'], ['assistant', 'a']]), 0, undefined, 'Be brief.');
    assert.deepEqual((JSON.parse(o!.newText) as { messages: unknown[] }).messages[0], { role: 'system', content: 'Be brief.' });
    assert.deepEqual(sampleRefactors(vertex([['user', 'q'], ['model', 'a']], 'Other.'), 0, undefined, 'Be brief.'), []);
  });
  test('trim whitespace around turns', () => {
    const [r] = sampleRefactors(openai([['user', '  q \n'], ['assistant', 'a']]), 0, undefined, undefined);
    assert.equal(r?.title, 'Trim whitespace around the text of the turns');
    assert.deepEqual((JSON.parse(r!.newText) as { messages: { content: string }[] }).messages.map((m) => m.content), ['q', 'a']);
  });
});

describe('fixes on every fixture and sample file', () => {
  const { readdirSync, readFileSync } = require('node:fs') as typeof import('node:fs');
  const path = require('node:path') as typeof import('node:path');
  const root = path.resolve(__dirname, '../../..');
  const files = [
    ...readdirSync(path.join(root, 'test/fixtures')).map((f) => path.join(root, 'test/fixtures', f)),
    ...['gemini/train.jsonl', 'openai/chat.jsonl', 'sharegpt/conversations.jsonl', 'alpaca/instructions.jsonl'].map((f) => path.join(root, 'samples', f)),
  ].filter((f) => f.endsWith('.jsonl'));
  const ROLE_WORDS = new Set(['user', 'model', 'assistant', 'system', 'human', 'gpt', 'bot', 'tool']);
  for (const file of files) {
    test(path.relative(root, file), () => {
      const text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '').replace(/\r\n/g, '\n');
      const lines = text.split('\n');
      const format = new DatasetDocument(text, DEFAULT_OPTIONS).context().format;
      const before = new DatasetDocument(text, DEFAULT_OPTIONS).lint().diagnostics;
      const { lines: out, edits } = fixAllLines(lines, format);
      const after = new DatasetDocument(out.join('\n'), DEFAULT_OPTIONS).lint().diagnostics;
      assert.ok(after.length <= before.length, 'fixing never adds problems');
      for (const e of edits) {
        const original = lines.slice(e.line, e.endLine + 1).join('\n');
        for (const l of e.lines) assert.doesNotThrow(() => JSON.parse(l), `fixed line parses: ${l}`);
        // Every string value of the original (when it parsed) is still there, in order.
        let parsed: unknown;
        try {
          parsed = JSON.parse(original);
        } catch {
          continue;
        }
        const keep = strings(parsed).filter((s) => !ROLE_WORDS.has(s.toLowerCase()) && s.trim() !== '');
        const got = e.lines.flatMap((l) => strings(JSON.parse(l))).filter((s) => !ROLE_WORDS.has(s.toLowerCase()) && s.trim() !== '');
        // Moving a system message to the front reorders by design; everything else keeps the order.
        const reorders = e.titles.some((t) => t.startsWith('Move the system'));
        const joined = got.join('\u0000');
        let at = 0;
        for (const s of keep) {
          const i = joined.indexOf(s, reorders ? 0 : at);
          assert.ok(i >= 0, `"${s}" kept${reorders ? '' : ' in order'} in ${e.lines.join(' / ')}`);
          at = i + s.length;
        }
      }
    });
  }
});
