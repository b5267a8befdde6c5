// A tuning job started elsewhere, opened as a run: against the loopback Google server, real HTTP.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { VertexBackend } from '../../src/backends/vertex';
import { datasetState, readRun, readRunEvents } from '../../src/core/runStore';
import { startFakeGoogleCloud, type FakeGoogleCloud } from '../fakes/googleCloud';

describe('opening a job started elsewhere', () => {
  let fake: FakeGoogleCloud;
  let dir: string;
  const TOKEN = 'ya29.static-test-token';
  const settings = () => ({ project: 'p1', location: 'us-central1', bucket: '', apiEndpoint: fake.url, storageEndpoint: fake.url, accessToken: TOKEN, pollIntervalSeconds: 0.01 });

  before(async () => {
    fake = await startFakeGoogleCloud({ staticTokens: [TOKEN] });
    dir = mkdtempSync(path.join(tmpdir(), 'sft-open-job-'));
  });
  after(async () => {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function createElsewhere(uri: string, extra: Record<string, unknown> = {}): Promise<string> {
    const r = await fetch(`${fake.url}/v1/projects/p1/locations/us-central1/tuningJobs`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ baseModel: 'gemini-2.5-flash', supervisedTuningSpec: { trainingDatasetUri: uri, hyperParameters: { epochCount: '3', adapterSize: 'ADAPTER_SIZE_EIGHT', learningRateMultiplier: 2 } }, ...extra }),
    });
    const text = await r.text();
    assert.equal(r.status, 200, text);
    return (JSON.parse(text) as { name: string }).name;
  }

  test('its data is copied beside the run, its settings kept, and opening it twice gives the same run', async () => {
    const data = '{"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"text":"hello"}]}]}\n';
    fake.putObject('elsewhere', 'd/train.jsonl', data);
    const name = await createElsewhere('gs://elsewhere/d/train.jsonl', { tunedModelDisplayName: 'theirs' });
    const backend = new VertexBackend({ origin: 'cli' });
    const handle = await backend.openJob(name, dir, settings());
    const summary = await handle.done;
    assert.equal(summary.status, 'completed', 'watched to its end, as our own runs are');
    assert.ok(summary.job?.tuned_model?.endpoint, 'the tuned endpoint is known');
    assert.equal(readFileSync(path.join(handle.dir, 'data', 'train.jsonl'), 'utf8'), data);
    const record = JSON.parse(readFileSync(path.join(handle.dir, 'run.json'), 'utf8')) as { backend: string; vertex: { job: string; hyper_parameters: unknown; tuned_model_display_name: string } };
    assert.equal(record.backend, 'vertex');
    assert.equal(record.vertex.job, name);
    assert.deepEqual(record.vertex.hyper_parameters, { epoch_count: 3, learning_rate_multiplier: 2, adapter_size: 8 });
    assert.equal(record.vertex.tuned_model_display_name, 'theirs');
    const item = readRun(handle.dir)!;
    assert.equal(item.record.dataset.train.path, path.join(handle.dir, 'data', 'train.jsonl'));
    assert.equal(datasetState(item.record.dataset.train), 'unchanged');
    const again = await backend.openJob(name, dir, settings());
    assert.equal(again.dir, handle.dir, 'opened twice: the same run');
  });

  test('data it cannot read is named, and the run opens without it', async () => {
    const name = await createElsewhere('gs://elsewhere/d/train.jsonl');
    fake.fail({ method: 'GET', path: /alt=media/, status: 403, times: Infinity });
    const handle = await new VertexBackend({ origin: 'cli' }).openJob(name, dir, settings());
    assert.equal((await handle.done).status, 'completed', 'watched to its end without its data');
    const warnings = readRunEvents(handle.dir).filter((e) => e.event === 'warning').map((e) => (e as { text: string }).text);
    assert.deepEqual(warnings, ['could not copy the data (gs://elsewhere/d/train.jsonl: HTTP 403); the run shows without it']);
    const item = readRun(handle.dir)!;
    assert.equal(item.record.dataset.train.path, 'gs://elsewhere/d/train.jsonl');
    assert.equal(datasetState(item.record.dataset.train), 'remote');
  });
});
