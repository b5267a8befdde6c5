import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { localAdvice, vertexAdvice } from '../../src/core/advice';
import { detectOverfitting } from '../../src/core/overfitting';
import { datasetState, listRuns, readRunEvents, writeFileAtomic } from '../../src/core/runStore';
import { formProblems, FromPanel, messageProblem, ToPanel } from '../../src/shared/panelProtocol';
import { configFromForm, hardSampleRows } from '../../src/core/tuningForm';
import { runConfigProblems } from '../../src/core/runs';

const tmp = mkdtempSync(path.join(tmpdir(), 'sft-tuning-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('hyper-parameter advice', () => {
  test("Gemini 2.5 Pro: 20 epochs, multiplier 10, adapter 4 under 1,000 samples; 10 epochs, default multiplier, adapter 4 from 1,000", () => {
    assert.deepEqual(vertexAdvice('gemini-2.5-pro', 999).hyperParameters, { epochCount: 20, learningRateMultiplier: 10, adapterSize: 4 });
    assert.deepEqual(vertexAdvice('gemini-2.5-pro', 1000).hyperParameters, { epochCount: 10, learningRateMultiplier: undefined, adapterSize: 4 });
  });

  test('Gemini 2.5 Flash: default epochs, multiplier 10, adapter 4 under 1,000; defaults and adapter 8 from 1,000', () => {
    assert.deepEqual(vertexAdvice('gemini-2.5-flash', 10).hyperParameters, { epochCount: undefined, learningRateMultiplier: 10, adapterSize: 4 });
    assert.deepEqual(vertexAdvice('gemini-2.5-flash', 5000).hyperParameters, { epochCount: undefined, learningRateMultiplier: undefined, adapterSize: 8 });
    assert.match(vertexAdvice('gemini-2.5-flash-lite', 10).why.epochCount, /Flash-Lite follows Flash/);
  });

  test('every value says why', () => {
    for (const n of [10, 5000]) {
      const v = vertexAdvice('gemini-2.5-pro', n);
      for (const k of ['epochCount', 'learningRateMultiplier', 'adapterSize'] as const) assert.ok(v.why[k].length > 10);
      const l = localAdvice('google/gemma-3-1b-it', n, false);
      for (const k of ['learning_rate', 'epochs', 'batch_size', 'warmup_ratio', 'validation_split']) assert.ok((l.why[k] ?? '').length > 10, k);
    }
  });
});

describe('overfitting detector', () => {
  const falling = Array.from({ length: 40 }, (_, i) => ({ step: i + 1, loss: 3 - i * 0.05 }));

  test('eval loss rising for three evaluations while train loss falls: overfitting, best step named', () => {
    const evals = [{ step: 10, loss: 2.5 }, { step: 20, loss: 2.2 }, { step: 25, loss: 2.3 }, { step: 30, loss: 2.4 }, { step: 40, loss: 2.6 }];
    assert.deepEqual(detectOverfitting(falling, evals), { sinceStep: 20, bestStep: 20, bestEvalLoss: 2.2 });
  });

  test('not yet after two rises, nor when train loss rises too, nor when eval falls again', () => {
    assert.equal(detectOverfitting(falling, [{ step: 10, loss: 2.5 }, { step: 20, loss: 2.2 }, { step: 30, loss: 2.3 }, { step: 40, loss: 2.4 }].slice(0, 3)), undefined);
    const rising = falling.map((p) => ({ step: p.step, loss: 1 + p.step * 0.05 }));
    assert.equal(detectOverfitting(rising, [{ step: 10, loss: 2.2 }, { step: 20, loss: 2.3 }, { step: 30, loss: 2.4 }, { step: 40, loss: 2.6 }]), undefined);
    assert.equal(detectOverfitting(falling, [{ step: 10, loss: 2.2 }, { step: 20, loss: 2.3 }, { step: 30, loss: 2.1 }, { step: 40, loss: 2.6 }]), undefined);
  });
});

describe('run store', () => {
  test('an atomic write replaces the whole file or nothing', () => {
    const file = path.join(tmp, 'summary.json');
    writeFileAtomic(file, '{"v": 1}\n');
    assert.equal(readFileSync(file, 'utf8'), '{"v": 1}\n');
    // A write that fails half-way (here: data the file system refuses) leaves the old content and no temporary file.
    const huge = { toString: () => { throw new Error('disk full'); } } as unknown as string;
    assert.throws(() => writeFileAtomic(file, huge));
    assert.equal(readFileSync(file, 'utf8'), '{"v": 1}\n');
    assert.deepEqual(readdirSync(tmp).filter((f) => f.endsWith('.tmp')), []);
  });

  test('runs are listed newest first; a cut-off events file still reads; a changed dataset is noticed', () => {
    const runs = path.join(tmp, 'runs');
    const dataset = path.join(tmp, 'train.jsonl');
    writeFileSync(dataset, 'x\n');
    const sha = createHash('sha256').update('x\n').digest('hex');
    for (const [id, created] of [['a', '2026-01-01T00:00:00Z'], ['b', '2026-02-01T00:00:00Z']] as const) {
      const dir = path.join(runs, id);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ id, created, backend: 'local', mode: 'train', model: 'builtin:tiny', dataset: { train: { path: dataset, sha256: sha, samples: 1 } } }));
      writeFileSync(path.join(dir, 'events.jsonl'), [
        JSON.stringify({ event: 'started', time: '2026-01-01T00:00:00Z', config: {}, device: 'cpu', model: 'builtin:tiny', total_steps: 2 }),
        JSON.stringify({ event: 'metrics', time: '2026-01-01T00:00:01Z', step: 1, split: 'eval', loss: 1.5, accuracy: 0.5 }),
        id === 'a' ? JSON.stringify({ event: 'finished', time: '2026-01-01T00:00:09Z', status: 'completed', adapter: null }) : '{"event": "metrics", "ti',
      ].join('\n'));
    }
    const listed = listRuns(runs);
    assert.deepEqual(listed.map((r) => r.id), ['b', 'a']);
    assert.equal(listed[1]!.status, 'completed');
    assert.equal(listed[0]!.status, 'interrupted', 'no finished event and no process: cut off');
    assert.equal(readRunEvents(path.join(runs, 'b')).length, 2);
    assert.equal(listed[1]!.summary.bestEvalLoss, 1.5);
    assert.equal(datasetState(listed[0]!.record.dataset.train), 'unchanged');
    writeFileSync(dataset, 'changed\n');
    assert.equal(datasetState(listed[0]!.record.dataset.train), 'changed');
    rmSync(dataset);
    assert.equal(datasetState(listed[0]!.record.dataset.train), 'missing');
  });
});

describe('panel messages', () => {
  const form = {
    backend: 'local', model: 'builtin:tiny', trainFile: '/d/train.jsonl', validationFile: '', validationSplit: 0.1, epochs: 3, learningRate: 2e-4, batchSize: 4,
    gradientAccumulation: 4, maxLength: 2048, method: 'lora', loraRank: 16, warmupRatio: 0.03, packing: false, earlyStoppingPatience: 3,
    learningRateMultiplier: null, epochCount: null, adapterSize: 4, project: '', location: '', bucket: '',
  };

  test('a valid start message passes; anything else is named', () => {
    assert.equal(messageProblem(FromPanel, { type: 'start', form, launchAnyway: false }), undefined);
    assert.match(messageProblem(FromPanel, { type: 'start', form: { ...form, batchSize: 0 }, launchAnyway: false }) ?? '', /form\.batchSize: the batch size must be at least 1/);
    assert.match(messageProblem(FromPanel, { type: 'explode' }) ?? '', /type/);
    assert.match(messageProblem(ToPanel, { type: 'hardSamples', runId: 'r', items: [{ file: 'f', line: 'one', loss: 1, topPercent: 10, preview: '' }] }) ?? '', /items\.0\.line/);
  });

  test('form problems are sentences per field, as the user types', () => {
    assert.deepEqual(formProblems({ ...form, epochs: 0, learningRate: Number.NaN, model: ' ' }), {
      model: 'name a model: builtin:tiny, a Hugging Face id or a folder',
      epochs: 'epochs must be more than 0',
      learningRate: 'the learning rate must be a number',
    });
    assert.deepEqual(formProblems(form), {});
  });

  test('Vertex AI needs a project, a region and a gs:// folder; a local run does not', () => {
    const vertex = { ...form, backend: 'vertex', model: 'gemini-2.5-flash' };
    assert.deepEqual(Object.keys(formProblems(vertex)).sort(), ['bucket', 'location', 'project']);
    assert.match(formProblems({ ...vertex, project: 'p', location: 'us-central1', bucket: 'my-bucket' }).bucket ?? '', /gs:\/\/BUCKET/);
    assert.deepEqual(formProblems({ ...vertex, project: 'p', location: 'us-central1', bucket: 'gs://my-bucket/sft' }), {});
    assert.deepEqual(formProblems({ ...vertex, project: 'p', location: 'us-central1', bucket: 'gs://b12/x', model: 'gemini 2.5' }), { model: 'a Gemini model id has no spaces, e.g. gemini-2.5-flash' });
  });

  test('"Try it" asks with a prompt, and its answers say which model gave them or why none did', () => {
    assert.match(messageProblem(FromPanel, { type: 'tryIt', runId: 'r', prompt: '  ' }) ?? '', /type a prompt/);
    const answer = (model: string, text: string | null, error: string | null) => ({ model, text, error });
    assert.equal(messageProblem(ToPanel, { type: 'tryItResult', runId: 'r', prompt: 'hi', base: answer('gemini-2.5-flash', 'hello', null), tuned: answer('projects/p/locations/l/endpoints/1', null, 'HTTP 429') }), undefined);
  });
});

describe('the form and the hard-sample list', () => {
  const form = {
    backend: 'local' as const, model: ' builtin:tiny ', trainFile: '/d/train.jsonl', validationFile: '', validationSplit: 0.1, epochs: 3, learningRate: 1e-3, batchSize: 8,
    gradientAccumulation: 1, maxLength: 1024, method: 'full' as const, loraRank: 8, warmupRatio: 0.03, packing: true, earlyStoppingPatience: 2,
    learningRateMultiplier: null, epochCount: null, adapterSize: 4 as const, project: '', location: '', bucket: '',
  };

  test('a form gives the run config the trainer reads (and the schema accepts)', () => {
    const config = configFromForm(form);
    assert.deepEqual(config, {
      mode: 'train', model: 'builtin:tiny', method: 'full', lora: { rank: 8, alpha: 16, dropout: 0.05, target_modules: 'all-linear' }, epochs: 3, learning_rate: 1e-3,
      batch_size: 8, gradient_accumulation: 1, max_length: 1024, warmup_ratio: 0.03, packing: true, early_stopping_patience: 2, validation_split: 0.1, seed: 42,
    });
    assert.deepEqual(runConfigProblems({ ...config, train_file: 'data/train.jsonl' }), []);
    assert.equal(configFromForm({ ...form, validationFile: '/d/validation.jsonl' }).validation_split, 0, 'a validation file replaces the split');
  });

  test("hard samples: the training file's highest losses (a line's last score counts), ranked as the editor's marks, with the line as preview", () => {
    const t = '2026-11-23T10:00:00Z';
    const loss = (line: number, value: number, stage: 'score' | 'after_training', file: 'train' | 'validation' = 'train') => ({ event: 'sample_loss' as const, time: t, file, line, loss: value, stage });
    const events = [loss(1, 9, 'score'), loss(1, 0.5, 'after_training'), loss(2, 2.5, 'after_training'), loss(3, 1.5, 'after_training'), loss(1, 7, 'after_training', 'validation')];
    const rows = hardSampleRows(events, '/d/train.jsonl', 'first\nsecond <b>\nthird\n');
    assert.deepEqual(rows.map((r) => [r.line, r.loss, r.preview]), [[2, 2.5, 'second <b>'], [3, 1.5, 'third'], [1, 0.5, 'first']]);
    assert.deepEqual(rows.map((r) => r.topPercent), [1, 34, 67]);
  });
});
