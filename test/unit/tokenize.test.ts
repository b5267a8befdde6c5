import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { threadId } from 'node:worker_threads';
import { counter, countSample } from '../../src/tokenize/counters';
import { TokenWorker } from '../../src/tokenize/client';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { lintFile } from '../../src/cli/lintFile';
import { resolveOptions } from '../../src/core/options';

describe('tokenizers count known texts', () => {
  test('o200k_base (GPT-4o, GPT-4.1)', () => {
    const count = counter('o200k_base');
    // "Hello" "," " world" "!"
    assert.equal(count('Hello, world!'), 4);
    assert.equal(count(''), 0);
    // Special tokens are counted as the text they are, never refused (the special-token rule reports them).
    assert.equal(count('<|endoftext|>'), 7);
  });
  test('cl100k_base (gpt-3.5-turbo): the OpenAI cookbook example', () => {
    // "How to count tokens with tiktoken": "tiktoken is great!" is 6 tokens in cl100k_base.
    assert.equal(counter('cl100k_base')('tiktoken is great!'), 6);
  });
  test('Gemma 3, from the vocabulary shipped on npm', () => {
    const count = counter('gemma3');
    assert.equal(count('Hello, world!'), 4);
    // <start_of_turn> is one token of Gemma's chat template, "user" one, the newline one.
    assert.equal(count('<start_of_turn>user\n'), 3);
    // CJK: one token per common character or word piece, far from the 4-characters rule of thumb.
    assert.ok(count('你好，世界') <= 5);
  });
  test('a sample: its turns plus the chat template around them', () => {
    assert.equal(countSample('o200k_base', ['Hello, world!', 'Hello, world!']), 4 + 4 + 3 * 2 + 3);
    assert.equal(countSample('gemma3', ['Hello, world!']), 4 + 5);
  });
});

describe('token worker', () => {
  const worker = new TokenWorker(path.join(__dirname, '..', '..', 'src', 'tokenize', 'worker.js'));
  after(() => worker.dispose());

  test('counts off the main thread, which stays free while the vocabulary loads', async () => {
    let turns = 0;
    let counting = true;
    const spin = () => {
      if (!counting) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    const reply = await worker.count('gemma3', [['Hello, world!'], ['Hello, world!', 'Hello, world!']]);
    counting = false;
    assert.deepEqual(reply.counts, [4 + 5, 8 + 10]);
    assert.notEqual(reply.threadId, threadId, 'counted in another thread');
    // Loading the Gemma vocabulary takes a second or more; the event loop kept turning meanwhile.
    assert.ok(turns > 100, `the main event loop turned only ${turns} times while the worker counted`);
  });
  test('answers requests in order, for several tokenizers', async () => {
    const [a, b] = await Promise.all([worker.count('o200k_base', [['Hello, world!']]), worker.count('cl100k_base', [['tiktoken is great!']])]);
    assert.deepEqual([a.counts, b.counts], [[4 + 3 + 3], [6 + 3 + 3]]);
  });
});

describe('the command line counts long samples and a calibration sample', () => {
  test('totals within 1 % of counting every sample; every sample over a limit found', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sft-count-'));
    try {
      const words = ['router', 'firmware', 'update', 'the', 'light', 'blinks', 'orange', '42', 'réseau', 'naïve', 'JSON', '{"a": 1}', 'reset'];
      const lines = Array.from({ length: 1200 }, (_, i) => JSON.stringify({ messages: [
        { role: 'user', content: Array.from({ length: 5 + (i % 40) }, (_, k) => words[(i * 7 + k * 3) % words.length]).join(' ') },
        { role: 'assistant', content: i === 1100 ? 'long answer '.repeat(200) : `answer ${i}` },
      ] }));
      const file = path.join(dir, 'data.jsonl');
      writeFileSync(file, lines.join('\n') + '\n');
      const options = { ...resolveOptions({ target: 'openai:gpt-4.1-mini', tokenLimits: { 'openai:gpt-4.1-mini': 400 } }, file).options, duplicates: false };
      const count = async (tk: Parameters<typeof countSample>[0], samples: readonly (readonly string[])[]) => samples.map((texts) => countSample(tk, texts));
      const sampled = await lintFile(file, options, undefined, count);
      const all = await lintFile(file, options, undefined, count, true);
      const [s] = sampled.summary.targets;
      const [a] = all.summary.targets;
      // The first 100, every 500th after (500, 1000), and line 1101 counted because it is long.
      assert.deepEqual([s?.counted, s?.exact, a?.counted, a?.exact], [103, false, 1200, true]);
      assert.ok(Math.abs((s!.tokens - a!.tokens) / a!.tokens) < 0.01, `calibrated ${s!.tokens} vs counted ${a!.tokens}`);
      assert.deepEqual(sampled.diagnostics.map((d) => [d.line, d.code]), [[1100, 'too-long']]);
      assert.match(sampled.diagnostics[0]?.message ?? '', /^\d+ tokens \(counted with the o200k_base tokenizer\), over the 400-token limit/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
