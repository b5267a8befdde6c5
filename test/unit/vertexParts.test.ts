/** The Vertex AI backend's parts that need no server: settings, labels, dataset checks, metrics bookkeeping. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { jobEvent, labelValue, runLabelValue } from '../../src/backends/vertex/jobs';
import { newMetricsEvents, type MetricPoint } from '../../src/backends/vertex/metrics';
import { prepareVertexDataset } from '../../src/backends/vertex/dataset';
import { parseBucket, readGcloudConfig, resolveVertexSettings, VertexSetupError } from '../../src/backends/vertex/settings';
import { retryAfterMs } from '../../src/backends/vertex/transport';
import { datasetObjectName } from '../../src/backends/vertex/storage';
import { openai, vertex } from './helpers';

const tmp = mkdtempSync(path.join(tmpdir(), 'sft-vertex-parts-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('Vertex settings', () => {
  const gcloud = path.join(tmp, 'gcloud');
  mkdirSync(path.join(gcloud, 'configurations'), { recursive: true });
  writeFileSync(path.join(gcloud, 'active_config'), 'work\n');
  writeFileSync(path.join(gcloud, 'configurations', 'config_work'), '[core]\naccount = me@example.com\nproject = my-proj\n\n[compute]\nregion = europe-west4\nzone = europe-west4-a\n');
  writeFileSync(path.join(gcloud, 'configurations', 'config_default'), '[core]\nproject = other\n');
  const env = { CLOUDSDK_CONFIG: gcloud };

  test("project and region come from gcloud's active configuration when not given", () => {
    assert.deepEqual(readGcloudConfig(env), { project: 'my-proj', region: 'europe-west4', file: path.join(gcloud, 'configurations', 'config_work') });
    const s = resolveVertexSettings({ bucket: 'gs://bkt/data/' }, env);
    assert.equal(s.project, 'my-proj');
    assert.equal(s.location, 'europe-west4');
    assert.equal(s.apiEndpoint, 'https://europe-west4-aiplatform.googleapis.com');
    assert.equal(s.storageEndpoint, 'https://storage.googleapis.com');
    assert.equal(s.bucketName, 'bkt');
    assert.equal(s.prefix, 'data');
  });

  test('given values win; CLOUDSDK_ACTIVE_CONFIG_NAME picks another configuration; global has no region prefix', () => {
    assert.equal(resolveVertexSettings({ project: 'p', location: 'us-central1', bucket: 'gs://bkt' }, env).project, 'p');
    assert.equal(readGcloudConfig({ ...env, CLOUDSDK_ACTIVE_CONFIG_NAME: 'default' }).project, 'other');
    assert.equal(resolveVertexSettings({ project: 'p', location: 'global', bucket: 'gs://bkt' }, env).apiEndpoint, 'https://aiplatform.googleapis.com');
  });

  test('what is missing or malformed is named with the command that fixes it', () => {
    const none = { CLOUDSDK_CONFIG: path.join(tmp, 'no-gcloud') };
    assert.throws(() => resolveVertexSettings({ bucket: 'gs://bkt' }, none), (e: Error) => e instanceof VertexSetupError && /gcloud config set project/.test(e.message));
    assert.throws(() => resolveVertexSettings({ project: 'p', bucket: 'gs://bkt' }, none), /gcloud config set compute\/region/);
    assert.throws(() => resolveVertexSettings({ project: 'p', location: 'us-central1', bucket: 'bkt' }, none), /gs:\/\/my-bucket/);
    assert.throws(() => resolveVertexSettings({ project: 'p', location: 'us-central1', bucket: 'gs://bkt', apiEndpoint: 'ftp://x' }, none), /must be an https URL/);
    // A bearer token goes in clear over http: only to this machine.
    assert.throws(() => resolveVertexSettings({ project: 'p', location: 'us-central1', bucket: 'gs://bkt', tokenEndpoint: 'http://example.com/token' }, none), /https URL \(http only for this machine/);
    for (const local of ['http://127.0.0.1:8080', 'http://localhost:1', 'http://[::1]:9']) {
      assert.equal(resolveVertexSettings({ project: 'p', location: 'us-central1', bucket: 'gs://bkt', apiEndpoint: local }, none).apiEndpoint, local);
    }
    assert.deepEqual(parseBucket('gs://my-bucket/a/b/'), { bucket: 'my-bucket', prefix: 'a/b' });
  });
});

describe('Vertex labels and objects', () => {
  test('label values follow the rules: lowercase, digits, _ and -, at most 63 characters', () => {
    assert.equal(labelValue('20261123-171502-Gemini-2.5-Flash'), '20261123-171502-gemini-2-5-flash');
    const v = runLabelValue(`20261123-171502-${'x'.repeat(80)}`);
    assert.ok(v.length <= 63, v);
    assert.match(v, /^[a-z0-9_-]+$/);
    assert.notEqual(runLabelValue('a'), runLabelValue('a'));
  });

  test("the dataset's object is named after its content hash", () => {
    assert.equal(datasetObjectName('pre/fix', 'ab'.repeat(32)), `pre/fix/sft-studio/datasets/${'ab'.repeat(32)}.jsonl`);
    assert.equal(datasetObjectName('', 'cd'), 'sft-studio/datasets/cd.jsonl');
  });

  test('Retry-After as seconds or as a date', () => {
    assert.equal(retryAfterMs('3'), 3000);
    assert.equal(retryAfterMs(new Date(10_000).toUTCString(), 4000), 6000);
    assert.equal(retryAfterMs(null), undefined);
  });

  test('a job becomes a job event: int64 counts as numbers, tuned model, error', () => {
    const e = jobEvent({
      name: 'projects/p/locations/l/tuningJobs/7', state: 'JOB_STATE_FAILED' as never, error: { code: 3, message: 'bad data' },
      tunedModel: { model: 'projects/p/locations/l/models/1@1', endpoint: 'projects/p/locations/l/endpoints/2' },
      tuningDataStats: { supervisedTuningDataStats: { tuningDatasetExampleCount: '12', totalBillableTokenCount: '3400', tuningStepCount: '9', totalTruncatedExampleCount: '1' } },
    }, '2026-01-01T00:00:00Z');
    assert.deepEqual(e, {
      event: 'job', time: '2026-01-01T00:00:00Z', backend: 'vertex', name: 'projects/p/locations/l/tuningJobs/7', state: 'JOB_STATE_FAILED',
      console_url: 'https://console.cloud.google.com/vertex-ai/generative/language/locations/l/tuning/tuningJob/7?project=p',
      tuned_model: { model: 'projects/p/locations/l/models/1@1', endpoint: 'projects/p/locations/l/endpoints/2' },
      data_stats: { examples: 12, billable_tokens: 3400, steps: 9, truncated: 1 }, error: { code: 3, message: 'bad data' },
    });
  });
});

describe('Vertex metrics bookkeeping', () => {
  const pts = (split: 'train' | 'eval', measure: 'loss' | 'accuracy', values: [number, number][]): MetricPoint[] => values.map(([step, value]) => ({ split, measure, step, value }));

  test('one event per split and step, once both loss and accuracy are there, never twice', () => {
    const reported = new Set<string>();
    const first = [...pts('train', 'loss', [[1, 2.5], [2, 2.1]]), ...pts('train', 'accuracy', [[1, 0.4]])];
    const a = newMetricsEvents(first, reported, false, 't');
    assert.deepEqual(a, [{ event: 'metrics', time: 't', step: 1, split: 'train', loss: 2.5, accuracy: 0.4 }]);
    const second = [...first, ...pts('train', 'accuracy', [[2, 0.5]]), ...pts('eval', 'loss', [[2, 2.3]]), ...pts('eval', 'accuracy', [[2, 0.45]])];
    const b = newMetricsEvents(second, reported, false, 't');
    assert.deepEqual(b.map((e) => [e.split, e.step, e.loss, e.accuracy]), [['train', 2, 2.1, 0.5], ['eval', 2, 2.3, 0.45]]);
    assert.deepEqual(newMetricsEvents(second, reported, false, 't'), []);
  });

  test('when the job has ended, a step with only its loss is reported with what there is', () => {
    const reported = new Set<string>(['train:1']);
    const e = newMetricsEvents([...pts('train', 'loss', [[1, 2], [3, 1.5]])], reported, true, 't');
    assert.deepEqual(e, [{ event: 'metrics', time: 't', step: 3, split: 'train', loss: 1.5, accuracy: null }]);
  });
});

describe('Vertex dataset preparation', () => {
  const file = (name: string, lines: string[]) => {
    const f = path.join(tmp, name);
    writeFileSync(f, lines.join('\n') + '\n');
    return f;
  };

  test("a Gemini file is uploaded as written; another format is converted to Vertex's", () => {
    const g = vertex([['user', 'hi'], ['model', 'hello']]);
    const kept = prepareVertexDataset(file('g.jsonl', [g]), 'training', 'gemini-2.5-flash');
    assert.equal(kept.data.toString(), g + '\n');
    assert.equal(kept.record.converted, false);
    const conv = prepareVertexDataset(file('o.jsonl', [openai([['system', 'be brief'], ['user', 'hi'], ['assistant', 'yo']])]), 'training', 'gemini-2.5-flash');
    assert.deepEqual(JSON.parse(conv.data.toString()), { systemInstruction: { parts: [{ text: 'be brief' }] }, contents: [{ role: 'user', parts: [{ text: 'hi' }] }, { role: 'model', parts: [{ text: 'yo' }] }] });
    assert.equal(conv.record.converted, true);
    assert.deepEqual(conv.record.formats, ['openai-chat']);
    assert.match(conv.record.upload_sha256, /^[0-9a-f]{64}$/);
  });

  test('lines that cannot be tuned on are left out and named (as the local trainer does); a file with none to tune on is refused', () => {
    const f = file('bad.jsonl', [vertex([['user', 'a'], ['model', 'b']]), '{oops', vertex([['user', 'only a question']])]);
    const prepared = prepareVertexDataset(f, 'training', 'gemini-2.5-flash');
    assert.equal(prepared.record.samples, 1);
    assert.equal(prepared.data.toString('utf8'), vertex([['user', 'a'], ['model', 'b']]) + '\n', 'only the good line goes up');
    assert.deepEqual(prepared.record.skipped, [{ line: 2, reason: 'not valid JSON' }, { line: 3, reason: 'has no model turn to learn from' }]);
    const none = file('none.jsonl', ['{oops', vertex([['user', 'only a question']])]);
    assert.throws(() => prepareVertexDataset(none, 'training', 'gemini-2.5-flash'), (e: Error) => e instanceof VertexSetupError && /has no sample to tune on: lines 1, 2 cannot be tuned on/.test(e.message) && /not valid JSON/.test(e.message));
  });

  test("over the model's tokens per example (131,072 for Gemini 2.5 Flash): refused, lines and counts named", () => {
    const long = 'word '.repeat(70_000);
    const f = file('long.jsonl', [vertex([['user', 'short'], ['model', 'ok']]), vertex([['user', long], ['model', 'ok']])]);
    // The exact count runs only for samples whose estimate passes half the limit; here it is given.
    const counted: number[] = [];
    const countTokens = (texts: readonly string[]) => {
      counted.push(texts.length);
      return 140_000;
    };
    assert.throws(() => prepareVertexDataset(f, 'training', 'gemini-2.5-flash', { countTokens }), /line 2 has more than the 131,072 tokens Vertex AI gemini-2.5-flash takes per example \(line 2: 140,000/);
    assert.deepEqual(counted, [2]);
  });

  test('more than 5,000 validation samples: refused', () => {
    const line = vertex([['user', 'q'], ['model', 'a']]);
    const f = file('val.jsonl', Array.from({ length: 5001 }, () => line));
    assert.throws(() => prepareVertexDataset(f, 'validation', 'gemini-2.5-flash'), /5,001 validation samples, more than the 5,000 Vertex AI gemini-2.5-flash allows/);
    assert.equal(prepareVertexDataset(f, 'training', 'gemini-2.5-flash').record.samples, 5001);
  });
});
