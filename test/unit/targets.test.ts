import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DatasetDocument, Diagnostic } from '../../src/core/document';
import { resolveOptions } from '../../src/core/options';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { TARGETS, TARGET_IDS, costText, distribution, findTarget } from '../../src/core/targets';
import { ROOT, covered, lint, openai, vertex } from './helpers';

const OPENAI = { target: 'openai:gpt-4.1-mini' };
const VERTEX = { target: 'vertex:gemini-2.5-flash' };
const LOCAL = { target: 'local:gemma-3' };

/** Ten valid OpenAI samples, so the dataset rules stay quiet, then the line under test. */
const tenOpenai = Array.from({ length: 10 }, (_, i) => openai([['user', `question ${i}`], ['assistant', `answer ${i}`]]));
const tenVertex = Array.from({ length: 10 }, (_, i) => vertex([['user', `question ${i}`], ['model', `answer ${i}`]]));

/** Diagnostics of the last line of a file of ten good samples plus `line`, for one target. */
function lastLine(line: string, settings: Record<string, unknown>, good = tenOpenai): Diagnostic[] {
  const lines = [...good, line];
  return lint(lines.join('\n') + '\n', { ...settings, rules: { 'near-duplicate': 'off' } }).filter((d) => d.line === lines.length - 1);
}

const msg = (m: Record<string, unknown>[]) => JSON.stringify({ messages: m });

describe('target profiles', () => {
  test('names: exact, dated, bare (the old targetModel)', () => {
    assert.equal(findTarget('openai:gpt-4.1-mini')?.id, 'openai:gpt-4.1-mini');
    assert.equal(findTarget('openai:gpt-4.1-mini-2025-04-14')?.id, 'openai:gpt-4.1-mini');
    assert.equal(findTarget('vertex:gemini-2.5-flash-lite-001')?.id, 'vertex:gemini-2.5-flash-lite');
    assert.equal(findTarget('gemini-2.5-pro')?.id, 'vertex:gemini-2.5-pro');
    assert.equal(findTarget('google/gemma-3-4b-it')?.id, 'local:gemma-3');
    assert.equal(findTarget('anthropic:claude'), undefined);
  });
  test('settings: target, per-glob targets win, the old targetModel keeps only its token limit, unknown names are reported', () => {
    const r = (s: Record<string, unknown>, f = '/w/data/train.jsonl') => resolveOptions(s, f);
    assert.deepEqual(r({ target: 'vertex:gemini-2.5-pro' }).options.targets.map((t) => t.id), ['vertex:gemini-2.5-pro']);
    assert.deepEqual(r({ target: 'vertex:gemini-2.5-pro', targets: { 'data/*.jsonl': 'openai:gpt-4o-mini' } }).options.targets.map((t) => t.id), ['openai:gpt-4o-mini']);
    const legacy = r({ targetModel: 'gpt-4.1-mini' }).options;
    assert.deepEqual([legacy.targets, legacy.tokenLimit], [[], 65536]);
    assert.deepEqual(r({}).options.targets, []);
    const bad = r({ target: 'nope:model' });
    assert.deepEqual(bad.options.targets, []);
    assert.match(bad.problems[0]?.message ?? '', /^unknown target "nope:model"; known targets: vertex:gemini-2.5-pro, /);
    const local = r({ target: 'local:my-model', tokenLimits: { 'my-model': 4096 } }).options.targets[0];
    assert.deepEqual([local?.id, local?.tokenLimit], ['local:my-model', 4096]);
    assert.equal(r({ target: 'openai:gpt-4.1-mini', tokenLimits: { 'openai:gpt-4.1-mini': 1000 } }).options.targets[0]?.tokenLimit, 1000);
  });
  test('split from the file name or datasetPairs', () => {
    assert.equal(resolveOptions({}, '/w/validation.jsonl').options.split, 'validation');
    assert.equal(resolveOptions({}, '/w/gemini-train.jsonl').options.split, 'training');
    assert.equal(resolveOptions({ datasetPairs: { 'data/a.jsonl': 'data/heldout.jsonl' } }, '/w/data/heldout.jsonl').options.split, 'validation');
    assert.equal(resolveOptions({}, '/w/data.jsonl').options.split, undefined);
  });
  test('prices: the shipped table, overridden by setting; epochs', () => {
    const t = resolveOptions({ target: 'vertex:gemini-2.5-flash', epochs: 2, prices: { 'vertex:gemini-2.5-flash': { usdPerMillionTrainingTokens: 10 } } }, '/w/a.jsonl').options.targets[0];
    assert.deepEqual([t?.usdPerMillion, t?.epochs, t?.priceSource], [10, 2, 'the sftStudio.prices setting']);
    assert.equal(resolveOptions({ target: 'local:gemma-3' }, '/w/a.jsonl').options.targets[0]?.usdPerMillion, undefined);
    const shipped = resolveOptions({ target: 'openai:gpt-4o-mini' }, '/w/a.jsonl').options.targets[0];
    assert.deepEqual([shipped?.usdPerMillion, shipped?.priceVerified, shipped?.priceSource], [3, true, 'https://platform.openai.com/docs/pricing']);
  });
  test('data/prices.json: known targets; a verified figure names the dated source it was seen in', () => {
    const table = JSON.parse(readFileSync(path.join(ROOT, 'data', 'prices.json'), 'utf8')) as { prices: Record<string, Record<string, unknown>> };
    for (const [id, e] of Object.entries(table.prices)) {
      assert.ok(TARGET_IDS.includes(id), `${id} is a target`);
      assert.ok(typeof e.usdPerMillionTrainingTokens === 'number' && e.usdPerMillionTrainingTokens > 0, id);
      assert.match(String(e.source), /^https:\/\//, `${id}: the provider's page`);
      if (e.verified !== true) continue;
      const c = e.checkedAgainst as Record<string, unknown> | undefined;
      assert.ok(c !== undefined, `${id}: verified, so checkedAgainst says where`);
      assert.match(String(c.date), /^\d{4}-\d{2}-\d{2}$/, `${id}: the source's date`);
      const where = typeof c.url === 'string' ? /^https:\/\//.test(c.url) : typeof c.repo === 'string' && typeof c.path === 'string' && /^[0-9a-f]{40}$/.test(String(c.commit));
      assert.ok(where, `${id}: a URL, or repo + path + commit`);
      assert.ok(String(c.entry).includes(`$${String(e.usdPerMillionTrainingTokens)} per million`), `${id}: the figure as seen there`);
    }
  });
  test('cost text: an unchecked price says so and where to check it', () => {
    assert.equal(costText({ costUsd: 12.4, priceSource: 'https://example.com/pricing', priceVerified: false }), 'about $12.40 (price not yet checked: confirm it at https://example.com/pricing)');
    assert.equal(costText({ costUsd: 12.4, priceSource: 'https://example.com/pricing', priceVerified: true }), 'about $12.40');
    assert.equal(costText({ costUsd: 0.001, priceSource: null, priceVerified: true }), 'under $0.01');
    assert.equal(costText({ costUsd: null, priceSource: null, priceVerified: false }), 'no published price');
  });
});

describe('special-token (more in test/fixtures/targets)', () => {
  test('Vertex and local: each token once per turn, with what it breaks', () => {
    const line = vertex([['user', '<start_of_turn>user hi <start_of_turn> [INST] x'], ['model', 'a <|eot_id|>']]);
    const ds = lastLine(line, VERTEX, tenVertex);
    assert.deepEqual(ds.map((d) => covered(line, d)), ['<start_of_turn>', '[INST]', '<|eot_id|>']);
    assert.match(ds[0]?.message ?? '', /Vertex AI gemini-2\.5-flash tunes on it as plain text, but a chat template built from it reads it as structure/);
    const [l] = lastLine(openai([['user', '<|im_start|>'], ['assistant', 'a']]), LOCAL);
    assert.equal(l?.message, 'the special token <|im_start|> is inside the text: the chat template of local gemma-3 reads it as structure, not text; remove it or write it another way');
  });
  test('none without a target, and none in ordinary markup', () => {
    assert.deepEqual(lastLine(openai([['user', '<|endoftext|>'], ['assistant', 'a']]), {}), []);
    assert.deepEqual(lastLine(openai([['user', '<s>strike</s> <b>bold</b> [link](x)'], ['assistant', 'a']]), OPENAI), []);
  });
});

describe('weight', () => {
  test('not a Vertex rule', () => {
    assert.deepEqual(lastLine(msg([{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a', weight: 3 }]), VERTEX).filter((d) => d.code === 'weight'), []);
  });
});

describe('tool calls (the faults: test/fixtures/targets)', () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }];
  const call = (id: string, name: string) => ({ role: 'assistant', tool_calls: [{ id, type: 'function', function: { name, arguments: '{}' } }] });
  test('a valid tool exchange passes', () => {
    const line = JSON.stringify({ messages: [{ role: 'user', content: 'weather?' }, call('c1', 'get_weather'), { role: 'tool', tool_call_id: 'c1', content: '21' }, { role: 'assistant', content: '21 degrees' }], tools });
    assert.deepEqual(lastLine(line, OPENAI), []);
  });
});

describe('content-kind', () => {
  test('Vertex: the kinds Gemini tunes on pass', () => {
    const ok = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'see' }, { fileData: { mimeType: 'image/png', fileUri: 'gs://b/x.png' } }] }, { role: 'model', parts: [{ text: 'ok' }] }] });
    assert.deepEqual(lastLine(ok, VERTEX, tenVertex), []);
  });
});

describe('dataset rules on the first line', () => {
  test('too-few-examples: ten samples pass, and a validation file may be small', () => {
    assert.deepEqual(lint(tenOpenai.join('\n') + '\n', { ...OPENAI, rules: { 'near-duplicate': 'off' } }), [], 'ten samples pass');
    assert.deepEqual(lint(tenOpenai.slice(0, 3).join('\n'), OPENAI, '/w/validation.jsonl'), [], 'a validation file may be small');
  });
  test('target-format: a local trainer takes any format', () => {
    assert.deepEqual(lint(tenOpenai.join('\n'), { ...LOCAL, rules: { 'near-duplicate': 'off' } }), []);
  });
  test('too-many-validation-examples', () => {
    const lines = Array.from({ length: 5001 }, (_, i) => vertex([['user', `q${i}`], ['model', `a${i}`]]));
    const opts = resolveOptions({ ...VERTEX, duplicates: { enabled: false } }, '/w/data/val.jsonl').options;
    const ds = new DatasetDocument(lines.join('\n'), opts).lint().diagnostics;
    assert.deepEqual(ds.map((d) => [d.line, d.code, d.message]), [[0, 'too-many-validation-examples', '5,001 samples in this validation file, more than the 5,000 Vertex AI gemini-2.5-flash allows: keep at most 5,000']]);
    const train = resolveOptions({ ...VERTEX, duplicates: { enabled: false } }, '/w/data/train.jsonl').options;
    assert.deepEqual(new DatasetDocument(lines.join('\n'), train).lint().diagnostics, []);
  });
  test('file-too-large: the documented limits (the fixture lowers them)', () => {
    assert.equal(findTarget('openai:gpt-4.1-mini')?.maxFileBytes, 512 * 1024 * 1024);
    assert.equal(findTarget('vertex:gemini-2.5-flash')?.maxFileBytes, 1_000_000_000);
  });
});

describe('too-long per target', () => {
  test('each target its own limit, and the summary its tokens, trained tokens and cost', () => {
    const long = openai([['user', 'word '.repeat(400)], ['assistant', 'ok']]);
    const doc = new DatasetDocument([...tenOpenai, long].join('\n'), resolveOptions({
      target: 'openai:gpt-4.1-mini,local:my-model', tokenLimits: { 'my-model': 200 }, epochs: 2, rules: { 'near-duplicate': 'off' },
    }, '/w/a.jsonl').options);
    const { diagnostics, summary } = doc.lint();
    assert.deepEqual(diagnostics.map((d) => [d.line, d.code, d.target, covered(long, d)]), [[10, 'too-long', 'local:my-model', '"messages"']]);
    assert.equal(diagnostics[0]?.message, '509 tokens (estimated), over the 200-token limit of local my-model for one training example: the service rejects or truncates it');
    const [o, l] = summary.targets;
    assert.equal(o?.exact, false, 'no exact counts yet');
    assert.deepEqual([o?.epochs, o?.trainedTokens, o?.overLimit], [2, 2 * (o?.tokens ?? 0), 0]);
    assert.equal(o?.costUsd, (o!.trainedTokens / 1e6) * 5);
    assert.deepEqual([l?.costUsd, l?.overLimit], [null, 1]);
  });
  test('exact counts replace the estimate, and say so', () => {
    const long = openai([['user', 'word '.repeat(400)], ['assistant', 'ok']]);
    const doc = new DatasetDocument([...tenOpenai, long].join('\n'), resolveOptions({ target: 'openai:gpt-4.1-mini', tokenLimits: { 'openai:gpt-4.1-mini': 300 }, rules: { 'near-duplicate': 'off' } }, '/w/a.jsonl').options);
    assert.equal(doc.lint().diagnostics.length, 1);
    assert.deepEqual(doc.exactTokenizers(), ['o200k_base']);
    assert.deepEqual(doc.pendingExact('o200k_base', 3).map((p) => p.line), [0, 1, 2]);
    const pending = doc.pendingExact('o200k_base');
    assert.deepEqual(pending.map((p) => p.line), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (const p of pending) doc.setExactTokens('o200k_base', p.id, p.line === 10 ? 410 : 12);
    const { diagnostics, summary } = doc.lint();
    assert.deepEqual(doc.pendingExact('o200k_base'), []);
    assert.equal(diagnostics[0]?.message, '410 tokens (counted with the o200k_base tokenizer), over the 300-token limit of OpenAI gpt-4.1-mini for one training example: the service rejects or truncates it');
    assert.deepEqual([summary.targets[0]?.exact, summary.targets[0]?.tokens], [true, 410 + 10 * 12]);
    // An edit gives the line a new id: its count is pending again, the others are kept.
    doc.applyEdit({ startLine: 10, startCharacter: 0, endLine: 10, endCharacter: long.length, text: tenOpenai[0] as string });
    doc.lint();
    assert.deepEqual(doc.pendingExact('o200k_base').map((p) => p.line), [10]);
  });
});

describe('a valid file for every target gives no diagnostic', () => {
  for (const t of TARGETS) {
    test(t.id, () => {
      const lines = t.provider === 'openai' ? tenOpenai : tenVertex;
      const validation = t.provider === 'vertex' ? Array.from({ length: 5000 }, (_, i) => vertex([['user', `q${i}`], ['model', `a${i}`]])) : lines;
      assert.deepEqual(lint(lines.join('\n') + '\n', { target: t.id, rules: { 'near-duplicate': 'off' } }), [], 'training file');
      assert.deepEqual(lint(validation.join('\n') + '\n', { target: t.id, duplicates: { enabled: false } }, '/w/validation.jsonl'), [], 'validation file at the limit');
    });
  }
});

describe('token distribution', () => {
  test('min, quartiles and max equal those of a sort, by histogram and by selection', () => {
    for (const n of [1, 2, 5, 100, 1001]) {
      const values = Uint32Array.from({ length: n }, (_, i) => ((i * 7919) % (n * 3)) + 5);
      const sorted = [...values].sort((a, b) => a - b);
      const at = (p: number) => sorted[Math.min(n - 1, Math.floor(p * (n - 1) + 0.5))];
      assert.deepEqual(distribution(values.slice()), { min: sorted[0], q1: at(0.25), median: at(0.5), q3: at(0.75), max: sorted[n - 1] }, `n = ${n}`);
    }
    // Values too spread for a histogram: selection.
    assert.deepEqual(distribution(Uint32Array.from([1, 5, 9_000_000, 7, 3])), { min: 1, q1: 3, median: 5, q3: 7, max: 9_000_000 });
    assert.equal(distribution(new Uint32Array(0)), undefined);
  });
});
