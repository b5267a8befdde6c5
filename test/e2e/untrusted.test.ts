// End to end: in an untrusted workspace the linter works, and nothing runs: the tuning panel
// says why and does not start the trainer (nor probe for an interpreter).
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { startFakeGoogleCloud, type FakeGoogleCloud } from '../fakes/googleCloud';
import { VSCodeSession, findRepoRoot, openFile, paletteTitles, runCommand, startVSCode, waitForProblems, webviewFrame, closeAndRemove, scratchWorkspace, stepsOf } from './harness';

const repo = findRepoRoot();

describe('an untrusted workspace', () => {
  let vs: VSCodeSession;
  let workspace: string;
  let fake: FakeGoogleCloud;
  const runsDir = () => join(workspace, '.sft-studio', 'runs');

  before(async () => {
    workspace = scratchWorkspace('untrusted');
    cpSync(join(repo, 'samples', 'gemini'), workspace, { recursive: true });
    // A run folder that came with the workspace, "still running", naming endpoints to send credentials to.
    fake = await startFakeGoogleCloud({ refreshTokens: ['untrusted-refresh'] });
    const crafted = join(runsDir(), 'crafted');
    mkdirSync(crafted, { recursive: true });
    writeFileSync(join(crafted, 'run.json'), JSON.stringify({
      id: 'crafted', created: '2026-11-23T00:00:00.000Z', backend: 'vertex', origin: 'extension', mode: 'train', model: 'gemini-2.5-flash',
      vertex: { project: 'p', location: 'us-central1', bucket: 'gs://b12', api_endpoint: fake.url, storage_endpoint: fake.url, token_endpoint: `${fake.url}/token`, poll_interval_seconds: 1, tuned_model_display_name: 'x', hyper_parameters: { epoch_count: null, learning_rate_multiplier: null, adapter_size: null }, labels: {}, job: 'projects/p/locations/us-central1/tuningJobs/1' },
      dataset: { train: { path: join(workspace, 'train.jsonl'), sha256: '0'.repeat(64), bytes: 1, samples: 1, formats: [], converted: false, lossy: [], upload_sha256: '', upload_bytes: 0 } },
    }));
    writeFileSync(join(crafted, 'events.jsonl'), JSON.stringify({ event: 'started', time: '2026-11-23T00:00:00Z', config: {}, device: 'Vertex AI', model: 'gemini-2.5-flash', total_steps: 0 }) + '\n');
    const adc = join(workspace, '..', 'adc.json');
    writeFileSync(adc, JSON.stringify({ type: 'authorized_user', client_id: 'c', client_secret: 's', refresh_token: 'untrusted-refresh' }));
    vs = await startVSCode({ workspace, extensionPath: repo, workspaceTrust: 'restricted', env: { GOOGLE_APPLICATION_CREDENTIALS: adc, SFT_STUDIO_ACCESS_TOKEN: 'a-token-that-must-not-leave' } });
  });
  after(async () => {
    await closeAndRemove(vs, workspace);
    await fake?.close();
  });

  const step = stepsOf(() => vs);

  step('the dataset is still linted, the tuning panel says why it cannot start, and no run is made', async () => {
    await openFile(vs.page, 'train.jsonl');
    await waitForProblems(vs.page, (ps) => ps.some((p) => p.file.endsWith('train.jsonl')));
    await runCommand(vs.page, 'SFT Studio: Start Tuning Run');
    const frame = await webviewFrame(vs.page, '#untrusted');
    await frame.locator('#untrusted:not([hidden])').waitFor();
    assert.match((await frame.locator('#untrusted').textContent()) ?? '', /not trusted/);
    assert.match((await frame.locator('#interpreter').textContent()) ?? '', /python3 \(default\)/, 'no interpreter was probed');
    await frame.waitForFunction(() => /samples/.test(document.querySelector('#preflight')?.textContent ?? ''));
    assert.equal(await frame.evaluate(() => (document.querySelector('#start') as HTMLElement & { disabled: boolean }).disabled), true);
    assert.equal(await frame.locator('#launch-anyway').isHidden(), true);
    assert.deepEqual(readdirSync(runsDir()), ['crafted'], 'no run was made');
  });

  step('a run folder that came with the workspace is shown, never watched: nothing goes to the endpoints it names', async () => {
    await runCommand(vs.page, /Focus on Tuning Runs View/);
    const row = vs.page.locator('.monaco-list-row', { hasText: 'gemini-2.5-flash · train.jsonl' });
    await row.first().waitFor();
    await row.first().click();
    const frame = await webviewFrame(vs.page, '#status[data-status]');
    assert.equal(await frame.evaluate(() => (document.querySelector('#status') as HTMLElement).dataset.status), 'running', 'its events as kept');
    assert.deepEqual(fake.requests.map((r) => `${r.method} ${r.path}`), [], 'no request to the endpoints of the run folder');
  });

  step('Evaluate Base Model and Open Vertex AI Tuning Job are not offered: they would send the samples, with the credentials, where the workspace\'s settings say', async () => {
    await openFile(vs.page, 'train.jsonl');
    const titles = await paletteTitles(vs.page, 'Evaluate Base Model');
    assert.ok(!titles.includes('SFT Studio: Evaluate Base Model'), titles.join('\n'));
    const vertexTitles = await paletteTitles(vs.page, 'Vertex AI Tuning Job');
    assert.ok(!vertexTitles.includes('SFT Studio: Open Vertex AI Tuning Job…'), vertexTitles.join('\n'));
    // The same search lists a command that is allowed, so the palette did look (the trusted suite, evaluate.test.ts, finds this one).
    assert.ok((await paletteTitles(vs.page, 'Start Tuning Run')).includes('SFT Studio: Start Tuning Run'));
    assert.deepEqual(readdirSync(runsDir()), ['crafted'], 'no run was made');
  });
});
