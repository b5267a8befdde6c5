/**
 * The Vertex AI backend against the loopback fake of Google Cloud (test/fakes/googleCloud.ts), over
 * real HTTP: the exact requests it sends, its retries, its no-duplicate create, its watch of the job.
 * Waits are shortened by injecting the backoff's sleep and random, never by sleeping.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import type { JobEvent, MetricsEvent, TrainerEvent } from '../../src/core/runs';
import { readRunEvents } from '../../src/core/runStore';
import { ADC_FIX, CredentialsError, loadCredentials, type Credentials } from '../../src/backends/vertex/auth';
import { VertexBackend, type VertexBackendOptions, type VertexRunRecord } from '../../src/backends/vertex/backend';
import { VertexClient } from '../../src/backends/vertex/client';
import { DATASET_LABEL, listJobs, RUN_LABEL } from '../../src/backends/vertex/jobs';
import { resolveVertexSettings } from '../../src/backends/vertex/settings';
import { uploadDataset } from '../../src/backends/vertex/storage';
import { createTransport } from '../../src/backends/vertex/transport';
import type { RunHandle } from '../../src/backends/types';
import { startFakeGoogleCloud, type FakeGoogleCloud } from '../fakes/googleCloud';
import { openai, vertex } from './helpers';

const tmp = mkdtempSync(path.join(tmpdir(), 'sft-vertex-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const TOKEN = 'static-token';
const PROJECT = 'my-project';
const LOCATION = 'us-central1';
const P = `/v1/projects/${PROJECT}/locations/${LOCATION}`;
const TRAIN_LINES = [vertex([['user', 'What is 2+2?'], ['model', 'Four.']]), vertex([['user', 'Capital of France?'], ['model', 'Paris.']])];
const VALID_LINES = [openai([['user', 'Colour of the sky?'], ['assistant', 'Blue.']])];

let fake: FakeGoogleCloud;
let n = 0;
beforeEach(async () => {
  fake = await startFakeGoogleCloud({ staticTokens: [TOKEN] });
});
afterEach(() => fake.close());

function files(): { train: string; validation: string; runs: string } {
  const dir = path.join(tmp, `case-${++n}`);
  mkdirSync(dir, { recursive: true });
  const train = path.join(dir, 'train.jsonl');
  const validation = path.join(dir, 'validation.jsonl');
  writeFileSync(train, TRAIN_LINES.join('\n') + '\n');
  writeFileSync(validation, VALID_LINES.join('\n') + '\n');
  return { train, validation, runs: path.join(dir, 'runs') };
}

/** Sleeps that return at once, each asked-for delay kept. */
function quickSleep(): { sleep: (ms: number, signal?: AbortSignal) => Promise<void>; delays: number[] } {
  const delays: number[] = [];
  return { delays, sleep: (ms) => (delays.push(ms), new Promise((r) => setImmediate(r))) };
}

const staticCredentials = (): Promise<Credentials> => loadCredentials({ accessToken: TOKEN }, { env: {} });

function backend(extra: Partial<VertexBackendOptions> = {}): VertexBackend {
  const poll = quickSleep();
  const retry = quickSleep();
  return new VertexBackend({
    credentials: staticCredentials,
    retry: { baseDelayMs: 100, random: () => 0.5, sleep: retry.sleep, timeoutMs: 5000 },
    create: { baseDelayMs: 10, random: () => 0.5, sleep: retry.sleep },
    sleep: poll.sleep,
    ...extra,
  });
}

function start(b: VertexBackend, f: ReturnType<typeof files>, extra: { validation?: boolean; epochs?: number } = {}): RunHandle {
  return b.start({
    trainFile: f.train, ...(extra.validation ? { validationFile: f.validation } : {}), runsDir: f.runs, config: { model: 'gemini-2.5-flash' },
    vertex: {
      project: PROJECT, location: LOCATION, bucket: 'gs://bkt/pre', apiEndpoint: fake.url, storageEndpoint: fake.url, pollIntervalSeconds: 0.01,
      model: 'gemini-2.5-flash', epochs: extra.epochs ?? 2, learningRateMultiplier: 1.5, adapterSize: 4, tunedModelDisplayName: 'my tuned model',
    },
  });
}

function startWithModel(b: VertexBackend, f: ReturnType<typeof files>, model: string): RunHandle {
  return b.start({
    trainFile: f.train, runsDir: f.runs, config: { model },
    vertex: { project: PROJECT, location: LOCATION, bucket: 'gs://bkt/pre', apiEndpoint: fake.url, storageEndpoint: fake.url, pollIntervalSeconds: 0.01, model },
  });
}

async function until(handle: RunHandle, pred: (e: TrainerEvent) => boolean): Promise<TrainerEvent> {
  for await (const e of handle.events()) if (pred(e)) return e;
  throw new Error('the run ended first');
}

const record = (dir: string): VertexRunRecord => JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')) as VertexRunRecord;
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const metricKeys = (events: readonly TrainerEvent[]) => events.filter((e): e is MetricsEvent => e.event === 'metrics').map((e) => `${e.split}:${e.step}`);

describe('Vertex credentials', { timeout: 20_000 }, () => {
  test('user credentials (authorized_user ADC) are exchanged at the token endpoint; a 401 renews the token once and the call is repeated', async () => {
    const adc = path.join(tmp, 'adc.json');
    writeFileSync(adc, JSON.stringify({ type: 'authorized_user', client_id: 'cid.apps.googleusercontent.com', client_secret: 'secret', refresh_token: 'fake-refresh-token' }));
    const settings = resolveVertexSettings({ project: PROJECT, location: LOCATION, bucket: 'gs://bkt', apiEndpoint: fake.url, storageEndpoint: fake.url, tokenEndpoint: `${fake.url}/token` }, {});
    const credentials = await loadCredentials(settings, { env: { GOOGLE_APPLICATION_CREDENTIALS: adc } });
    assert.equal(credentials.kind, 'adc');
    const client = await VertexClient.create({ settings, credentials });
    assert.deepEqual(await client.listTuningJobs(), []);
    const [exchange] = fake.requestsTo('/token', 'POST');
    assert.ok(exchange);
    assert.deepEqual(Object.fromEntries(new URLSearchParams(exchange.body.toString())), { refresh_token: 'fake-refresh-token', client_id: 'cid.apps.googleusercontent.com', client_secret: 'secret', grant_type: 'refresh_token' });
    const issued = () => fake.tokens.all.filter((t) => t.source === 'refresh_token').map((t) => t.token);
    const first = issued()[0]!;
    const [list] = fake.requestsTo(`${P}/tuningJobs`, 'GET');
    assert.equal(list!.headers.authorization, `Bearer ${first}`);
    assert.equal(list!.query.get('pageSize'), '50');

    fake.tokens.expire(first);
    const before = fake.requests.length;
    assert.deepEqual(await client.listTuningJobs(), []);
    const after = fake.requests.slice(before).map((r) => `${r.method} ${r.path} ${r.status} ${r.headers.authorization === `Bearer ${first}` ? 'old' : r.headers.authorization ? 'new' : '-'}`);
    assert.deepEqual(after, [`GET ${P}/tuningJobs 401 old`, 'POST /token 200 -', `GET ${P}/tuningJobs 200 new`]);
    assert.equal(fake.requests.at(-1)!.headers.authorization, `Bearer ${issued()[1]!}`);
  });

  test('workload identity federation (external_account): the subject token is exchanged at its STS token_url; a 401 renews it', async () => {
    const subject = path.join(tmp, 'oidc-token.txt');
    writeFileSync(subject, 'oidc-subject-token');
    const file = path.join(tmp, 'wif.json');
    const audience = '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/providers/ci';
    writeFileSync(file, JSON.stringify({ type: 'external_account', audience, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt', token_url: `${fake.url}/v1/token`, credential_source: { file: subject } }));
    const settings = resolveVertexSettings({ project: PROJECT, location: LOCATION, bucket: 'gs://bkt', apiEndpoint: fake.url }, {});
    const client = await VertexClient.create({ settings, credentials: await loadCredentials(settings, { env: { GOOGLE_APPLICATION_CREDENTIALS: file } }) });
    await client.listTuningJobs();
    const [sts] = fake.requestsTo('/v1/token', 'POST');
    const form = Object.fromEntries(new URLSearchParams(sts!.body.toString()));
    assert.equal(form.grant_type, 'urn:ietf:params:oauth:grant-type:token-exchange');
    assert.equal(form.subject_token, 'oidc-subject-token');
    assert.equal(form.subject_token_type, 'urn:ietf:params:oauth:token-type:jwt');
    assert.equal(form.audience, audience);
    assert.equal(form.scope, 'https://www.googleapis.com/auth/cloud-platform');
    fake.tokens.expire();
    await client.listTuningJobs();
    assert.deepEqual(fake.requests.slice(-3).map((r) => `${r.method} ${r.path} ${r.status}`), [`GET ${P}/tuningJobs 401`, 'POST /v1/token 200', `GET ${P}/tuningJobs 200`]);
  });

  test('an access token that the service refuses: one message saying how to get a fresh one, no retry storm', async () => {
    const settings = resolveVertexSettings({ project: PROJECT, location: LOCATION, bucket: 'gs://bkt', apiEndpoint: fake.url }, {});
    const client = await VertexClient.create({ settings, credentials: await loadCredentials({ accessToken: 'not-known' }, { env: {} }) });
    await assert.rejects(client.listTuningJobs(), (e: Error) => /access token was rejected/.test(e.message) && /gcloud auth print-access-token/.test(e.message) && !e.message.includes('not-known'));
    assert.equal(fake.requestsTo(`${P}/tuningJobs`).length, 1);
  });

  test('a refresh token that has been revoked: the message says to log in again', async () => {
    const adc = path.join(tmp, 'adc-revoked.json');
    writeFileSync(adc, JSON.stringify({ type: 'authorized_user', client_id: 'c', client_secret: 's', refresh_token: 'revoked' }));
    const credentials = await loadCredentials({ tokenEndpoint: `${fake.url}/token` }, { env: { GOOGLE_APPLICATION_CREDENTIALS: adc } });
    await assert.rejects(credentials.token(), (e: Error) => /expired or been revoked: run `gcloud auth application-default login`/.test(e.message) && !e.message.includes('revoked"'));
  });
});

describe('Vertex dataset upload', { timeout: 20_000 }, () => {
  test('small files in one request, large ones resumable in 256 KiB chunks with progress; the same content is never uploaded twice', async () => {
    const transport = createTransport({ credentials: await staticCredentials() });
    const small = Buffer.from(TRAIN_LINES.join('\n') + '\n');
    const opts = { storageEndpoint: fake.url, bucket: 'bkt', prefix: 'pre', resumableThreshold: 100_000, chunkBytes: 256 * 1024 };
    const a = await uploadDataset(transport, small, opts);
    const object = `pre/sft-studio/datasets/${sha256(small)}.jsonl`;
    assert.deepEqual(a, { uri: `gs://bkt/${object}`, object, sha256: sha256(small), bytes: small.length, uploaded: true, method: 'simple' });
    const simple = fake.requestsTo('/upload/storage/v1/b/bkt/o', 'POST');
    assert.equal(simple.length, 1);
    assert.equal(simple[0]!.query.get('uploadType'), 'media');
    assert.equal(simple[0]!.query.get('name'), object);
    assert.equal(simple[0]!.headers.authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(simple[0]!.body, small);
    assert.deepEqual(fake.objects.get(`bkt/${object}`), small);

    const big = Buffer.alloc(600 * 1024, 'x');
    const progress: number[] = [];
    const b = await uploadDataset(transport, big, { ...opts, onProgress: (sent) => progress.push(sent) });
    assert.equal(b.method, 'resumable');
    const bigObject = `pre/sft-studio/datasets/${sha256(big)}.jsonl`;
    const opened = fake.requestsTo('/upload/storage/v1/b/bkt/o', 'POST').filter((r) => r.query.get('uploadType') === 'resumable');
    assert.equal(opened.length, 1);
    assert.equal(opened[0]!.query.get('name'), bigObject);
    assert.equal(opened[0]!.headers['x-upload-content-length'], String(big.length));
    const puts = fake.requestsTo('/upload/storage/v1/b/bkt/o', 'PUT');
    assert.deepEqual(puts.map((r) => [r.headers['content-range'], r.status]), [[`bytes 0-262143/${big.length}`, 308], [`bytes 262144-524287/${big.length}`, 308], [`bytes 524288-614399/${big.length}`, 200]]);
    assert.deepEqual(progress, [262144, 524288, big.length]);
    assert.deepEqual(fake.objects.get(`bkt/${bigObject}`), big);

    const uploadsBefore = fake.requestsTo(/^\/upload\//).length;
    const again = await Promise.all([uploadDataset(transport, small, opts), uploadDataset(transport, big, opts)]);
    assert.deepEqual(again.map((r) => [r.uploaded, r.method]), [[false, 'existing'], [false, 'existing']]);
    assert.equal(fake.requestsTo(/^\/upload\//).length, uploadsBefore);
  });

  test('a chunk lost on the way: the upload asks how much arrived and goes on from there', async () => {
    const transport = createTransport({ credentials: await staticCredentials() });
    const big = Buffer.alloc(600 * 1024, 'y');
    fake.fail({ method: 'PUT', path: /^\/upload\/storage\/v1\/b\/bkt\/o\?.*upload_id/, status: 503, times: 1 });
    await uploadDataset(transport, big, { storageEndpoint: fake.url, bucket: 'bkt', prefix: '', resumableThreshold: 1, chunkBytes: 256 * 1024 });
    const ranges = fake.requestsTo('/upload/storage/v1/b/bkt/o', 'PUT').map((r) => `${r.headers['content-range']} ${r.status}`);
    assert.deepEqual(ranges, [`bytes 0-262143/${big.length} 503`, `bytes */${big.length} 308`, `bytes 0-262143/${big.length} 308`, `bytes 262144-524287/${big.length} 308`, `bytes 524288-614399/${big.length} 200`]);
    assert.deepEqual(fake.objects.get(`bkt/sft-studio/datasets/${sha256(big)}.jsonl`), big);
  });
});

describe('Vertex tuning runs', { timeout: 20_000 }, () => {
  test('a run: upload, a job created with every field and our labels, polled to SUCCEEDED with metrics, data statistics and the tuned model', async () => {
    const f = files();
    fake.script({ steps: 4, pendingTicks: 1, stepsPerTick: 1 });
    const handle = start(backend(), f, { validation: true, epochs: 2 });
    const summary = await handle.done;
    assert.equal(summary.status, 'completed');
    const rec = record(handle.dir);
    const train = Buffer.from(TRAIN_LINES.join('\n') + '\n');
    const converted = Buffer.from(JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'Colour of the sky?' }] }, { role: 'model', parts: [{ text: 'Blue.' }] }] }) + '\n');
    const trainUri = `gs://bkt/pre/sft-studio/datasets/${sha256(train)}.jsonl`;
    const validUri = `gs://bkt/pre/sft-studio/datasets/${sha256(converted)}.jsonl`;
    assert.deepEqual(fake.objects.get(`bkt/pre/sft-studio/datasets/${sha256(converted)}.jsonl`), converted);

    const creates = fake.requestsTo(`${P}/tuningJobs`, 'POST');
    assert.equal(creates.length, 1);
    assert.equal(creates[0]!.headers.authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(creates[0]!.json, {
      baseModel: 'gemini-2.5-flash',
      supervisedTuningSpec: { trainingDatasetUri: trainUri, validationDatasetUri: validUri, hyperParameters: { epochCount: 2, learningRateMultiplier: 1.5, adapterSize: 'ADAPTER_SIZE_FOUR' } },
      tunedModelDisplayName: 'my tuned model',
      // A label value holds 63 characters: the hash's first 63 hex digits.
      labels: { [RUN_LABEL]: rec.vertex.labels[RUN_LABEL], [DATASET_LABEL]: sha256(train).slice(0, 63) },
    });
    assert.match(rec.vertex.labels[RUN_LABEL]!, /^\d{8}-\d{6}-gemini-2-5-flash-[0-9a-f]{8}$/);

    const [job] = [...fake.jobs.values()];
    assert.equal(rec.vertex.job, job!.name);
    assert.equal(rec.dataset.train.uri, trainUri);
    assert.equal(rec.dataset.validation?.uri, validUri);
    assert.equal(rec.dataset.validation?.converted, true);
    const gets = fake.requestsTo(`/v1/${job!.name}`, 'GET');
    assert.ok(gets.length >= 5, `${gets.length} polls`);

    const events = readRunEvents(handle.dir);
    assert.deepEqual(events, handle.events() === undefined ? [] : [...(await collect(handle))]);
    const jobs = events.filter((e): e is JobEvent => e.event === 'job');
    assert.deepEqual(jobs.map((e) => e.state), ['JOB_STATE_PENDING', 'JOB_STATE_RUNNING', 'JOB_STATE_SUCCEEDED']);
    const last = jobs.at(-1)!;
    assert.deepEqual(last.tuned_model, job!.tunedModel);
    assert.deepEqual(last.data_stats, { examples: 2, billable_tokens: Number((job!.stats as Record<string, string>).totalBillableTokenCount), steps: 4 });
    // Every step once per split, in order, with loss and accuracy as the TensorBoard series hold them.
    assert.deepEqual(metricKeys(events), ['train:1', 'eval:1', 'train:2', 'eval:2', 'train:3', 'eval:3', 'train:4', 'eval:4'].filter((k, i, all) => all.indexOf(k) === i).sort(byStep));
    const m4 = events.find((e): e is MetricsEvent => e.event === 'metrics' && e.split === 'eval' && e.step === 4)!;
    assert.equal(m4.loss, job!.metrics.get('/eval_total_loss')!.at(-1)!.value);
    assert.equal(m4.accuracy, job!.metrics.get('/eval_fraction_of_correct_next_step_preds')!.at(-1)!.value);
    const progress = events.filter((e) => e.event === 'progress');
    assert.deepEqual(progress.map((e) => e.event === 'progress' && [e.step, e.total_steps]), [[1, 4], [2, 4], [3, 4], [4, 4]], 'a progress event per step');
    assert.equal(events.at(-1)!.event, 'finished');
    assert.equal(summary.job?.tuned_model?.endpoint, job!.tunedModel!.endpoint);
    assert.equal(summary.steps, 4);
    assert.deepEqual(JSON.parse(readFileSync(path.join(handle.dir, 'summary.json'), 'utf8')), summary);
    // The metrics path: the experiment context, its ExperimentRun child, the run's series, each read whole.
    const ctx = fake.requestsTo(/\/metadataStores\/default\/contexts/, 'GET');
    assert.ok(ctx.some((r) => r.query.get('filter') === `schema_title="system.ExperimentRun" AND parent_contexts:"${job!.experiment!}"`));
    assert.ok(fake.requestsTo(/:read\?maxDataPoints=-1$/, 'GET').length >= 4);
    // Nothing of the credentials in what the run keeps.
    for (const file of ['run.json', 'config.json', 'events.jsonl', 'vertex.log', 'summary.json']) assert.ok(!readFileSync(path.join(handle.dir, file), 'utf8').includes(TOKEN), file);
  });

  test('429 (with Retry-After) and 500 are retried with exponential backoff and full jitter', async () => {
    const f = files();
    fake.script({ steps: 2, pendingTicks: 0, stepsPerTick: 1 });
    const retry = quickSleep();
    fake.fail({ method: 'GET', path: /\/tuningJobs\/\d+$/, status: 429, headers: { 'Retry-After': '2' }, times: 1 });
    fake.fail({ method: 'GET', path: /\/tuningJobs\/\d+$/, status: 500, times: 2 });
    const b = backend({ retry: { baseDelayMs: 100, random: () => 0.5, sleep: retry.sleep } });
    const summary = await start(b, f).done;
    assert.equal(summary.status, 'completed');
    // Try 1: max(Retry-After 2 s, 0.5 x 100 ms); try 2: 0.5 x 200 ms; try 3: 0.5 x 400 ms.
    assert.deepEqual(retry.delays, [2000, 100, 200]);
    const statuses = fake.requestsTo(/\/tuningJobs\/\d+$/, 'GET').map((r) => r.status);
    assert.deepEqual(statuses.slice(0, 4), [429, 500, 500, 200]);
  });

  test('a create that never answers: the job is looked up by its run label and found, never created twice', async () => {
    const f = files();
    fake.script({ steps: 2, pendingTicks: 0 });
    fake.fail({ method: 'POST', path: `${P}/tuningJobs`, hang: true });
    const b = backend({ retry: { timeoutMs: 300, baseDelayMs: 1, sleep: quickSleep().sleep } });
    const handle = start(b, f);
    const summary = await handle.done;
    assert.equal(summary.status, 'completed');
    assert.equal(fake.jobs.size, 1);
    assert.equal(fake.requestsTo(`${P}/tuningJobs`, 'POST').length, 1);
    const label = record(handle.dir).vertex.labels[RUN_LABEL]!;
    const lists = fake.requestsTo(`${P}/tuningJobs`, 'GET');
    assert.equal(lists.length, 1);
    assert.equal(lists[0]!.query.get('filter'), `labels.${RUN_LABEL}="${label}"`);
    assert.equal(record(handle.dir).vertex.job, [...fake.jobs.keys()][0]);
    assert.match(readFileSync(path.join(handle.dir, 'vertex.log'), 'utf8'), /may have failed .*no answer within 300 ms.*\n.*found the job/);
  });

  test('a service that refuses the label filter: the jobs are listed whole and the label checked here', async () => {
    const f = files();
    fake.script({ steps: 1, pendingTicks: 0 });
    fake.fail({ method: 'POST', path: `${P}/tuningJobs`, hang: true });
    fake.fail({ method: 'GET', path: /\/tuningJobs\?.*filter=/, status: 400 });
    const handle = start(backend({ retry: { timeoutMs: 300, baseDelayMs: 1, sleep: quickSleep().sleep } }), f);
    assert.equal((await handle.done).status, 'completed');
    const lists = fake.requestsTo(`${P}/tuningJobs`, 'GET');
    assert.deepEqual(lists.map((r) => [r.query.has('filter'), r.status]), [[true, 400], [false, 200]]);
    assert.equal(fake.jobs.size, 1);
  });

  test('polls wait longer while nothing changes (×1.5 each time, capped), and the base interval again on a change', async () => {
    const f = files();
    fake.script({ steps: 2, pendingTicks: 0, outcome: 'hold' });
    const poll = quickSleep();
    const handle = start(backend({ sleep: poll.sleep, maxPollSeconds: 0.05 }), f);
    await until(handle, (e) => e.event === 'progress' && e.step === 2);
    // Let it poll a while with nothing new, then end the job.
    while (poll.delays.length < 12) await new Promise((r) => setImmediate(r));
    fake.finish([...fake.jobs.keys()][0]!, 'succeed');
    await handle.done;
    const tail = poll.delays.slice(poll.delays.lastIndexOf(10) + 1, poll.delays.lastIndexOf(10) + 7);
    assert.deepEqual(tail, [15, 23, 35, 50, 50, 50]);
    assert.ok(poll.delays.slice(0, 3).every((d) => d === 10), poll.delays.join(' '));
  });

  test('a create answered 503 before the job exists: looked up, not found, created again once', async () => {
    const f = files();
    fake.script({ steps: 1, pendingTicks: 0 });
    fake.fail({ method: 'POST', path: `${P}/tuningJobs`, status: 503 });
    const summary = await start(backend(), f).done;
    assert.equal(summary.status, 'completed');
    assert.deepEqual(fake.requestsTo(`${P}/tuningJobs`).map((r) => `${r.method} ${r.status}`), ['POST 503', 'GET 200', 'GET 200', 'POST 200']);
    assert.equal(fake.jobs.size, 1);
  });

  test("a request the service refuses (an untunable base model): the run fails with Google's message, said plainly", async () => {
    const f = files();
    const handle = startWithModel(backend(), f, 'gemini-0-nano');
    const summary = await handle.done;
    assert.equal(summary.status, 'failed');
    assert.match(summary.error!.message, /^Vertex AI answered 400: Base model gemini-0-nano is not supported for supervised tuning\./);
    assert.equal(fake.jobs.size, 0);
    assert.equal(fake.requestsTo(`${P}/tuningJobs`, 'POST').length, 1);
    const limits = readRunEvents(handle.dir).filter((e) => e.event === 'warning' && e.code === 'limits');
    assert.match((limits[0] as { text: string } | undefined)?.text ?? '', /no documented limits for gemini-0-nano/, 'a model without a profile says its data went unchecked');
  });

  test('a job that ends FAILED ends the run failed with its message', async () => {
    const f = files();
    fake.script({ steps: 4, pendingTicks: 0, outcome: { fail: { code: 3, message: 'Dataset row 2 is invalid.' }, atStep: 2 } });
    const handle = start(backend(), f);
    const summary = await handle.done;
    assert.equal(summary.status, 'failed');
    assert.equal(summary.error?.message, 'Dataset row 2 is invalid.');
    const events = readRunEvents(handle.dir);
    assert.deepEqual(events.slice(-2).map((e) => e.event), ['error', 'finished']);
    assert.deepEqual(metricKeys(events), ['train:1', 'train:2']);
    assert.equal((events.filter((e) => e.event === 'job').at(-1) as JobEvent).state, 'JOB_STATE_FAILED');
  });

  test('cancel: tuningJobs.cancel once, and the run ends cancelled when the job says CANCELLED', async () => {
    const f = files();
    fake.script({ steps: 100, pendingTicks: 0, outcome: 'hold' });
    const handle = start(backend(), f);
    await until(handle, (e) => e.event === 'metrics');
    handle.cancel();
    handle.cancel();
    const summary = await handle.done;
    assert.equal(summary.status, 'cancelled');
    const [job] = [...fake.jobs.values()];
    assert.equal(fake.requestsTo(`/v1/${job!.name}:cancel`, 'POST').length, 1);
    assert.equal(job!.state, 'JOB_STATE_CANCELLED');
    const states = readRunEvents(handle.dir).filter((e): e is JobEvent => e.event === 'job').map((e) => e.state);
    assert.equal(states.at(-1), 'JOB_STATE_CANCELLED');
    // Polling went on after the cancel until the job said so.
    const gets = fake.requestsTo(`/v1/${job!.name}`, 'GET');
    assert.ok(gets.at(-1)!.headers.authorization);
  });

  test('reattach after a reload: events replayed, the job watched again from the run record, no step reported twice', async () => {
    const f = files();
    fake.script({ steps: 6, pendingTicks: 0, outcome: 'hold' });
    // The first host stops for good once it has reported step 3, as a closed window does: its next
    // wait never ends.
    let frozen = false;
    let stopped!: () => void;
    const hostGone = new Promise<void>((r) => (stopped = r));
    const first = backend({
      sleep: () => {
        if (!frozen) return new Promise((r) => setImmediate(r));
        stopped();
        return new Promise<void>(() => undefined);
      },
    });
    const handle = start(first, f, { validation: true });
    await until(handle, (e) => e.event === 'metrics' && e.step >= 3);
    frozen = true;
    await hostGone;
    const before = readRunEvents(handle.dir);
    const [job] = [...fake.jobs.values()];

    const second = backend();
    assert.equal(second.reattach(path.join(tmp, 'nowhere')), undefined);
    const again = second.reattach(handle.dir)!;
    assert.equal(again.id, handle.id);
    const seen: TrainerEvent[] = [];
    const reading = (async () => {
      for await (const e of again.events()) seen.push(e);
    })();
    const reported = Math.max(...before.filter((e): e is MetricsEvent => e.event === 'metrics').map((e) => e.step));
    await until(again, (e) => e.event === 'metrics' && e.step > reported);
    fake.finish(job!.name, 'succeed');
    const summary = await again.done;
    await reading;
    assert.equal(summary.status, 'completed');
    assert.deepEqual(seen.slice(0, before.length), before);
    const events = readRunEvents(handle.dir);
    const keys = metricKeys(events);
    assert.equal(new Set(keys).size, keys.length, keys.join(' '));
    assert.deepEqual([...new Set(keys)].sort(byStep), keys.slice().sort(byStep));
    assert.ok(keys.includes('train:6') && keys.includes('eval:6'));
    assert.equal(events.filter((e) => e.event === 'started').length, 1);
    assert.equal(fake.requestsTo(`${P}/tuningJobs`, 'POST').length, 1);
  });
});

describe('Vertex metrics that cannot be read', { timeout: 20_000 }, () => {
  test('no permission on the experiment (403): said once, the job is watched on and the run ends as the job does', async () => {
    const f = files();
    fake.script({ steps: 3, pendingTicks: 0 });
    fake.fail({ method: 'GET', path: /metadataStores\/default\/contexts/, status: 403, times: Infinity });
    const handle = start(backend(), f);
    const summary = await handle.done;
    assert.equal(summary.status, 'completed', 'the job succeeded: so did the run');
    assert.ok(summary.job?.tuned_model?.endpoint, 'the tuned model is known');
    const warnings = readRunEvents(handle.dir).filter((e) => e.event === 'warning' && e.code === 'metrics');
    assert.equal(warnings.length, 2, 'one warning for the failure, one for the steps it could not show');
    assert.match((warnings[0] as { text: string }).text, /metrics cannot be read from Vertex AI TensorBoard \(.*403/);
  });

  test('TensorBoard down (500 on every read) when the job ends: the run still ends, after a few more looks, saying what is missing', async () => {
    const f = files();
    fake.script({ steps: 3, pendingTicks: 0 });
    const broken = fake.fail({ method: 'GET', path: /:read/, status: 500, times: Infinity });
    const handle = start(backend(), f);
    const summary = await handle.done;
    assert.equal(summary.status, 'completed');
    assert.ok(broken.hits > 0);
    const texts = readRunEvents(handle.dir).flatMap((e) => (e.event === 'warning' && e.code === 'metrics' ? [e.text] : []));
    assert.match(texts[texts.length - 1]!, /metrics reach step 0 of 3/);
  });
});

describe('Vertex run folders are workspace content', { timeout: 20_000 }, () => {
  test('reattach sends nothing where the workspace is not trusted, and never takes the token endpoint from run.json', async () => {
    const f = files();
    fake.script({ steps: 4, pendingTicks: 0, outcome: 'hold' });
    let stopped!: () => void;
    const hostGone = new Promise<void>((r) => (stopped = r));
    let frozen = false;
    const first = backend({ sleep: () => (frozen ? (stopped(), new Promise<void>(() => undefined)) : new Promise((r) => setImmediate(r))) });
    const handle = start(first, f);
    await until(handle, (e) => e.event === 'job' && e.state === 'JOB_STATE_RUNNING');
    frozen = true;
    await hostGone;
    // A run.json that names a token endpoint of someone else's.
    const file = path.join(handle.dir, 'run.json');
    const record = JSON.parse(readFileSync(file, 'utf8')) as VertexRunRecord;
    writeFileSync(file, JSON.stringify({ ...record, vertex: { ...record.vertex, token_endpoint: 'https://attacker.invalid/token' } }));
    const sent = fake.requests.length;
    assert.equal(backend({ trusted: () => false }).reattach(handle.dir), undefined, 'not trusted: not watched');
    assert.equal(fake.requests.length, sent, 'nothing sent');
    let seen: string | undefined;
    const trusted = backend({ trusted: () => true, credentials: async (s) => ((seen = s.tokenEndpoint), staticCredentials()) });
    const again = trusted.reattach(handle.dir)!;
    await until(again, (e) => e.event === 'metrics');
    again.cancel();
    await again.done;
    assert.equal(seen, undefined, 'the token endpoint of run.json is not used');
  });
});

describe('Vertex runs without credentials for a while', { timeout: 20_000 }, () => {
  test('reopened without credentials: the run stays open (said once), and resumes once they are back', async () => {
    const f = files();
    fake.script({ steps: 3, pendingTicks: 0, outcome: 'hold' });
    let stopped!: () => void;
    const hostGone = new Promise<void>((r) => (stopped = r));
    let frozen = false;
    const first = backend({ sleep: () => (frozen ? (stopped(), new Promise<void>(() => undefined)) : new Promise((r) => setImmediate(r))) });
    const handle = start(first, f);
    await until(handle, (e) => e.event === 'job');
    frozen = true;
    await hostGone;

    const noCredentials = backend({ credentials: () => Promise.reject(new CredentialsError('no Google Cloud credentials found', ADC_FIX)) });
    for (let i = 0; i < 2; i++) {
      const summary = await noCredentials.reattach(handle.dir)!.done;
      assert.equal(summary.status, 'running');
    }
    const warnings = readRunEvents(handle.dir).filter((e) => e.event === 'warning' && e.code === 'watch');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.event === 'warning' ? warnings[0]!.text : '', /stopped watching the job .*: no Google Cloud credentials found: run `gcloud auth application-default login`.*it goes on at Vertex AI/);

    const back = backend().reattach(handle.dir)!;
    fake.finish([...fake.jobs.keys()][0]!, 'succeed');
    assert.equal((await back.done).status, 'completed');
  });
});

describe('Vertex jobs started elsewhere', { timeout: 20_000 }, () => {
  test('listed, and opened as a run: a run folder with its name, model, data and hyper-parameters, watched to its end; opened again, the same run', async () => {
    const f = files();
    fake.putObject('bkt', 'elsewhere/train.jsonl', TRAIN_LINES.join('\n') + '\n');
    fake.script({ steps: 3, pendingTicks: 0 });
    const settings = { project: PROJECT, location: LOCATION, apiEndpoint: fake.url, pollIntervalSeconds: 0.01 };
    const client = await VertexClient.create({ settings: resolveVertexSettings({ ...settings, bucket: '' }, {}, { bucket: 'optional' }), credentials: await staticCredentials() });
    const made = await client.createTuningJob({ baseModel: 'gemini-2.5-flash', trainingDatasetUri: 'gs://bkt/elsewhere/train.jsonl', epochCount: 3, adapterSize: 8, tunedModelDisplayName: 'from the console' });
    const listed = await listJobs(client);
    assert.deepEqual(listed.map((j) => j.name), [made.name]);

    const b = backend();
    const handle = await b.openJob(made.name!, f.runs, settings);
    const summary = await handle.done;
    assert.equal(summary.status, 'completed');
    const rec = record(handle.dir);
    assert.equal(rec.vertex.job, made.name);
    assert.equal(rec.model, 'gemini-2.5-flash');
    assert.equal(rec.dataset.train.uri, 'gs://bkt/elsewhere/train.jsonl');
    assert.deepEqual(rec.vertex.hyper_parameters, { epoch_count: 3, learning_rate_multiplier: null, adapter_size: 8 });
    const events = readRunEvents(handle.dir);
    assert.equal(events[0]!.event, 'started');
    assert.deepEqual(metricKeys(events), ['train:1', 'train:2', 'train:3']);
    assert.equal(fake.requestsTo(`${P}/tuningJobs`, 'POST').length, 1);

    const again = await b.openJob(made.name!, f.runs, settings);
    assert.equal(again.dir, handle.dir);
    assert.equal((await again.done).status, 'completed');
  });
});

describe('Vertex generateContent', { timeout: 20_000 }, () => {
  test('the base model and a tuned endpoint answer through the same client', async () => {
    const settings = resolveVertexSettings({ project: PROJECT, location: LOCATION, bucket: 'gs://bkt', apiEndpoint: fake.url }, {});
    const client = await VertexClient.create({ settings, credentials: await staticCredentials() });
    const base = await client.generateContent('gemini-2.5-flash', 'hello');
    assert.equal(base.text, '[gemini-2.5-flash] hello');
    const [req] = fake.requestsTo(`${P}/publishers/google/models/gemini-2.5-flash:generateContent`, 'POST');
    assert.deepEqual(req!.json, { contents: [{ parts: [{ text: 'hello' }], role: 'user' }] });
    fake.putObject('bkt', 'train.jsonl', TRAIN_LINES.join('\n') + '\n');
    const job = await client.createTuningJob({ baseModel: 'gemini-2.5-flash', trainingDatasetUri: 'gs://bkt/train.jsonl' });
    const endpoint = fake.finish(job.name!, 'succeed').tunedModel!.endpoint;
    const tuned = await client.generateContent(endpoint, [{ role: 'user', parts: [{ text: 'hi there' }] }], { temperature: 0 });
    assert.equal(tuned.text, '[tuned] hi there');
    const [treq] = fake.requestsTo(`/v1/${endpoint}:generateContent`, 'POST');
    assert.deepEqual(treq!.json, { contents: [{ role: 'user', parts: [{ text: 'hi there' }] }], generationConfig: { temperature: 0 } });
  });
});

function byStep(a: string, b: string): number {
  const [sa, na] = a.split(':') as [string, string];
  const [sb, nb] = b.split(':') as [string, string];
  return Number(na) - Number(nb) || (sa === sb ? 0 : sa === 'train' ? -1 : 1);
}

async function collect(handle: RunHandle): Promise<TrainerEvent[]> {
  const out: TrainerEvent[] = [];
  for await (const e of handle.events()) out.push(e);
  return out;
}
