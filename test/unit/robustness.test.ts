import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { analyzeLine } from '../../src/core/analyze';
import { DatasetDocument } from '../../src/core/document';
import { DEFAULT_OPTIONS } from '../../src/core/options';

describe('never a crash or a hang', () => {
  test('arbitrary strings give diagnostics, not exceptions (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        const { diagnostics, summary } = new DatasetDocument(s, DEFAULT_OPTIONS).lint();
        for (const d of diagnostics) {
          assert.ok(d.column >= 0 && d.column <= d.endColumn || d.line < d.endLine);
          assert.ok(d.message.length > 0);
        }
        assert.ok(summary.samples >= 0);
      }),
      { numRuns: 500 },
    );
  });
  test('arbitrary JSON values in sample positions (property)', () => {
    const sample = fc.record({ contents: fc.anything() }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.oneof(sample, fc.record({ messages: fc.anything(), conversations: fc.anything(), systemInstruction: fc.anything() }, { requiredKeys: [] }), fc.jsonValue()), (v) => {
        const text = JSON.stringify(v) ?? 'null';
        const a = analyzeLine(text, DEFAULT_OPTIONS, 'vertex-gemini');
        assert.ok(Array.isArray(a.diagnostics));
      }),
      { numRuns: 500 },
    );
  });
  test('deep nesting: 100,000 levels of brackets', () => {
    const deep = '{"contents": ' + '['.repeat(100_000) + ']'.repeat(100_000) + '}';
    const a = analyzeLine(deep, DEFAULT_OPTIONS, undefined);
    assert.equal(a.kind, 'sample');
    assert.ok(a.diagnostics.some((d) => d.code === 'schema'));
    const broken = '{"contents": ' + '['.repeat(100_000);
    const b = analyzeLine(broken, DEFAULT_OPTIONS, undefined);
    assert.equal(b.diagnostics[0]?.code, 'invalid-json');
  });
  test('a 10 MB line is checked like any other', () => {
    const text = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'x'.repeat(10 * 1024 * 1024) }] }, { role: 'assistant', parts: [{ text: 'y' }] }] });
    const a = analyzeLine(text, DEFAULT_OPTIONS, undefined);
    assert.deepEqual(a.diagnostics.map((d) => d.code), ['invalid-role', 'too-long'].filter((c) => c !== 'too-long' || a.tokens > 131072));
    assert.equal(a.diagnostics[0]?.start, text.indexOf('"assistant"'));
  });
  test('a line over the size limit is reported without parsing', () => {
    const a = analyzeLine('{"prompt": "' + 'x'.repeat(2000) + '"}', { ...DEFAULT_OPTIONS, maxLineLength: 1000 }, undefined);
    assert.equal(a.diagnostics[0]?.code, 'line-too-large');
  });
  test('lone surrogates and control characters', () => {
    const a = analyzeLine('{"prompt": "\ud800", "completion": "\u0001"}', DEFAULT_OPTIONS, undefined);
    assert.equal(a.diagnostics[0]?.code, 'invalid-json');
    assert.match(a.diagnostics[0]?.message ?? '', /control character/);
  });
});
