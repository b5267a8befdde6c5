import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { localAdvice } from '../../src/core/advice';
import { parseTrainerEvent, runConfigProblems, runId, summarizeEvents, type TrainerEvent } from '../../src/core/runs';
import { normalizeDataset } from '../../src/core/trainingData';
import { openai, vertex } from './helpers';

describe('normalizeDataset', () => {
  test('every format becomes turns, with the line each sample came from', () => {
    const text = [
      vertex([['user', 'q1'], ['model', 'a1']], 'sys'),
      '',
      openai([['system', 's2'], ['user', 'q2'], ['assistant', 'a2']]),
      JSON.stringify({ conversations: [{ from: 'human', value: 'q3' }, { from: 'gpt', value: 'a3' }] }),
      JSON.stringify({ instruction: 'q4', input: 'ctx', output: 'a4' }),
      JSON.stringify({ prompt: 'q5', completion: 'a5' }),
    ].join('\r\n');
    const data = normalizeDataset('\uFEFF' + text);
    assert.deepEqual(data.skipped, []);
    assert.deepEqual(data.lines.map((l) => JSON.parse(l)), [
      { line: 1, system: 'sys', turns: [{ role: 'user', text: 'q1' }, { role: 'model', text: 'a1' }] },
      { line: 3, system: 's2', turns: [{ role: 'user', text: 'q2' }, { role: 'model', text: 'a2' }] },
      { line: 4, system: null, turns: [{ role: 'user', text: 'q3' }, { role: 'model', text: 'a3' }] },
      { line: 5, system: null, turns: [{ role: 'user', text: 'q4\nctx' }, { role: 'model', text: 'a4' }] },
      { line: 6, system: null, turns: [{ role: 'user', text: 'q5' }, { role: 'model', text: 'a5' }] },
    ]);
  });

  test('lines that cannot be trained on are listed with the reason', () => {
    const data = normalizeDataset(['{"contents": [', '[1]', '{"foo": 1}', vertex([['user', 'only a question']])].join('\n'));
    assert.deepEqual(data.lines, []);
    assert.deepEqual(data.skipped, [
      { line: 1, reason: 'not valid JSON' },
      { line: 2, reason: 'not a JSON object' },
      { line: 3, reason: 'no known dataset format' },
      { line: 4, reason: 'no model turn to learn from' },
    ]);
  });

  test('content the trainer cannot use is reported, the sample kept', () => {
    const line = JSON.stringify({ messages: [{ role: 'user', content: 'weather?' }, { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'w', arguments: '{}' } }] }, { role: 'tool', tool_call_id: 'c1', content: 'sunny' }, { role: 'assistant', content: 'Sunny.' }] });
    const data = normalizeDataset(line);
    assert.equal(data.lines.length, 1);
    assert.match(data.lossy[0]!.reason, /tool calls/);
  });
});

describe('run config and events', () => {
  test('the advice is a valid config, for builtin:tiny and for a Hugging Face model', () => {
    for (const model of ['builtin:tiny', 'google/gemma-3-1b-it']) {
      for (const n of [10, 500, 5000, 50000]) {
        const { config } = localAdvice(model, n, false);
        assert.deepEqual(runConfigProblems({ ...config, train_file: 'data/train.jsonl' }), [], `${model} ${n}`);
      }
    }
  });

  test('LoRA advice: 2e-4, batch 4 × accumulation 4, 3 % warm-up, fewer epochs on more data', () => {
    const small = localAdvice('Qwen/Qwen2.5-0.5B-Instruct', 800, true).config;
    assert.equal(small.learning_rate, 2e-4);
    assert.equal(small.batch_size, 4);
    assert.equal(small.gradient_accumulation, 4);
    assert.equal(small.warmup_ratio, 0.03);
    assert.equal(small.epochs, 3);
    assert.equal(small.validation_split, 0);
    assert.equal(localAdvice('m', 5000, false).config.epochs, 2);
    assert.equal(localAdvice('m', 50000, false).config.epochs, 1);
    assert.equal(localAdvice('m', 5000, false).config.validation_split, 0.1);
  });

  test('config problems are plain sentences naming the setting', () => {
    assert.deepEqual(runConfigProblems({ model: 'm', train_file: 't', batch_size: 0, method: 'lora8', colour: 'red' }), [
      'the config: unknown setting "colour"',
      'method must be one of "lora", "qlora", "full"',
      'batch_size must be >= 1',
    ]);
  });

  test('events are checked against the protocol', () => {
    const ok = parseTrainerEvent({ event: 'metrics', time: '2026-11-23T10:00:00.000Z', step: 3, split: 'eval', loss: 1.2, accuracy: 0.5 });
    assert.ok('event' in ok);
    const bad = parseTrainerEvent({ event: 'metrics', time: '2026-11-23T10:00:00.000Z', step: 3, split: 'test', loss: 1.2, accuracy: 1.5 });
    assert.ok('problem' in bad && /split must be one of/.test(bad.problem) && /accuracy must be <= 1/.test(bad.problem), JSON.stringify(bad));
    assert.ok('problem' in parseTrainerEvent({ event: 'sample_loss', time: '2026-11-23T10:00:00Z', line: 0, loss: 1, file: 'train' }));
    assert.ok('problem' in parseTrainerEvent({ event: 'progress', step: 1, total_steps: 2, epoch: 0 }));
  });

  test('a summary adds the events up', () => {
    const t = (s: number) => `2026-11-23T10:00:${String(s).padStart(2, '0')}.000Z`;
    const events: TrainerEvent[] = [
      { event: 'started', time: t(0), config: {}, device: 'cpu', model: 'builtin:tiny', total_steps: 4 },
      { event: 'metrics', time: t(1), step: 2, split: 'train', loss: 3, accuracy: 0.1 },
      { event: 'metrics', time: t(2), step: 2, split: 'eval', loss: 2.5, accuracy: 0.2 },
      { event: 'progress', time: t(2), step: 2, total_steps: 4, epoch: 1 },
      { event: 'metrics', time: t(3), step: 4, split: 'eval', loss: 2.7, accuracy: 0.3 },
      { event: 'warning', time: t(3), text: 'x' },
      { event: 'finished', time: t(5), status: 'completed', adapter: '/r/adapter/best', steps: 4 },
    ];
    const s = summarizeEvents(events);
    assert.equal(s.status, 'completed');
    assert.equal(s.bestEvalLoss, 2.5);
    assert.equal(s.lastEvalLoss, 2.7);
    assert.equal(s.accuracy, 0.3);
    assert.equal(s.steps, 4);
    assert.equal(s.durationSeconds, 5);
    assert.equal(s.warnings, 1);
    assert.equal(summarizeEvents(events.slice(0, 4)).status, 'running');
  });

  test('run ids sort by time and name the model', () => {
    assert.equal(runId(new Date(2026, 10, 23, 17, 5, 9), 'google/gemma-3-1b-it'), '20261123-170509-gemma-3-1b-it');
    assert.equal(runId(new Date(2026, 0, 2, 3, 4, 5), 'builtin:tiny'), '20260102-030405-tiny');
    assert.equal(runId(new Date(2026, 0, 2, 3, 4, 5), '/home/me/models/My Model/'), '20260102-030405-my-model');
  });
});
