// Pins the behaviour of the fake Google Cloud server (test/fakes/googleCloud.ts) that the Vertex backend's
// tests run against: each endpoint's happy path and each fault, with plain fetch.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { type FakeGoogleCloud, RESUMABLE_CHUNK, startFakeGoogleCloud } from '../fakes/googleCloud';

const TOKEN = 'static-token';
const P = '/v1/projects/my-project/locations/us-central1';
const PARENT = 'projects/123456789012/locations/us-central1';
const line = (q: string, a: string): string =>
  JSON.stringify({ contents: [{ role: 'user', parts: [{ text: q }] }, { role: 'model', parts: [{ text: a }] }] });
const TRAIN = [line('What is 2+2?', 'Four.'), line('Capital of France?', 'Paris.'), line('Colour of the sky?', 'Blue.')].join('\n') + '\n';

let fake: FakeGoogleCloud;
let clock: number;
beforeEach(async () => {
  clock = Date.UTC(2026, 0, 2, 3, 4, 5);
  fake = await startFakeGoogleCloud({ staticTokens: [TOKEN], now: () => new Date((clock += 1000)) });
});
afterEach(() => fake.close());

interface Answer { status: number; headers: Headers; body: unknown; text: string }

async function call(method: string, path: string, opts: { body?: unknown; raw?: Buffer | string; headers?: Record<string, string>; token?: string | null } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? TOKEN : opts.token;
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  let body: string | Uint8Array<ArrayBuffer> | undefined;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['Content-Type'] ??= 'application/json';
  } else if (opts.raw !== undefined) {
    body = typeof opts.raw === 'string' ? opts.raw : new Uint8Array(opts.raw);
  }
  const res = await fetch(fake.url + path, { method, headers, body, redirect: 'manual' });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

const get = (path: string, token?: string | null): Promise<Answer> => call('GET', path, { token });
const post = (path: string, body: unknown): Promise<Answer> => call('POST', path, { body });
const field = (a: Answer, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), a.body);

async function createJob(extra: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): Promise<string> {
  if (!fake.objects.has('bkt/train.jsonl')) fake.putObject('bkt', 'train.jsonl', TRAIN);
  const r = await post(`${P}/tuningJobs`, {
    baseModel: 'gemini-2.5-flash',
    supervisedTuningSpec: { trainingDatasetUri: 'gs://bkt/train.jsonl', hyperParameters: { epochCount: '2' }, ...spec },
    ...extra,
  });
  assert.equal(r.status, 200, r.text);
  return field(r, 'name') as string;
}

describe('token endpoint', () => {
  test('a refresh grant returns a bearer token the APIs accept; a bad refresh token is invalid_grant', async () => {
    const ok = await call('POST', '/token', {
      raw: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'fake-refresh-token', client_id: 'c', client_secret: 's' }).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      token: null,
    });
    assert.equal(ok.status, 200);
    const body = ok.body as { access_token: string; expires_in: number; token_type: string; scope: string };
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, 3600);
    assert.equal(body.scope, 'https://www.googleapis.com/auth/cloud-platform');
    assert.deepEqual(fake.tokens.all.map((t) => t.source), ['static', 'refresh_token']);
    assert.ok(fake.tokens.all[1].expiresAt instanceof Date);
    assert.equal((await get(`${P}/tuningJobs`, body.access_token)).status, 200);

    const bad = await call('POST', '/token', {
      raw: 'grant_type=refresh_token&refresh_token=revoked',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      token: null,
    });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
    const missing = await call('POST', '/token', { raw: 'grant_type=refresh_token', token: null });
    assert.deepEqual(missing.body, { error: 'invalid_request', error_description: 'Missing required parameter: refresh_token' });
    const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const assertion = `${b64({ alg: 'RS256' })}.${b64({ iss: 'sa@p.iam.gserviceaccount.com', scope: 'https://www.googleapis.com/auth/cloud-platform' })}.sig`;
    const jwt = await call('POST', '/token', { raw: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(), token: null });
    assert.equal(jwt.status, 200);
    assert.equal((await get(`${P}/tuningJobs`, field(jwt, 'access_token') as string)).status, 200);
    const badJwt = await call('POST', '/token', { raw: 'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=x', token: null });
    assert.equal(field(badJwt, 'error'), 'invalid_grant');
    const unsupported = await call('POST', '/token', { raw: 'grant_type=password', token: null });
    assert.equal(field(unsupported, 'error'), 'unsupported_grant_type');
  });

  test('an issued token expires when the fake clock passes expires_in', async () => {
    const token = fake.tokens.issue(); // expires_in 3600 on the test clock
    assert.equal((await get(`${P}/tuningJobs`, token)).status, 200);
    clock += 3600 * 1000;
    assert.equal((await get(`${P}/tuningJobs`, token)).status, 401);
    assert.equal((await get(`${P}/tuningJobs`)).status, 200); // static tokens do not expire
  });

  test('STS token exchange issues a token', async () => {
    const r = await call('POST', '/v1/token', {
      raw: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: 'oidc',
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      }).toString(),
      token: null,
    });
    assert.equal(r.status, 200);
    assert.equal(field(r, 'issued_token_type'), 'urn:ietf:params:oauth:token-type:access_token');
    assert.equal((await get(`${P}/tuningJobs`, field(r, 'access_token') as string)).status, 200);
  });

  test('no token, an unknown token and an expired token get 401 UNAUTHENTICATED; a refreshed token works', async () => {
    const missing = await get(`${P}/tuningJobs`, null);
    assert.equal(missing.status, 401);
    assert.equal(field(missing, 'error', 'status'), 'UNAUTHENTICATED');
    assert.match(field(missing, 'error', 'message') as string, /^Request is missing required authentication credential/);
    assert.equal(missing.headers.get('www-authenticate'), 'Bearer realm="https://accounts.google.com/"');
    const unknown = await get(`${P}/tuningJobs`, 'nope');
    assert.deepEqual(field(unknown, 'error', 'code'), 401);
    assert.match(field(unknown, 'error', 'message') as string, /^Request had invalid authentication credentials/);

    const issued = fake.tokens.issue();
    assert.equal((await get(`${P}/tuningJobs`, issued)).status, 200);
    assert.equal(fake.tokens.expire(), issued);
    assert.equal((await get(`${P}/tuningJobs`, issued)).status, 401);
    const refreshed = await call('POST', '/token', { raw: 'grant_type=refresh_token&refresh_token=fake-refresh-token', token: null });
    assert.equal((await get(`${P}/tuningJobs`, field(refreshed, 'access_token') as string)).status, 200);
    // Storage answers 401 in its own error shape.
    const storage401 = await get('/storage/v1/b/bkt/o/x', issued);
    assert.equal(storage401.status, 401);
    assert.equal(field(storage401, 'error', 'message'), 'Invalid Credentials');
    assert.deepEqual(field(storage401, 'error', 'errors'), [
      { message: 'Invalid Credentials', domain: 'global', reason: 'authError', locationType: 'header', location: 'Authorization' },
    ]);
  });
});

describe('Cloud Storage', () => {
  test('simple upload, metadata with size as string, md5 and crc32c in base64; 404 when absent', async () => {
    const absent = await get('/storage/v1/b/bkt/o/data%2Ftrain.jsonl');
    assert.equal(absent.status, 404);
    assert.equal(field(absent, 'error', 'message'), 'No such object: bkt/data/train.jsonl');

    const up = await call('POST', '/upload/storage/v1/b/bkt/o?uploadType=media&name=data%2Ftrain.jsonl', {
      raw: 'hello world',
      headers: { 'Content-Type': 'application/jsonl' },
    });
    assert.equal(up.status, 200);
    const meta = await get('/storage/v1/b/bkt/o/data%2Ftrain.jsonl');
    assert.equal(meta.status, 200);
    const o = meta.body as Record<string, string>;
    assert.equal(o.kind, 'storage#object');
    assert.equal(o.name, 'data/train.jsonl');
    assert.equal(o.bucket, 'bkt');
    assert.equal(o.size, '11');
    assert.equal(o.md5Hash, createHash('md5').update('hello world').digest('base64'));
    assert.equal(o.crc32c, 'yZRlqg==');
    assert.equal(o.contentType, 'application/jsonl');
    assert.equal(o.metageneration, '1');
    assert.match(o.generation, /^\d+$/);
    assert.deepEqual(up.body, o);
    assert.equal(fake.objects.get('bkt/data/train.jsonl')?.toString(), 'hello world');
    const media = await get('/storage/v1/b/bkt/o/data%2Ftrain.jsonl?alt=media');
    assert.equal(media.text, 'hello world');
  });

  test('ifGenerationMatch=0 stores once, then 412 conditionNotMet', async () => {
    const path = '/upload/storage/v1/b/bkt/o?uploadType=media&name=a.jsonl&ifGenerationMatch=0';
    assert.equal((await call('POST', path, { raw: 'one' })).status, 200);
    const again = await call('POST', path, { raw: 'two' });
    assert.equal(again.status, 412);
    assert.equal(field(again, 'error', 'code'), 412);
    assert.equal((field(again, 'error', 'errors') as { reason: string }[])[0].reason, 'conditionNotMet');
    assert.equal(fake.objects.get('bkt/a.jsonl')?.toString(), 'one');
  });

  test('multipart upload takes the name and metadata from the JSON part', async () => {
    const boundary = 'sep';
    const raw = [
      `--${boundary}`, 'Content-Type: application/json; charset=UTF-8', '', JSON.stringify({ name: 'm.jsonl', metadata: { run: 'r1' } }),
      `--${boundary}`, 'Content-Type: application/jsonl', '', '{"a":1}', `--${boundary}--`, '',
    ].join('\r\n');
    const r = await call('POST', '/upload/storage/v1/b/bkt/o?uploadType=multipart', {
      raw,
      headers: { 'Content-Type': `multipart/related; boundary=${boundary}` },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(field(r, 'name'), 'm.jsonl');
    assert.equal(field(r, 'contentType'), 'application/jsonl');
    assert.deepEqual(field(r, 'metadata'), { run: 'r1' });
    assert.equal(fake.objects.get('bkt/m.jsonl')?.toString(), '{"a":1}');
  });

  test('resumable upload: session URI, 308 with Range after a 256 KiB chunk, status query, final 200', async () => {
    const data = Buffer.alloc(RESUMABLE_CHUNK + 1000, 7);
    const init = await call('POST', '/upload/storage/v1/b/bkt/o?uploadType=resumable&name=big.jsonl', {
      headers: { 'X-Upload-Content-Type': 'application/jsonl', 'X-Upload-Content-Length': String(data.length) },
    });
    assert.equal(init.status, 200);
    assert.equal(init.text, '');
    const session = init.headers.get('location') ?? '';
    const uploadId = new URL(session).searchParams.get('upload_id');
    assert.ok(uploadId);
    assert.equal(init.headers.get('x-guploader-uploadid'), uploadId);
    const put = (body: Buffer, range: string): Promise<Response> =>
      fetch(session, { method: 'PUT', body: new Uint8Array(body), headers: { 'Content-Range': range }, redirect: 'manual' });

    const tooSmall = await put(data.subarray(0, 1024), `bytes 0-1023/${data.length}`);
    assert.equal(tooSmall.status, 400);
    assert.match(await tooSmall.text(), /The received request contained 1024 bytes, which does not meet this requirement/);

    const first = await put(data.subarray(0, RESUMABLE_CHUNK), `bytes 0-${RESUMABLE_CHUNK - 1}/${data.length}`);
    assert.equal(first.status, 308);
    assert.equal(first.headers.get('range'), `bytes=0-${RESUMABLE_CHUNK - 1}`);
    assert.equal(first.headers.get('location'), null);

    const status = await put(Buffer.alloc(0), `bytes */${data.length}`);
    assert.equal(status.status, 308);
    assert.equal(status.headers.get('range'), `bytes=0-${RESUMABLE_CHUNK - 1}`);

    const last = await put(data.subarray(RESUMABLE_CHUNK), `bytes ${RESUMABLE_CHUNK}-${data.length - 1}/${data.length}`);
    assert.equal(last.status, 200);
    const object = (await last.json()) as Record<string, string>;
    assert.equal(object.size, String(data.length));
    assert.equal(object.contentType, 'application/jsonl');
    assert.ok(fake.objects.get('bkt/big.jsonl')?.equals(data));
    // The finished session answers the object again.
    assert.equal((await put(Buffer.alloc(0), `bytes */${data.length}`)).status, 200);
  });

  test('single-request resumable uploads: no Content-Range, or "bytes 0-*/*" as @google-cloud/storage streams', async () => {
    const session = async (name: string): Promise<string> =>
      (await call('POST', `/upload/storage/v1/b/bkt/o?uploadType=resumable&name=${name}`, {})).headers.get('location') ?? '';
    const whole = await fetch(await session('a'), { method: 'PUT', body: 'all of it' });
    assert.equal(whole.status, 200);
    assert.equal(fake.objects.get('bkt/a')?.toString(), 'all of it');
    const streamed = await fetch(await session('b'), { method: 'PUT', body: 'streamed', headers: { 'Content-Range': 'bytes 0-*/*' } });
    assert.equal(streamed.status, 200);
    assert.equal(((await streamed.json()) as { size: string }).size, '8');
    assert.equal((await fetch(await session('c'), { method: 'PUT', body: 'x', headers: { 'Content-Range': 'bytes 5-5/6' } })).status, 400);
    assert.equal((await fetch(`${fake.url}/upload/storage/v1/b/bkt/o?uploadType=resumable&upload_id=nope`, { method: 'PUT', body: 'x' })).status, 404);
  });

  test('a non-final chunk that is not a 256 KiB multiple is persisted up to the boundary; Range says so', async () => {
    const data = Buffer.alloc(3 * RESUMABLE_CHUNK, 1);
    const init = await call('POST', '/upload/storage/v1/b/bkt/o?uploadType=resumable&name=odd.bin', {});
    const session = init.headers.get('location') ?? '';
    const sent = RESUMABLE_CHUNK + 100;
    const r = await fetch(session, { method: 'PUT', body: new Uint8Array(data.subarray(0, sent)), headers: { 'Content-Range': `bytes 0-${sent - 1}/*` } });
    assert.equal(r.status, 308);
    assert.equal(r.headers.get('range'), `bytes=0-${RESUMABLE_CHUNK - 1}`);
    const rest = await fetch(session, {
      method: 'PUT',
      body: new Uint8Array(data.subarray(RESUMABLE_CHUNK)),
      headers: { 'Content-Range': `bytes ${RESUMABLE_CHUNK}-${data.length - 1}/${data.length}` },
    });
    assert.equal(rest.status, 200);
    assert.ok(fake.objects.get('bkt/odd.bin')?.equals(data));
  });
});

describe('faults', () => {
  test('429 with Retry-After, then the request goes through', async () => {
    const rule = fake.fail({ method: 'GET', path: `${P}/tuningJobs`, status: 429, headers: { 'Retry-After': '2' } });
    const limited = await get(`${P}/tuningJobs`);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '2');
    assert.deepEqual(field(limited, 'error', 'status'), 'RESOURCE_EXHAUSTED');
    assert.equal((await get(`${P}/tuningJobs`)).status, 200);
    assert.equal(rule.hits, 1);
    assert.deepEqual(fake.requestsTo(`${P}/tuningJobs`).map((r) => r.status), [429, 200]);
  });

  test('500 twice on a regex path, a storage 503 in the storage shape, a reset connection', async () => {
    fake.fail({ path: /\/tuningJobs$/, status: 500, times: 2 });
    assert.equal((await get(`${P}/tuningJobs`)).status, 500);
    const second = await get(`${P}/tuningJobs`);
    assert.deepEqual(second.body, { error: { code: 500, message: 'Internal error encountered.', status: 'INTERNAL' } });
    assert.equal((await get(`${P}/tuningJobs`)).status, 200);

    fake.fail({ path: /^\/upload\//, status: 503 });
    const storage = await call('POST', '/upload/storage/v1/b/bkt/o?uploadType=media&name=x', { raw: 'x' });
    assert.equal(storage.status, 503);
    assert.equal((field(storage, 'error', 'errors') as { reason: string }[])[0].reason, 'backendError');
    assert.equal(fake.objects.has('bkt/x'), false);

    fake.fail({ path: `${P}/tuningJobs`, reset: true });
    await assert.rejects(get(`${P}/tuningJobs`));
    assert.equal((await get(`${P}/tuningJobs`)).status, 200);
  });

  test('a create that hangs still creates the job; the job is found by its label', async () => {
    fake.putObject('bkt', 'train.jsonl', TRAIN);
    fake.fail({ method: 'POST', path: `${P}/tuningJobs`, hang: true });
    const aborted = fetch(fake.url + `${P}/tuningJobs`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ baseModel: 'gemini-2.5-flash', supervisedTuningSpec: { trainingDatasetUri: 'gs://bkt/train.jsonl' }, labels: { run: 'r-7' } }),
      signal: AbortSignal.timeout(100),
    });
    await assert.rejects(aborted, /TimeoutError|aborted/);
    assert.equal(fake.jobs.size, 1);
    const found = await get(`${P}/tuningJobs?filter=${encodeURIComponent('labels.run="r-7"')}`);
    assert.equal((field(found, 'tuningJobs') as unknown[]).length, 1);
    assert.equal(fake.requestsTo(`${P}/tuningJobs`, 'POST')[0].status, undefined);
  });

  test('a held answer can be released late', async () => {
    fake.fail({ method: 'GET', path: `${P}/tuningJobs`, hang: true });
    const late = get(`${P}/tuningJobs`);
    const heldRequest = await fake.waitForRequest(`${P}/tuningJobs`, { method: 'GET' });
    assert.equal(heldRequest.status, undefined);
    assert.equal(fake.releaseHeld(), 1);
    assert.equal((await late).status, 200);
    assert.equal(fake.requests[0].status, 200);
  });

  test('waitForRequest resolves on the n-th answered request, and rejects naming what came', async () => {
    const second = fake.waitForRequest(/\/tuningJobs$/, { method: 'GET', count: 2 });
    await get(`${P}/tuningJobs`);
    await get(`${P}/tuningJobs?pageSize=1`);
    await get(`${P}/tuningJobs`);
    const r = await second;
    assert.equal(r.query.get('pageSize'), null);
    assert.equal(r.status, 200);
    await assert.rejects(fake.waitForRequest(/:cancel$/, { timeoutMs: 20 }), /no request to \/:cancel\$\/ within 20 ms; the last ones:\n  GET \/v1\/projects/);
  });

  test('unknown routes answer 404 in Google error shape', async () => {
    const r = await get('/v1/projects/p/locations/l/nothingHere');
    assert.equal(r.status, 404);
    assert.equal(field(r, 'error', 'status'), 'NOT_FOUND');
    assert.equal(field(r, 'error', 'code'), 404);
  });
});

describe('tuningJobs', () => {
  test('create echoes the documented TuningJob; GETs advance PENDING -> RUNNING (steps) -> SUCCEEDED', async () => {
    fake.putObject('bkt', 'train.jsonl', TRAIN);
    const created = await post(`${P}/tuningJobs`, {
      baseModel: 'gemini-2.5-flash',
      tunedModelDisplayName: 'my model',
      supervisedTuningSpec: {
        trainingDatasetUri: 'gs://bkt/train.jsonl',
        hyperParameters: { epochCount: 3, learningRateMultiplier: 0.5, adapterSize: 'ADAPTER_SIZE_FOUR' },
      },
      labels: { app: 'sft-studio', run: 'abc-123' },
    });
    assert.equal(created.status, 200, created.text);
    const job = created.body as Record<string, unknown>;
    assert.match(job.name as string, /^projects\/123456789012\/locations\/us-central1\/tuningJobs\/\d+$/);
    assert.equal(job.state, 'JOB_STATE_PENDING');
    assert.match(job.createTime as string, /^2026-01-02T03:04:\d\d\.\d{3}000Z$/);
    assert.deepEqual(job.supervisedTuningSpec, {
      trainingDatasetUri: 'gs://bkt/train.jsonl',
      hyperParameters: { epochCount: '3', learningRateMultiplier: 0.5, adapterSize: 'ADAPTER_SIZE_FOUR' },
    });
    assert.deepEqual(job.labels, { app: 'sft-studio', run: 'abc-123' });
    assert.equal(job.experiment, undefined);

    const name = job.name as string;
    const states: string[] = [];
    let last: Record<string, unknown> = {};
    for (let i = 0; i < 6; i++) {
      last = (await get(`/v1/${name}`)).body as Record<string, unknown>;
      states.push(`${last.state as string}@${fake.jobs.get(name)?.step ?? -1}`);
    }
    assert.deepEqual(states, [
      'JOB_STATE_PENDING@0', 'JOB_STATE_RUNNING@0', 'JOB_STATE_RUNNING@1', 'JOB_STATE_RUNNING@2', 'JOB_STATE_RUNNING@3', 'JOB_STATE_SUCCEEDED@4',
    ]);
    assert.deepEqual(last.tunedModel, {
      model: `${PARENT}/models/${fake.jobs.get(name)?.modelId}@1`,
      endpoint: `${PARENT}/endpoints/${fake.jobs.get(name)?.endpointId}`,
    });
    assert.ok(last.startTime && last.endTime);
    const stats = (last.tuningDataStats as { supervisedTuningDataStats: Record<string, unknown> }).supervisedTuningDataStats;
    assert.equal(stats.tuningDatasetExampleCount, '3');
    assert.equal(stats.tuningStepCount, '4');
    assert.equal(typeof stats.totalBillableTokenCount, 'string');
    assert.ok(Number(stats.totalBillableTokenCount) > 0);
  });

  test('create validates like the service: unknown field, int64, enum, model, dataset, labels', async () => {
    fake.putObject('bkt', 'train.jsonl', TRAIN);
    const spec = { trainingDatasetUri: 'gs://bkt/train.jsonl' };
    const cases: [unknown, RegExp][] = [
      [{ baseModel: 'gemini-2.5-flash', supervisedTuningSpec: spec, epochs: 3 }, /Unknown name "epochs" at 'tuning_job': Cannot find field/],
      [{ baseModel: 'gemini-2.5-flash', supervisedTuningSpec: { ...spec, hyperParameters: { batchSize: 8 } } }, /Unknown name "batchSize" at 'tuning_job.supervised_tuning_spec.hyper_parameters'/],
      [{ baseModel: 'gemini-2.5-flash', supervisedTuningSpec: { ...spec, hyperParameters: { epochCount: 'three' } } }, /Invalid value at 'tuning_job.supervised_tuning_spec.hyper_parameters.epoch_count' \(TYPE_INT64\), "three"/],
      [{ baseModel: 'gemini-2.5-flash', supervisedTuningSpec: { ...spec, hyperParameters: { epochCount: 2.5 } } }, /TYPE_INT64/],
      [{ baseModel: 'gemini-2.5-flash', supervisedTuningSpec: { ...spec, hyperParameters: { adapterSize: 'ADAPTER_SIZE_THREE' } } }, /AdapterSize\), "ADAPTER_SIZE_THREE"/],
      [{ baseModel: 'gemini-2.5-flash', supervisedTuningSpec: { ...spec, hyperParameters: { learningRateMultiplier: 'fast' } } }, /TYPE_DOUBLE/],
      [{ supervisedTuningSpec: spec }, /Base model is required/],
      [{ baseModel: 'gemini-1.0-pro', supervisedTuningSpec: spec }, /not supported/],
      [{ baseModel: 'gemini-2.5-flash', supervisedTuningSpec: { trainingDatasetUri: '/tmp/train.jsonl' } }, /must be a Cloud Storage URI/],
      [{ baseModel: 'gemini-2.5-flash', supervisedTuningSpec: { trainingDatasetUri: 'gs://bkt/missing.jsonl' } }, /does not exist/],
      [{ baseModel: 'gemini-2.5-flash', supervisedTuningSpec: { ...spec, validationDatasetUri: 'gs://bkt/val.jsonl' } }, /gs:\/\/bkt\/val.jsonl does not exist/],
      [{ baseModel: 'gemini-2.5-flash', supervisedTuningSpec: { ...spec, hyperParameters: { epochCount: 0 } } }, /epoch_count must be positive/],
      [{ baseModel: 'gemini-2.5-flash', supervisedTuningSpec: spec, labels: { Run: 'x' } }, /Label key "Run"/],
      [{ baseModel: 'gemini-2.5-flash', supervisedTuningSpec: spec, labels: { run: 'A.B' } }, /Label value "A.B"/],
      [{ baseModel: 'gemini-2.5-flash', supervisedTuningSpec: spec, labels: { run: 'x'.repeat(65) } }, /longer than 64/],
      [{ baseModel: 'gemini-2.5-flash', supervisedTuningSpec: spec, labels: { '1run': 'x' } }, /must start with a lowercase letter/],
      [{ baseModel: 'gemini-2.5-flash', supervisedTuningSpec: spec, tunedModelDisplayName: 'n'.repeat(129) }, /128 characters/],
    ];
    for (const [body, message] of cases) {
      const r = await post(`${P}/tuningJobs`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(field(r, 'error', 'status'), 'INVALID_ARGUMENT');
      assert.match(field(r, 'error', 'message') as string, message, JSON.stringify(body));
    }
    const notJson = await call('POST', `${P}/tuningJobs`, { raw: '{oops', headers: { 'Content-Type': 'application/json' } });
    assert.equal(notJson.status, 400);
    assert.equal(fake.jobs.size, 0);
    // Numbers for int64 and enum numbers are accepted (proto3 JSON), and echoed in canonical form.
    const ok = await post(`${P}/tuningJobs`, {
      baseModel: 'gemini-2.5-flash',
      supervisedTuningSpec: { ...spec, hyperParameters: { epochCount: 2, adapterSize: 6, learningRateMultiplier: '1.5' } },
      labels: { 'run_id': 'r-1', ключ: 'значение' },
    });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(field(ok, 'supervisedTuningSpec', 'hyperParameters'), { epochCount: '2', adapterSize: 'ADAPTER_SIZE_TWO', learningRateMultiplier: 1.5 });
    // Proto field names in snake_case are accepted too (the docs' curl example sends them); labels keys stay as given.
    const snake = await post(`${P}/tuningJobs`, {
      base_model: 'gemini-2.5-flash',
      supervised_tuning_spec: { training_dataset_uri: 'gs://bkt/train.jsonl', hyper_parameters: { epoch_count: '1' } },
      tuned_model_display_name: 'snake',
      labels: { run_id: 'x' },
    });
    assert.equal(snake.status, 200, snake.text);
    assert.equal(field(snake, 'tunedModelDisplayName'), 'snake');
    assert.deepEqual(field(snake, 'supervisedTuningSpec'), { trainingDatasetUri: 'gs://bkt/train.jsonl', hyperParameters: { epochCount: '1' } });
    assert.deepEqual(field(snake, 'labels'), { run_id: 'x' });
  });

  test('a scripted job ends FAILED with its error after the steps before it', async () => {
    fake.script({ steps: 5, pendingTicks: 0, outcome: { fail: { code: 3, message: 'Dataset example 2 exceeds the token limit.' }, atStep: 2 } }, { once: true });
    const name = await createJob();
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) seen.push(field(await get(`/v1/${name}`), 'state') as string);
    assert.deepEqual(seen, ['JOB_STATE_RUNNING', 'JOB_STATE_RUNNING', 'JOB_STATE_FAILED', 'JOB_STATE_FAILED']);
    const failed = await get(`/v1/${name}`);
    assert.deepEqual(field(failed, 'error'), { code: 3, message: 'Dataset example 2 exceeds the token limit.' });
    assert.equal(field(failed, 'tunedModel'), undefined);
    assert.deepEqual(fake.jobs.get(name)?.metrics.get('/train_total_loss')?.map((p) => p.step), [1, 2]);
    // The once-script is used up: the next job succeeds with the default script.
    const next = await createJob();
    assert.equal(fake.advance(next, 10).state, 'JOB_STATE_SUCCEEDED');
  });

  test('a training file without one usable example fails the job once it runs', async () => {
    fake.putObject('bkt', 'junk.jsonl', 'not json\n{"messages": []}\n');
    const name = await createJob({}, { trainingDatasetUri: 'gs://bkt/junk.jsonl' });
    const job = fake.advance(name, 2);
    assert.equal(job.state, 'JOB_STATE_FAILED');
    assert.deepEqual(job.error, { code: 3, message: 'The training dataset gs://bkt/junk.jsonl has no valid examples.' });
  });

  test('a held job stays RUNNING until the test finishes it', async () => {
    fake.script({ steps: 2, outcome: 'hold' });
    const name = await createJob();
    assert.equal(fake.advance(name, 20).state, 'JOB_STATE_RUNNING');
    assert.equal(fake.jobs.get(name)?.step, 2);
    fake.finish(name, 'succeed');
    assert.equal(field(await get(`/v1/${name}`), 'state'), 'JOB_STATE_SUCCEEDED');
  });

  test('cancel answers {}; the job goes CANCELLING then CANCELLED with error code 1; a finished job cannot be cancelled', async () => {
    const name = await createJob();
    fake.advance(name, 2);
    const r = await call('POST', `/v1/${name}:cancel`, { body: {} });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {});
    assert.equal(field(await get(`/v1/${name}`), 'state'), 'JOB_STATE_CANCELLED');
    assert.equal(fake.jobs.get(name)?.state, 'JOB_STATE_CANCELLED');
    const cancelled = await get(`/v1/${name}`);
    assert.deepEqual(field(cancelled, 'error'), { code: 1, message: 'CANCELLED' });
    assert.ok(field(cancelled, 'endTime'));

    fake.script({ steps: 2, outcome: 'hold' });
    const held = await createJob();
    assert.equal(fake.advance(held).state, 'JOB_STATE_PENDING');
    await call('POST', `/v1/${held}:cancel`, { body: {} });
    assert.equal(fake.jobs.get(held)?.state, 'JOB_STATE_CANCELLING');
    assert.equal(fake.advance(held).state, 'JOB_STATE_CANCELLED');
    const again = await call('POST', `/v1/${held}:cancel`, { body: {} });
    assert.equal(again.status, 400);
    assert.equal(field(again, 'error', 'status'), 'FAILED_PRECONDITION');
    assert.equal((await call('POST', `/v1/${PARENT}/tuningJobs/1:cancel`, { body: {} })).status, 404);
  });

  test('list: newest first, filtered by label (quoted or bare) and state, paged with pageSize/pageToken', async () => {
    const a = await createJob({ labels: { run: 'a', app: 'sft' } });
    const b = await createJob({ labels: { run: 'b', app: 'sft' } });
    const c = await createJob({ labels: { run: 'c' } });
    fake.advance(c, 10);
    const names = async (query: string): Promise<string[]> => {
      const r = await get(`${P}/tuningJobs${query}`);
      assert.equal(r.status, 200, r.text);
      return ((field(r, 'tuningJobs') as { name: string }[] | undefined) ?? []).map((j) => j.name);
    };
    const q = (filter: string): string => `?filter=${encodeURIComponent(filter)}`;
    assert.deepEqual(await names(''), [c, b, a]);
    assert.deepEqual(await names(q('labels.run="b"')), [b]);
    assert.deepEqual(await names(q('labels.run=a')), [a]);
    assert.deepEqual(await names(q('labels.app:*')), [b, a]);
    assert.deepEqual(await names(q('labels.app="sft" AND state="JOB_STATE_PENDING"')), [b, a]);
    assert.deepEqual(await names(q('state=JOB_STATE_SUCCEEDED OR labels.run="a"')), [c, a]);
    assert.deepEqual(await names(q('labels.run="zzz"')), []);
    const bad = await get(`${P}/tuningJobs${q('createTime>"2026-01-01"')}`);
    assert.equal(bad.status, 400);

    const page1 = await get(`${P}/tuningJobs?pageSize=2`);
    assert.deepEqual((field(page1, 'tuningJobs') as { name: string }[]).map((j) => j.name), [c, b]);
    const token = field(page1, 'nextPageToken') as string;
    assert.ok(token);
    const page2 = await get(`${P}/tuningJobs?pageSize=2&pageToken=${encodeURIComponent(token)}`);
    assert.deepEqual((field(page2, 'tuningJobs') as { name: string }[]).map((j) => j.name), [a]);
    assert.equal(field(page2, 'nextPageToken'), undefined);
    assert.equal((await get(`${P}/tuningJobs?pageToken=garbage`)).status, 400);
  });

  test('the request is recorded exactly as sent', async () => {
    await createJob({ labels: { run: 'r' } });
    const [create] = fake.requestsTo(`${P}/tuningJobs`, 'POST');
    assert.equal(create.headers.authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(create.json, {
      baseModel: 'gemini-2.5-flash',
      supervisedTuningSpec: { trainingDatasetUri: 'gs://bkt/train.jsonl', hyperParameters: { epochCount: '2' } },
      labels: { run: 'r' },
    });
  });
});

describe('metrics: experiment context -> TensorBoard run -> time series', () => {
  test('the documented path from job.experiment to loss and accuracy values', async () => {
    fake.putObject('bkt', 'val.jsonl', line('q', 'a') + '\n');
    fake.script({ steps: 3, pendingTicks: 0, evalEvery: 2 });
    const name = await createJob({}, { validationDatasetUri: 'gs://bkt/val.jsonl' });
    const running = await get(`/v1/${name}`); // RUNNING, no step yet
    const experiment = field(running, 'experiment') as string;
    assert.match(experiment, /^projects\/123456789012\/locations\/us-central1\/metadataStores\/default\/contexts\/tuning-experiment-\d{16}$/);
    await get(`/v1/${name}`); // step 1
    await get(`/v1/${name}`); // step 2

    const context = await get(`/v1/${experiment}`);
    assert.equal(field(context, 'schemaTitle'), 'system.Experiment');
    const tensorboard = field(context, 'metadata', 'backing_tensorboard_resource') as string;
    assert.match(tensorboard, /^projects\/123456789012\/locations\/us-central1\/tensorboards\/\d+$/);

    const store = experiment.replace(/\/contexts\/[^/]+$/, '');
    const filter = `schema_title="system.ExperimentRun" AND parent_contexts:"${experiment}"`;
    const runs = await get(`/v1/${store}/contexts?filter=${encodeURIComponent(filter)}`);
    const contexts = field(runs, 'contexts') as { name: string; schemaTitle: string }[];
    assert.equal(contexts.length, 1);
    const experimentId = experiment.split('/').pop() as string;
    const runId = (contexts[0].name.split('/').pop() as string).slice(experimentId.length + 1);

    const list = await get(`/v1/${tensorboard}/experiments/${experimentId}/runs/${runId}/timeSeries`);
    const series = field(list, 'tensorboardTimeSeries') as { name: string; displayName: string; valueType: string }[];
    assert.deepEqual(series.map((s) => s.displayName), [
      '/train_total_loss', '/train_fraction_of_correct_next_step_preds', '/train_num_predictions',
      '/eval_total_loss', '/eval_fraction_of_correct_next_step_preds', '/eval_num_predictions',
    ]);
    assert.ok(series.every((s) => s.valueType === 'SCALAR'));

    const read = async (displayName: string): Promise<{ step: string; wallTime: string; scalar: { value: number } }[]> => {
      const s = series.find((x) => x.displayName === displayName);
      const r = await get(`/v1/${s?.name}:read`);
      assert.equal(r.status, 200, r.text);
      assert.equal(field(r, 'timeSeriesData', 'valueType'), 'SCALAR');
      return (field(r, 'timeSeriesData', 'values') as { step: string; wallTime: string; scalar: { value: number } }[] | undefined) ?? [];
    };
    const loss = await read('/train_total_loss');
    assert.deepEqual(loss.map((p) => p.step), ['1', '2']);
    assert.ok(loss[1].scalar.value < loss[0].scalar.value);
    const accuracy = await read('/train_fraction_of_correct_next_step_preds');
    assert.ok(accuracy[1].scalar.value > accuracy[0].scalar.value && accuracy[1].scalar.value < 1);
    assert.deepEqual((await read('/eval_total_loss')).map((p) => p.step), ['2']);
    await get(`/v1/${name}`); // step 3: SUCCEEDED, and the last step always gets an eval point
    assert.deepEqual((await read('/eval_total_loss')).map((p) => p.step), ['2', '3']);
    assert.match(loss[0].wallTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    const two = series.slice(0, 2).map((s) => `timeSeries=${encodeURIComponent(s.name)}`).join('&');
    const batch = await get(`/v1/${tensorboard}:batchRead?${two}`);
    assert.equal((field(batch, 'timeSeriesData') as unknown[]).length, 2);
    const limited = await get(`/v1/${series[0].name}:read?maxDataPoints=1`);
    assert.deepEqual((field(limited, 'timeSeriesData', 'values') as { step: string }[]).map((p) => p.step), ['3']);
  });

  test('no validation dataset: train series only; unknown run 404', async () => {
    fake.script({ pendingTicks: 0 });
    const name = await createJob();
    const job = fake.advance(name, 2);
    const tb = `${PARENT}/tensorboards/8123456789012345678`;
    const list = await get(`/v1/${tb}/experiments/${job.experimentId}/runs/${job.runId}/timeSeries`);
    assert.equal((field(list, 'tensorboardTimeSeries') as unknown[]).length, 3);
    assert.equal((await get(`/v1/${tb}/experiments/${job.experimentId}/runs/nope/timeSeries`)).status, 404);
  });
});

describe('generateContent', () => {
  const request = {
    systemInstruction: { parts: [{ text: 'Answer briefly.' }] },
    contents: [{ role: 'user', parts: [{ text: 'What is 2+2?' }] }],
    generationConfig: { temperature: 0, maxOutputTokens: 64 },
  };

  test('base model and tuned endpoint answer with the documented response; the responder decides the text', async () => {
    const base = await post(`${P}/publishers/google/models/gemini-2.5-flash:generateContent`, request);
    assert.equal(base.status, 200, base.text);
    assert.deepEqual(field(base, 'candidates'), [
      { content: { role: 'model', parts: [{ text: '[gemini-2.5-flash] What is 2+2?' }] }, finishReason: 'STOP', avgLogprobs: -0.1 },
    ]);
    const usage = field(base, 'usageMetadata') as Record<string, number>;
    assert.equal(usage.totalTokenCount, usage.promptTokenCount + usage.candidatesTokenCount);
    assert.equal(field(base, 'modelVersion'), 'gemini-2.5-flash');

    const name = await createJob();
    const endpoint = (fake.advance(name, 10).tunedModel as { endpoint: string }).endpoint;
    const seen: string[] = [];
    fake.respondWith((model, req) => {
      seen.push(model);
      return req.contents[0].parts[0].text === 'What is 2+2?' ? '4' : 'no idea';
    });
    const tuned = await post(`/v1/${endpoint}:generateContent`, request);
    assert.equal(tuned.status, 200, tuned.text);
    assert.equal(field(tuned, 'candidates', '0', 'content', 'parts', '0', 'text'), '4');
    assert.deepEqual(seen, [endpoint]);
    // The docs' REST example: role in capitals, parts as one object, snake_case generation_config.
    const docsExample = await post(`/v1/${endpoint}:generateContent`, {
      contents: [{ role: 'USER', parts: { text: 'What is 2+2?' } }],
      generation_config: { temperature: 0.2, topP: 0.9, topK: 3, maxOutputTokens: 64 },
    });
    assert.equal(docsExample.status, 200, docsExample.text);
    assert.equal(field(docsExample, 'candidates', '0', 'content', 'parts', '0', 'text'), '4');
  });

  test('unknown endpoint 404, unknown publisher model 404, empty contents 400, bad role 400, unknown field 400', async () => {
    assert.equal((await post(`${P}/endpoints/42:generateContent`, request)).status, 404);
    assert.equal((await post(`${P}/publishers/google/models/text-bison:generateContent`, request)).status, 404);
    const empty = await post(`${P}/publishers/google/models/gemini-2.5-flash:generateContent`, { contents: [] });
    assert.equal(empty.status, 400);
    assert.equal(field(empty, 'error', 'status'), 'INVALID_ARGUMENT');
    const role = await post(`${P}/publishers/google/models/gemini-2.5-flash:generateContent`, { contents: [{ role: 'assistant', parts: [{ text: 'x' }] }] });
    assert.equal(role.status, 400);
    const extra = await post(`${P}/publishers/google/models/gemini-2.5-flash:generateContent`, { ...request, prompt: 'x' });
    assert.match(field(extra, 'error', 'message') as string, /Unknown name "prompt"/);
  });
});

describe("Google's own client libraries against the fake", () => {
  test('@google/genai: tune, get, list by label, cancel and generateContent speak the same paths and bodies', async () => {
    const { GoogleGenAI } = await import('@google/genai');
    const { OAuth2Client } = await import('google-auth-library');
    fake.putObject('bkt', 'train.jsonl', TRAIN);
    const auth = new OAuth2Client();
    auth.setCredentials({ access_token: TOKEN });
    const ai = new GoogleGenAI({
      vertexai: true,
      project: 'my-project',
      location: 'us-central1',
      apiVersion: 'v1',
      googleAuthOptions: { authClient: auth },
      httpOptions: { baseUrl: fake.url },
    });
    const job = await ai.tunings.tune({
      baseModel: 'gemini-2.5-flash',
      trainingDataset: { gcsUri: 'gs://bkt/train.jsonl' },
      config: { epochCount: 2, adapterSize: 'ADAPTER_SIZE_FOUR' as never, learningRateMultiplier: 1, tunedModelDisplayName: 'm', labels: { run: 'r-1' } },
    });
    assert.equal(job.state, 'JOB_STATE_PENDING');
    const [create] = fake.requestsTo(`${P}/tuningJobs`, 'POST');
    assert.deepEqual(create.json, {
      baseModel: 'gemini-2.5-flash',
      supervisedTuningSpec: {
        trainingDatasetUri: 'gs://bkt/train.jsonl',
        hyperParameters: { epochCount: 2, learningRateMultiplier: 1, adapterSize: 'ADAPTER_SIZE_FOUR' },
      },
      tunedModelDisplayName: 'm',
      labels: { run: 'r-1' },
    });
    const name = job.name as string;
    let got = await ai.tunings.get({ name });
    while (got.state !== 'JOB_STATE_SUCCEEDED') got = await ai.tunings.get({ name });
    assert.equal(got.tuningDataStats?.supervisedTuningDataStats?.tuningDatasetExampleCount, '3');
    const listed: string[] = [];
    for await (const j of await ai.tunings.list({ config: { filter: 'labels.run="r-1"' } })) listed.push(j.name as string);
    assert.deepEqual(listed, [name]);
    const answer = await ai.models.generateContent({ model: got.tunedModel?.endpoint as string, contents: 'What is 2+2?' });
    assert.equal(answer.text, '[tuned] What is 2+2?');
    const second = await ai.tunings.tune({ baseModel: 'gemini-2.5-flash', trainingDataset: { gcsUri: 'gs://bkt/train.jsonl' } });
    await ai.tunings.cancel({ name: second.name as string });
    assert.equal((await ai.tunings.get({ name: second.name as string })).state, 'JOB_STATE_CANCELLED');
    await assert.rejects(ai.tunings.get({ name: `${PARENT}/tuningJobs/1` }), /404/);
  });

  test('authorized_user credentials refresh at /token; @google-cloud/storage does a chunked resumable upload', async () => {
    const { Storage } = await import('@google-cloud/storage');
    // The credentials `gcloud auth application-default login` writes (authorized_user), refreshed at the fake's
    // token endpoint. With a custom endpoint the library sends credentials only when told to
    // (useAuthWithCustomEndpoint), and (8.4.0) only on the session-creating call: File#createResumableUpload,
    // not File#save's own initiation.
    const storage = new Storage({
      apiEndpoint: fake.url,
      projectId: 'my-project',
      useAuthWithCustomEndpoint: true,
      credentials: { type: 'authorized_user', client_id: 'id', client_secret: 'secret', refresh_token: 'fake-refresh-token' },
      clientOptions: { endpoints: { oauth2TokenUrl: `${fake.url}/token` } },
    });
    const file = storage.bucket('bkt').file('data/train.jsonl');
    const data = Buffer.alloc(2 * RESUMABLE_CHUNK + 10, 120);
    const [uri] = await file.createResumableUpload({ preconditionOpts: { ifGenerationMatch: 0 } });
    await file.save(data, { resumable: true, uri, chunkSize: RESUMABLE_CHUNK });
    assert.ok(fake.objects.get('bkt/data/train.jsonl')?.equals(data));
    const [meta] = await file.getMetadata();
    assert.equal(meta.size, String(data.length));
    assert.deepEqual(
      fake.requests.map((r) => `${r.method} ${r.path} ${String(r.headers['content-range'] ?? '')} ${r.status ?? ''}`.replace(/\s+/g, ' ').trim()),
      [
        'POST /token 200',
        'POST /upload/storage/v1/b/bkt/o 200',
        'PUT /upload/storage/v1/b/bkt/o bytes */* 308',
        `PUT /upload/storage/v1/b/bkt/o bytes 0-${RESUMABLE_CHUNK - 1}/* 308`,
        `PUT /upload/storage/v1/b/bkt/o bytes ${RESUMABLE_CHUNK}-${2 * RESUMABLE_CHUNK - 1}/* 308`,
        `PUT /upload/storage/v1/b/bkt/o bytes ${2 * RESUMABLE_CHUNK}-${data.length - 1}/${data.length} 200`,
        'GET /storage/v1/b/bkt/o/data%2Ftrain.jsonl 200',
      ],
    );
    await assert.rejects(file.save('again', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } }), /pre-conditions/);
  });
});
