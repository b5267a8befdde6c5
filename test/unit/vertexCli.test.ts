/** `sft-studio tune --backend vertex` as a real process against the fake Google Cloud (loopback HTTP). */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { readRunEvents } from '../../src/core/runStore';
import { VertexBackend } from '../../src/backends/vertex';
import { startFakeGoogleCloud, type FakeGoogleCloud } from '../fakes/googleCloud';
import { BIN, cli, vertex } from './helpers';

const tmp = mkdtempSync(path.join(tmpdir(), 'sft-vertex-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const TOKEN = 'cli-static-token';
const P = '/v1/projects/my-project/locations/us-central1';
let fake: FakeGoogleCloud;
let n = 0;
beforeEach(async () => {
  fake = await startFakeGoogleCloud({ staticTokens: [TOKEN] });
});
afterEach(() => fake.close());

/** A clean environment: no credentials of this machine, no metadata server probe. */
function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = path.join(tmp, `home-${++n}`);
  mkdirSync(home, { recursive: true });
  return { PATH: process.env.PATH, HOME: home, CLOUDSDK_CONFIG: path.join(home, 'gcloud'), METADATA_SERVER_DETECTION: 'none', ...extra };
}

function dataset(): { train: string; runs: string } {
  const dir = path.join(tmp, `case-${++n}`);
  mkdirSync(dir, { recursive: true });
  const train = path.join(dir, 'train.jsonl');
  writeFileSync(train, [vertex([['user', 'What is 2+2?'], ['model', 'Four.']]), vertex([['user', 'Capital of France?'], ['model', 'Paris.']])].join('\n') + '\n');
  return { train, runs: path.join(dir, 'runs') };
}

const args = (d: { train: string; runs: string }, more: string[] = []) => [
  'tune', d.train, '--backend', 'vertex', '--project', 'my-project', '--location', 'us-central1', '--bucket', 'gs://bkt/runs', '--model', 'gemini-2.5-flash',
  '--api-endpoint', fake.url, '--storage-endpoint', fake.url, '--poll-interval', '0.01', '--runs-dir', d.runs, ...more,
];

describe('sft-studio tune --backend vertex', { timeout: 60_000 }, () => {
  test('end to end with --access-token: the job is created as asked, followed to the end, the run folder written as a local one', async () => {
    const d = dataset();
    fake.script({ steps: 4, pendingTicks: 1 });
    const r = await cli(args(d, ['--epochs', '2', '--learning-rate-multiplier', '2', '--adapter-size', '8', '--access-token', TOKEN]), { env: env() });
    assert.equal(r.code, 0, r.stderr);
    const [job] = [...fake.jobs.values()];
    const create = fake.requestsTo(`${P}/tuningJobs`, 'POST')[0]!;
    assert.equal(create.headers.authorization, `Bearer ${TOKEN}`);
    assert.deepEqual((create.json as { supervisedTuningSpec: { hyperParameters: unknown } }).supervisedTuningSpec.hyperParameters, { epochCount: 2, learningRateMultiplier: 2, adapterSize: 'ADAPTER_SIZE_EIGHT' });
    const [id] = readdirSync(d.runs);
    const dir = path.join(d.runs, id!);
    assert.match(r.stderr, new RegExp(`^run ${id} in ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.match(r.stderr, /^training on .*train\.jsonl \(2 samples\)$/m);
    assert.match(r.stderr, new RegExp(`^job ${job!.name}: succeeded; 2 examples, \\d+ billable tokens, 4 steps$`, 'm'));
    assert.match(r.stderr, /^step 4\/4: train loss \d\.\d{3}$/m);
    assert.match(r.stderr, new RegExp(`^completed: 4 steps, train loss \\d\\.\\d{3}, tuned model ${job!.tunedModel!.model}, endpoint ${job!.tunedModel!.endpoint}$`, 'm'));
    assert.ok(!r.stderr.includes(TOKEN) && !r.stdout.includes(TOKEN));
    const record = JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')) as { backend: string; origin: string; vertex: { job: string } };
    assert.equal(record.backend, 'vertex');
    assert.equal(record.origin, 'cli');
    assert.equal(record.vertex.job, job!.name);
    for (const f of ['config.json', 'data/train.jsonl', 'events.jsonl', 'summary.json', 'vertex.log']) assert.ok(existsSync(path.join(dir, f)), f);
    const events = readRunEvents(dir);
    assert.equal(events[0]!.event, 'started');
    assert.deepEqual(events.at(-1), { ...events.at(-1)!, event: 'finished', status: 'completed' });
    assert.equal(JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8')).status, 'completed');
  });

  test('Application Default Credentials from the gcloud folder, refreshed at --token-endpoint', async () => {
    const d = dataset();
    fake.script({ steps: 1, pendingTicks: 0 });
    const e = env();
    mkdirSync(e.CLOUDSDK_CONFIG!, { recursive: true });
    writeFileSync(path.join(e.CLOUDSDK_CONFIG!, 'application_default_credentials.json'), JSON.stringify({ type: 'authorized_user', client_id: 'cid', client_secret: 'cs', refresh_token: 'fake-refresh-token' }));
    const r = await cli(args(d, ['--token-endpoint', `${fake.url}/token`]), { env: e });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fake.requestsTo('/token', 'POST').length, 1);
    const issued = fake.tokens.all.find((t) => t.source === 'refresh_token')!.token;
    assert.ok(fake.requestsTo(/^\/v1\//).every((q) => q.headers.authorization === `Bearer ${issued}`));
  });

  test('no credentials at all: one line saying which command fixes it, exit 1, no run folder', async () => {
    const d = dataset();
    const r = await cli(args(d), { env: env() });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'sft-studio: no Google Cloud credentials found: run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or give an access token with --access-token or SFT_STUDIO_ACCESS_TOKEN: `gcloud auth print-access-token`)\n');
    assert.equal(existsSync(d.runs), false);
    assert.equal(fake.requests.length, 0);
  });

  test('an expired access token from SFT_STUDIO_ACCESS_TOKEN: one line, how to get a fresh one', async () => {
    const d = dataset();
    fake.tokens.expire(TOKEN);
    const r = await cli(args(d), { env: env({ SFT_STUDIO_ACCESS_TOKEN: TOKEN }) });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: the access token was rejected \(it lasts about an hour\): get a fresh one with `gcloud auth print-access-token`/m);
    assert.ok(!r.stderr.includes(TOKEN));
  });

  test('bad usage: exit 2 with the reason', async () => {
    const d = dataset();
    const noBucket = await cli(args(d).filter((a, i, all) => a !== 'gs://bkt/runs' && all[i + 1] !== 'gs://bkt/runs'), { env: env({ SFT_STUDIO_ACCESS_TOKEN: TOKEN }) });
    assert.equal(noBucket.code, 2);
    assert.match(noBucket.stderr, /no Cloud Storage bucket/);
    const local = await cli(args(d, ['--learning-rate', '1e-4']), { env: env() });
    assert.equal(local.code, 2);
    assert.match(local.stderr, /--learning-rate is for --backend local only/);
    const adapter = await cli(args(d, ['--adapter-size', '3', '--access-token', TOKEN]), { env: env() });
    assert.equal(adapter.code, 2);
    assert.match(adapter.stderr, /adapter size must be 1, 2, 4, 8, 16 or 32/);
  });

  test('Ctrl-C cancels the job and exits 130 once Vertex AI says CANCELLED', async () => {
    const d = dataset();
    fake.script({ steps: 1000, pendingTicks: 0, outcome: 'hold' });
    const child = spawn(process.execPath, [BIN, ...args(d, ['--access-token', TOKEN])], { env: env() });
    let stderr = '';
    const running = new Promise<void>((resolve) => {
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
        if (/: running/.test(stderr)) resolve();
      });
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await running;
    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    const [job] = [...fake.jobs.values()];
    assert.equal(fake.requestsTo(`/v1/${job!.name}:cancel`, 'POST').length, 1);
    assert.equal(job!.state, 'JOB_STATE_CANCELLED');
    assert.match(stderr, /cancelling the Vertex AI tuning job/);
    assert.match(stderr, /^cancelled: /m);
  });

  test('a run the CLI watches, opened elsewhere (the editor): followed, not polled twice; its Cancel goes to Vertex AI; when the CLI is gone, the watch moves here', async () => {
    const d = dataset();
    fake.script({ steps: 1000, pendingTicks: 0, outcome: 'hold' });
    const spawnCli = (data: { train: string; runs: string }) => {
      const child = spawn(process.execPath, [BIN, ...args(data, ['--access-token', TOKEN])], { env: env() });
      let stderr = '';
      const running = new Promise<void>((resolve) => {
        child.stderr.on('data', (b: Buffer) => {
          stderr += b.toString();
          if (/: running/.test(stderr)) resolve();
        });
      });
      return { child, running, exited: new Promise<number | null>((resolve) => child.on('close', resolve)), stderr: () => stderr };
    };
    const first = spawnCli(d);
    await first.running;
    const [id] = readdirSync(d.runs);
    const dir = path.join(d.runs, id!);
    assert.equal(Number(readFileSync(path.join(dir, 'watcher'), 'utf8')), first.child.pid, 'the CLI holds the watch');
    // Polls here every 10 ms once the watch is taken over (the wait ends early when woken).
    const sleep = (_ms: number, signal?: AbortSignal) => new Promise<void>((r) => {
      const t = setTimeout(r, 10);
      signal?.addEventListener('abort', () => (clearTimeout(t), r()));
    });
    const here = new VertexBackend({ origin: 'extension', settings: () => ({ accessToken: TOKEN }), sleep });
    const followed = here.reattach(dir)!;
    // Kill the CLI without a word (as a closed terminal does): this side takes the watch over.
    first.child.kill('SIGKILL');
    await first.exited;
    const [job] = [...fake.jobs.values()];
    const polls = () => fake.requestsTo(`/v1/${job!.name}`, 'GET').length;
    const before = polls();
    await fake.waitForRequest(`/v1/${job!.name}`, { method: 'GET', count: before + 2, timeoutMs: 10_000 });
    followed.cancel();
    const summary = await followed.done;
    assert.equal(summary.status, 'cancelled');
    assert.equal(fake.requestsTo(`/v1/${job!.name}:cancel`, 'POST').length, 1);
    const events = readRunEvents(dir);
    const keys = events.flatMap((e) => (e.event === 'metrics' ? [`${e.split}:${e.step}`] : []));
    assert.equal(new Set(keys).size, keys.length, `no step twice: ${keys.join(' ')}`);
    assert.equal(events.filter((e) => e.event === 'finished').length, 1);
    assert.equal(existsSync(path.join(dir, 'watcher')), false, 'the watch is released at the end');

    // While a live CLI watches, another opener only follows: no poll of its own, and its Cancel asks Vertex AI.
    const d2 = dataset();
    const second = spawnCli(d2);
    await second.running;
    const [id2] = readdirSync(d2.runs);
    const dir2 = path.join(d2.runs, id2!);
    const watcherOf = Number(readFileSync(path.join(dir2, 'watcher'), 'utf8'));
    assert.equal(watcherOf, second.child.pid);
    const follower = new VertexBackend({ origin: 'extension', settings: () => ({ accessToken: TOKEN }) }).reattach(dir2)!;
    follower.cancel();
    assert.equal(await second.exited, 130, second.stderr());
    assert.equal((await follower.done).status, 'cancelled', 'the follower saw the CLI write the end');
    const events2 = readRunEvents(dir2);
    assert.equal(events2.filter((e) => e.event === 'finished').length, 1, 'one writer');
  });
});
