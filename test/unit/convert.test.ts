import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { convertLines, convertSample, toConversation } from '../../src/core/convert';
import { FORMAT_IDS, FormatId } from '../../src/core/formats';
import { lineFixes, serializeLike } from '../../src/core/fixes';
import { analyzeLine } from '../../src/core/analyze';
import { DEFAULT_OPTIONS } from '../../src/core/options';

const text = fc.string({ minLength: 1, maxLength: 12 });
/** A single-exchange or multi-turn conversation every format can hold (prompt/completion: one exchange, no system). */
const conversation = fc.record({
  system: fc.option(text, { nil: undefined }),
  pairs: fc.array(fc.tuple(text, text), { minLength: 1, maxLength: 3 }),
});

function holds(format: FormatId, c: { system: string | undefined; pairs: [string, string][] }): boolean {
  if (format === 'prompt-completion') return c.system === undefined && c.pairs.length === 1;
  return true;
}

describe('conversion', () => {
  test('A → B → A keeps every turn\'s role and text, for every pair of formats that can hold the sample (property)', () => {
    fc.assert(
      fc.property(conversation, fc.constantFrom(...FORMAT_IDS), fc.constantFrom(...FORMAT_IDS), (c, a, b) => {
        if (!holds(a, c) || !holds(b, c)) return;
        const neutral = { system: c.system, turns: c.pairs.flatMap(([q, r]) => [{ role: 'user' as const, text: q }, { role: 'model' as const, text: r }]), lost: [] };
        // Build the sample in format A from the neutral shape, then go A → B → A.
        const inA = convertSample({ contents: neutral.turns.map((t) => ({ role: t.role, parts: [{ text: t.text }] })), ...(c.system !== undefined ? { systemInstruction: { parts: [{ text: c.system }] } } : {}) }, a, 'vertex-gemini');
        assert.ok(inA.value, `${a} holds it`);
        const inB = convertSample(inA.value, b, a);
        assert.ok(inB.value, `${b} holds it`);
        assert.deepEqual(inB.lost, []);
        const back = convertSample(inB.value, a, b);
        const original = toConversation(a, inA.value);
        const roundTrip = toConversation(a, back.value!);
        assert.deepEqual(roundTrip.turns, original.turns);
        assert.equal(roundTrip.system, original.system);
      }),
      { numRuns: 400 },
    );
  });

  test('what a format cannot hold is reported', () => {
    const multi = { messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'user', content: 'c' }, { role: 'assistant', content: 'd' }] };
    const r = convertSample(multi, 'prompt-completion');
    assert.equal(r.value, undefined);
    assert.deepEqual(r.lost, ['the system instruction', 'more than one user turn and one model turn']);
    const tools = { messages: [{ role: 'user', content: 'w?' }, { role: 'assistant', content: null, tool_calls: [{ id: '1', type: 'function', function: { name: 'w', arguments: '{}' } }] }, { role: 'tool', tool_call_id: '1', content: 'sun' }, { role: 'assistant', content: 'Sunny.' }], tools: [{ type: 'function' }] };
    const a = convertSample(tools, 'alpaca');
    assert.equal(a.value, undefined);
    assert.ok(a.lost.includes('the `tools` definitions'));
    assert.ok(a.lost.includes('turn 2: tool calls'));
  });

  test('a whole file: converted lines, and the lines that could not be carried over', () => {
    const lines = ['{"prompt": "p", "completion": "c"}', '{broken', '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}', ''];
    const r = convertLines(lines, 'prompt-completion', serializeLike);
    assert.equal(r.converted, 1);
    assert.deepEqual(r.problems.map((p) => [p.line, p.lost.at(-1)]), [[1, 'not valid JSON: copied as it is'], [2, 'copied as it is']]);
    const v = convertLines(['{"prompt": "p", "completion": "c"}', ''], 'vertex-gemini', serializeLike);
    assert.deepEqual(v.lines, ['{"contents": [{"role": "user", "parts": [{"text": "p"}]}, {"role": "model", "parts": [{"text": "c"}]}]}', '']);
  });

  test('mixed-format quick fix converts a sample to the file\'s format', () => {
    const line = '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}';
    const fixes = lineFixes({ lineCount: 1, lineText: () => line }, 0, 'vertex-gemini');
    const f = fixes.find((x) => x.code === 'mixed-format');
    assert.equal(f?.title, 'Convert this sample to Vertex AI Gemini');
    assert.equal(line.slice(f!.span.start, f!.span.end), '"messages"');
    assert.deepEqual(analyzeLine(f!.newText, DEFAULT_OPTIONS, undefined).ownFormat, 'vertex-gemini');
    assert.deepEqual(analyzeLine(f!.newText, DEFAULT_OPTIONS, undefined).diagnostics, []);
  });
});
