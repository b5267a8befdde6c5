import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { threadId } from 'node:worker_threads';
import { counter, countSample } from '../../src/tokenize/counters';
import { TokenWorker } from '../../src/tokenize/client';

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
