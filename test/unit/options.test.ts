import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchesGlob, resolveOptions } from '../../src/core/options';

test('invalid settings are reported and skipped, never thrown', () => {
  const { options, problems } = resolveOptions({ rules: { nope: 'error', crlf: 'loud', bom: 'off' }, formats: ['x'], tokenLimits: { m: -1 }, targetModel: 'mystery-model' }, '/w/a.jsonl');
  assert.deepEqual(options.severities, { bom: 'off' });
  assert.deepEqual(problems.map((p) => p.setting), ['rules.nope', 'rules.crlf', 'formats', 'tokenLimits.m', 'targetModel']);
  assert.equal(options.tokenLimit, Number.POSITIVE_INFINITY);
});

test('token limits: exact names, versioned names and Hugging Face ids find their family', () => {
  assert.equal(resolveOptions({ targetModel: 'gemini-2.5-pro' }, undefined).options.tokenLimit, 131072);
  assert.equal(resolveOptions({ targetModel: 'gemini-2.5-flash-lite-001' }, undefined).options.tokenLimit, 131072);
  assert.equal(resolveOptions({ targetModel: 'google/gemma-2-9b-it' }, undefined).options.tokenLimit, 8192);
  assert.equal(resolveOptions({ targetModel: 'gpt-4.1-mini-2025-04-14' }, undefined).options.tokenLimit, 65536);
  assert.equal(resolveOptions({ targetModel: 'mine', tokenLimits: { mine: 4096 } }, undefined).options.tokenLimit, 4096);
});

test('format pins match by glob: base names anywhere, paths from any folder', () => {
  assert.equal(matchesGlob('train.jsonl', '/home/u/proj/data/train.jsonl'), true);
  assert.equal(matchesGlob('*.ndjson', '/home/u/proj/x.ndjson'), true);
  assert.equal(matchesGlob('data/gemini/*.jsonl', '/home/u/proj/data/gemini/a.jsonl'), true);
  assert.equal(matchesGlob('data/gemini/*.jsonl', '/home/u/proj/data/openai/a.jsonl'), false);
  assert.equal(matchesGlob('**/gemini/**', 'C:\\proj\\gemini\\a.jsonl'), true);
  assert.equal(resolveOptions({ formats: { 'gemini/*.jsonl': 'vertex-gemini' } }, '/p/gemini/t.jsonl').options.pinnedFormat, 'vertex-gemini');
});
