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

describe('special-token', () => {
  test('OpenAI: the token itself, with the service error text', () => {
    const line = openai([['user', 'complete this <|fim_suffix|> please'], ['assistant', 'ok']]);
    const [d, ...rest] = lastLine(line, OPENAI);
    assert.equal(rest.length, 0);
    assert.deepEqual([d?.code, d?.target, d?.severity, covered(line, d!)], ['special-token', 'openai:gpt-4.1-mini', 'error', '<|fim_suffix|>']);
    assert.equal(d?.message, 'the special token <|fim_suffix|> is inside the text: OpenAI gpt-4.1-mini rejects the file ("Example N message contains an invalid token: <|fim_suffix|>"); remove it or write it another way');
  });
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

describe('nul-character', () => {
  test('the \\u0000 escape is the range', () => {
    const line = openai([['user', 'a\u0000b'], ['assistant', 'ok']]);
    const [d] = lastLine(line, OPENAI);
    assert.deepEqual([d?.code, covered(line, d!)], ['nul-character', '\\u0000']);
    assert.equal(d?.message, 'a NUL character (\\u0000) in the text: OpenAI gpt-4.1-mini rejects the file or truncates the text there; remove it');
  });
});

describe('weight', () => {
  test('only 0 or 1', () => {
    const line = msg([{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a', weight: 0.5 }]);
    const [d] = lastLine(line, OPENAI);
    assert.deepEqual([d?.code, covered(line, d!), d?.target], ['weight', '0.5', 'openai:gpt-4.1-mini']);
    assert.equal(d?.message, '`weight` is 0.5: OpenAI gpt-4.1-mini takes only 0 (do not train on this message) or 1 (train on it)');
  });
  test('only on assistant messages', () => {
    const line = msg([{ role: 'user', content: 'q', weight: 1 }, { role: 'assistant', content: 'a', weight: 0 }]);
    const ds = lastLine(line, OPENAI);
    assert.equal(ds.length, 1);
    assert.deepEqual([ds[0]?.code, covered(line, ds[0]!)], ['weight', '"weight"']);
    assert.equal(ds[0]?.message, '`weight` on a "user" message: OpenAI gpt-4.1-mini takes `weight` only on assistant messages');
  });
  test('not a Vertex rule', () => {
    assert.deepEqual(lastLine(msg([{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a', weight: 3 }]), VERTEX).filter((d) => d.code === 'weight'), []);
  });
});

describe('missing-content, tool-call-id, unknown-function', () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }];
  const call = (id: string, name: string) => ({ role: 'assistant', tool_calls: [{ id, type: 'function', function: { name, arguments: '{}' } }] });
  test('an assistant message with neither content nor tool calls, with the service error text', () => {
    const line = msg([{ role: 'user', content: 'q' }, { role: 'assistant' }]);
    const ds = lastLine(line, OPENAI).filter((d) => d.code === 'missing-content');
    assert.equal(ds.length, 1);
    assert.deepEqual([covered(line, ds[0]!), ds[0]?.target], ['"assistant"', 'openai:gpt-4.1-mini']);
    assert.equal(ds[0]?.message, 'an assistant message with neither `content` nor `tool_calls`: OpenAI gpt-4.1-mini rejects the file ("At least one of content or function_call must be set.")');
  });
  test('a valid tool exchange passes', () => {
    const line = JSON.stringify({ messages: [{ role: 'user', content: 'weather?' }, call('c1', 'get_weather'), { role: 'tool', tool_call_id: 'c1', content: '21' }, { role: 'assistant', content: '21 degrees' }], tools });
    assert.deepEqual(lastLine(line, OPENAI), []);
  });
  test('a tool result that answers no call', () => {
    const line = JSON.stringify({ messages: [{ role: 'user', content: 'weather?' }, call('c1', 'get_weather'), { role: 'tool', tool_call_id: 'c2', content: '21' }, { role: 'assistant', content: 'x' }], tools });
    const [d] = lastLine(line, OPENAI);
    assert.deepEqual([d?.code, covered(line, d!)], ['tool-call-id', '"c2"']);
    assert.equal(d?.message, '`tool_call_id` "c2" matches no earlier assistant tool call (calls: "c1"): OpenAI gpt-4.1-mini rejects the file');
  });
  test('a call to a function not in tools', () => {
    const line = JSON.stringify({ messages: [{ role: 'user', content: 'time?' }, call('c1', 'get_time'), { role: 'tool', tool_call_id: 'c1', content: 'noon' }, { role: 'assistant', content: 'noon' }], tools });
    const [d] = lastLine(line, OPENAI);
    assert.deepEqual([d?.code, covered(line, d!)], ['unknown-function', '"get_time"']);
    assert.equal(d?.message, 'the assistant calls "get_time", which is not in this sample\'s `tools`; `tools` declares "get_weather": OpenAI gpt-4.1-mini trains on calls to declared functions only');
  });
});

describe('content-kind', () => {
  test('Vertex: a file type Gemini does not tune on', () => {
    const line = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'sum this' }, { fileData: { mimeType: 'application/zip', fileUri: 'gs://b/x.zip' } }] }, { role: 'model', parts: [{ text: 'ok' }] }] });
    const [d] = lastLine(line, VERTEX, tenVertex);
    assert.deepEqual([d?.code, covered(line, d!), d?.target], ['content-kind', '"application/zip"', 'vertex:gemini-2.5-flash']);
    assert.equal(d?.message, '"application/zip" files: Vertex AI gemini-2.5-flash tunes on text, images, audio, video and PDF or plain-text documents only');
    const ok = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'see' }, { fileData: { mimeType: 'image/png', fileUri: 'gs://b/x.png' } }] }, { role: 'model', parts: [{ text: 'ok' }] }] });
    assert.deepEqual(lastLine(ok, VERTEX, tenVertex), []);
  });
  test('OpenAI: a content part type chat models do not tune on', () => {
    const line = msg([{ role: 'user', content: [{ type: 'input_audio', text: 'x' }] }, { role: 'assistant', content: 'a' }]);
    const [d] = lastLine(line, OPENAI);
    assert.deepEqual([d?.code, covered(line, d!)], ['content-kind', '"input_audio"']);
  });
});

describe('dataset rules on the first line', () => {
  test('too-few-examples quotes the service', () => {
    const lines = tenOpenai.slice(0, 3);
    const ds = lint(lines.join('\n') + '\n', OPENAI);
    assert.deepEqual(ds.map((d) => [d.line, d.code, d.target, covered(lines[0] as string, d)]), [[0, 'too-few-examples', 'openai:gpt-4.1-mini', '"messages"']]);
    assert.equal(ds[0]?.message, '3 samples, fewer than the 10 OpenAI gpt-4.1-mini needs: it rejects the file ("Training file has 3 example(s), but must have at least 10 examples")');
    assert.deepEqual(lint(tenOpenai.join('\n') + '\n', { ...OPENAI, rules: { 'near-duplicate': 'off' } }), [], 'ten samples pass');
    assert.deepEqual(lint(lines.join('\n'), OPENAI, '/w/validation.jsonl'), [], 'a validation file may be small');
  });
  test('target-format', () => {
    const ds = lint(tenOpenai.join('\n'), { ...VERTEX, rules: { 'near-duplicate': 'off' } });
    assert.deepEqual(ds.map((d) => [d.line, d.code, d.target]), [[0, 'target-format', 'vertex:gemini-2.5-flash']]);
    assert.equal(ds[0]?.message, 'this file is OpenAI chat, but Vertex AI gemini-2.5-flash reads vertex-gemini only: convert it (SFT Studio: Convert Dataset To…)');
    assert.deepEqual(lint(tenOpenai.join('\n'), { ...LOCAL, rules: { 'near-duplicate': 'off' } }), [], 'a local trainer takes any format');
  });
  test('too-many-validation-examples', () => {
    const lines = Array.from({ length: 5001 }, (_, i) => vertex([['user', `q${i}`], ['model', `a${i}`]]));
    const opts = resolveOptions({ ...VERTEX, duplicates: { enabled: false } }, '/w/data/val.jsonl').options;
    const ds = new DatasetDocument(lines.join('\n'), opts).lint().diagnostics;
    assert.deepEqual(ds.map((d) => [d.line, d.code, d.message]), [[0, 'too-many-validation-examples', '5,001 samples in this validation file, more than the 5,000 Vertex AI gemini-2.5-flash allows: keep at most 5,000']]);
    const train = resolveOptions({ ...VERTEX, duplicates: { enabled: false } }, '/w/data/train.jsonl').options;
    assert.deepEqual(new DatasetDocument(lines.join('\n'), train).lint().diagnostics, []);
  });
  test('file-too-large', () => {
    const opts = resolveOptions({ target: 'openai:gpt-4.1-mini' }, '/w/a.jsonl').options;
    const t = opts.targets[0]!;
    const small = { ...opts, targets: [{ ...t, maxFileBytes: 500 }] };
    const ds = new DatasetDocument(tenOpenai.join('\n'), small).lint().diagnostics.filter((d) => d.code === 'file-too-large');
    assert.equal(ds.length, 1);
    const bytes = Buffer.byteLength(tenOpenai.join('\n'));
    assert.equal(ds[0]?.message, `the file is ${bytes.toLocaleString('en-US')} bytes, over the 500 bytes OpenAI gpt-4.1-mini accepts: split it`);
    assert.equal(t.maxFileBytes, 512 * 1024 * 1024, 'the documented limit');
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
