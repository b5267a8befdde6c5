// End to end: a Vertex AI tuning run from the tuning panel in a real VS Code, against the loopback
// server that answers as Google's REST APIs do (test/fakes/googleCloud.ts). Credentials are real
// Application Default Credentials of the gcloud kind (authorized_user), refreshed at the fake's
// token endpoint; every request the extension sends is recorded and checked here.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import type { Frame } from 'playwright-core';
import { startFakeGoogleCloud, type FakeGoogleCloud } from '../fakes/googleCloud';
import { closeAndRemove, findRepoRoot, openFile, pickQuickItem, resultsDir, runCommand, scratchWorkspace, startVSCode, stepsOf, waitForWorkbench, webviewFrame, type VSCodeSession } from './harness';

const repo = findRepoRoot();
const PROJECT = 'e2e-project';
const LOCATION = 'us-central1';
const BUCKET = 'e2e-bucket';

describe('a Vertex AI tuning run in VS Code', () => {
  let vs: VSCodeSession;
  let workspace: string;
  let fake: FakeGoogleCloud;
  let frame: Frame;

  before(async () => {
    // Tokens that live a minute: google-auth-library renews any that expire within five, so each
    // check of the credentials goes to the token endpoint (and a revoked login shows at once).
    fake = await startFakeGoogleCloud({ projects: [PROJECT], buckets: [BUCKET], refreshTokens: ['e2e-refresh-token'], tokenLifetimeSeconds: 60 });
    fake.script({ steps: 6, pendingTicks: 1, stepsPerTick: 1 });
    workspace = scratchWorkspace('vertex');
    cpSync(join(repo, 'samples', 'gemini'), workspace, { recursive: true });
    mkdirSync(join(workspace, '.vscode'), { recursive: true });
    writeFileSync(join(workspace, '.vscode', 'settings.json'), JSON.stringify({
      'sftStudio.vertex.project': PROJECT,
      'sftStudio.vertex.location': LOCATION,
      'sftStudio.vertex.bucket': `gs://${BUCKET}/sft`,
      'sftStudio.vertex.apiEndpoint': fake.url,
      'sftStudio.vertex.storageEndpoint': fake.url,
      'sftStudio.vertex.tokenEndpoint': `${fake.url}/token`,
      'sftStudio.vertex.pollIntervalSeconds': 0.2,
    }));
    // What `gcloud auth application-default login` writes.
    const adc = join(workspace, '..', 'application_default_credentials.json');
    writeFileSync(adc, JSON.stringify({ type: 'authorized_user', client_id: 'e2e-client.apps.googleusercontent.com', client_secret: 'e2e-secret', refresh_token: 'e2e-refresh-token' }));
    vs = await startVSCode({ workspace, extensionPath: repo, env: { GOOGLE_APPLICATION_CREDENTIALS: adc, SFT_STUDIO_ACCESS_TOKEN: '' } });
  });
  after(async () => {
    await closeAndRemove(vs, workspace);
    await fake?.close();
  });

  const step = stepsOf(() => vs, 180_000);

  step('choosing Vertex AI fills the model, project, region and folder from the settings', async () => {
    await openFile(vs.page, 'train.jsonl');
    await runCommand(vs.page, 'SFT Studio: Start Tuning Run');
    frame = await webviewFrame(vs.page, '#start');
    await frame.waitForFunction(() => /samples/.test(document.querySelector('#preflight')?.textContent ?? ''));
    await frame.locator('#field-backend').evaluate((e: HTMLElement & { value: string }) => {
      e.value = 'vertex';
      e.dispatchEvent(new Event('change', { bubbles: true }));
    });
    const value = (id: string) => frame.evaluate((i) => (document.querySelector(`#field-${i}`) as HTMLElement & { value: string }).value, id);
    await frame.waitForFunction(() => (document.querySelector('#field-model') as HTMLElement & { value: string }).value === 'gemini-2.5-flash');
    assert.equal(await value('project'), PROJECT);
    assert.equal(await value('location'), LOCATION);
    assert.equal(await value('bucket'), `gs://${BUCKET}/sft`);
    assert.equal(await frame.locator('[data-field="project"]').isHidden(), false, 'the Vertex fields show');
    assert.equal(await frame.locator('[data-field="batchSize"]').isHidden(), true, 'the local fields hide');
  });

  step('a revoked login: one message with the command that fixes it, and no run folder', async () => {
    fake.tokens.refreshTokens.delete('e2e-refresh-token');
    try {
      await frame.locator('#launch-anyway:not([hidden])').click();
      await frame.waitForFunction(() => (document.querySelector('#notice') as HTMLElement | null)?.dataset.level === 'error');
      assert.match((await frame.locator('#notice').textContent()) ?? '', /gcloud auth application-default login/);
      assert.equal(existsSync(join(workspace, '.sft-studio', 'runs')) ? readdirSync(join(workspace, '.sft-studio', 'runs')).length : 0, 0);
      assert.equal(fake.requestsTo(`/v1/projects/${PROJECT}/locations/${LOCATION}/tuningJobs`, 'POST').length, 0, 'nothing was sent');
    } finally {
      fake.tokens.refreshTokens.add('e2e-refresh-token');
    }
  });

  step('launched, the job is uploaded, created, polled to SUCCEEDED, and its curves are plotted', async () => {
    // The demo dataset has lint errors on purpose: launch anyway.
    await frame.locator('#launch-anyway:not([hidden])').click();
    await frame.waitForFunction(() => (document.querySelector('#status') as HTMLElement | null)?.dataset.status === 'completed', undefined, { timeout: 120_000 });
    assert.match((await frame.locator('#status').textContent()) ?? '', /finished: completed/);
    assert.equal(await frame.evaluate(() => (document.querySelector('#job') as HTMLElement).dataset.state), 'JOB_STATE_SUCCEEDED');
    assert.equal(await frame.evaluate(() => Number((document.querySelector('#chart-loss') as HTMLElement).dataset.points)), 6, 'a train loss point per step');
    assert.ok(Number(await frame.evaluate(() => (document.querySelector('#chart-loss') as HTMLElement).dataset.evalPoints)) >= 1, 'eval loss plotted');
    const facts = Object.fromEntries(await frame.locator('#job-facts dd').evaluateAll((dds) => dds.map((d) => [(d as HTMLElement).dataset.fact, d.textContent])));
    assert.match(facts['Tuned model endpoint'] ?? '', /^projects\/\d+\/locations\/us-central1\/endpoints\/\d+$/);
    assert.match(facts.Examples ?? '', /^\d+$/);
    await vs.page.screenshot({ path: join(resultsDir(), 'vertex-run-finished.png') });

    // What went over the wire: a token from the refresh grant, the data under its content hash, one job.
    assert.ok(fake.requestsTo('/token', 'POST').some((r) => new URLSearchParams(r.body.toString()).get('refresh_token') === 'e2e-refresh-token'), 'the ADC refresh token was exchanged');
    const objects = [...fake.objects.keys()];
    assert.ok(objects.some((k) => new RegExp(`^${BUCKET}/sft/.*[0-9a-f]{64}\\.jsonl$`).test(k)), `uploaded under its hash: ${objects.join(', ')}`);
    const creates = fake.requestsTo(`/v1/projects/${PROJECT}/locations/${LOCATION}/tuningJobs`, 'POST');
    assert.equal(creates.length, 1, 'one job created');
    const body = creates[0]!.json as { baseModel: string; supervisedTuningSpec: { trainingDatasetUri: string; validationDatasetUri?: string }; labels: Record<string, string> };
    assert.equal(body.baseModel, 'gemini-2.5-flash');
    assert.match(body.supervisedTuningSpec.trainingDatasetUri, new RegExp(`^gs://${BUCKET}/sft/`));
    assert.ok(body.supervisedTuningSpec.validationDatasetUri, 'the paired validation.jsonl went along');
    const runs = readdirSync(join(workspace, '.sft-studio', 'runs'));
    assert.equal(runs.length, 1);
    const record = JSON.parse(readFileSync(join(workspace, '.sft-studio', 'runs', runs[0]!, 'run.json'), 'utf8')) as { backend: string };
    assert.equal(record.backend, 'vertex');
    assert.ok(body.labels.sft_studio_run?.startsWith(runs[0]!.slice(0, 15)), `the run id is in the labels: ${JSON.stringify(body.labels)}`);
    assert.match(body.labels.sft_studio_dataset ?? '', /^[0-9a-f]{8,}/, 'the dataset hash is in the labels');
  });

  step('Try it sends one prompt to the base and the tuned model, side by side', async () => {
    await frame.locator('#try-it:not([hidden])').waitFor();
    await frame.locator('#try-prompt').evaluate((e: HTMLElement & { value: string }) => {
      e.value = 'Say <b>hello</b>';
    });
    await frame.locator('#try-send').click();
    await frame.waitForFunction(() => document.querySelector('#try-tuned .try-text') !== null);
    const base = await frame.locator('#try-base .try-text').textContent();
    const tuned = await frame.locator('#try-tuned .try-text').textContent();
    assert.equal(base, '[gemini-2.5-flash] Say <b>hello</b>');
    assert.equal(tuned, '[tuned] Say <b>hello</b>');
    assert.equal(await frame.locator('#try-answers b').count(), 0, 'answers are text, not HTML');
    const calls = fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith(':generateContent')).map((r) => r.path);
    assert.ok(calls.includes(`/v1/projects/${PROJECT}/locations/${LOCATION}/publishers/google/models/gemini-2.5-flash:generateContent`), calls.join(', '));
    assert.ok(calls.some((p) => /\/endpoints\/\d+:generateContent$/.test(p)), calls.join(', '));
  });

  step('Repeat Run sends the same job again, on the data already uploaded (same content, same object)', async () => {
    const creates = () => fake.requestsTo(`/v1/projects/${PROJECT}/locations/${LOCATION}/tuningJobs`, 'POST');
    const uploads = () => fake.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/upload/')).length;
    const uploadsBefore = uploads();
    await runCommand(vs.page, /Focus on Tuning Runs View/);
    const row = vs.page.locator('.monaco-list-row', { hasText: 'gemini-2.5-flash · train.jsonl' }).filter({ hasText: 'completed' }).first();
    await row.hover();
    await row.locator('.action-label[aria-label="Repeat Run"]').click();
    frame = await webviewFrame(vs.page, '#run-title');
    await frame.waitForFunction(() => /repeat of/.test(document.querySelector('#run-title')?.textContent ?? '') && (document.querySelector('#status') as HTMLElement).dataset.status === 'completed', undefined, { timeout: 60_000 });
    const [first, second] = creates().map((r) => r.json as { baseModel: string; supervisedTuningSpec: unknown; labels: Record<string, string> });
    assert.deepEqual(second!.supervisedTuningSpec, first!.supervisedTuningSpec, 'same data URIs and hyper-parameters');
    assert.equal(second!.baseModel, first!.baseModel);
    assert.notEqual(second!.labels.sft_studio_run, first!.labels.sft_studio_run, 'a run label of its own');
    assert.equal(uploads(), uploadsBefore, 'nothing uploaded again');
  });

  step('a window reload re-attaches to a job still running; Cancel asks Vertex AI to cancel it', async () => {
    fake.script({ steps: 50, pendingTicks: 1, stepsPerTick: 1, outcome: 'hold' }, { once: true });
    const runsDir = join(workspace, '.sft-studio', 'runs');
    const before = readdirSync(runsDir);
    await frame.locator('#launch-anyway:not([hidden])').click();
    await frame.waitForFunction(() => (document.querySelector('#job') as HTMLElement | null)?.dataset.state === 'JOB_STATE_RUNNING' && Number((document.querySelector('#chart-loss') as HTMLElement).dataset.points) >= 2, undefined, { timeout: 60_000 });
    const id = readdirSync(runsDir).find((d) => !before.includes(d))!;
    await runCommand(vs.page, 'Developer: Reload Window');
    await waitForWorkbench(vs.page, workspace);
    frame = await webviewFrame(vs.page, '#job[data-state="JOB_STATE_RUNNING"]', 60_000);
    const polls = fake.requests.length;
    await fake.waitForRequest(/\/tuningJobs\/\d+$/, { method: 'GET', count: fake.requestsTo(/\/tuningJobs\/\d+$/, 'GET').length + 2, timeoutMs: 30_000 });
    assert.ok(fake.requests.length > polls, 'the reloaded window polls the job again');
    await frame.locator('#cancel:not([hidden])').click();
    await fake.waitForRequest(/:cancel$/, { method: 'POST', count: 1, timeoutMs: 30_000 });
    await frame.waitForFunction(() => (document.querySelector('#status') as HTMLElement | null)?.dataset.status === 'cancelled', undefined, { timeout: 60_000 });
    assert.equal(await frame.evaluate(() => (document.querySelector('#job') as HTMLElement).dataset.state), 'JOB_STATE_CANCELLED');
    const events = readFileSync(join(runsDir, id, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; status?: string });
    assert.equal(events.filter((e) => e.event === 'started').length, 1, 'the run was re-attached, not started again');
    assert.equal(events[events.length - 1]!.status, 'cancelled');
    assert.equal(fake.requestsTo(`/v1/projects/${PROJECT}/locations/${LOCATION}/tuningJobs`, 'POST').length, 3, 'no job was created twice');
  });

  step('a job started elsewhere is listed, opened as a run with its data, and watched to its end', async () => {
    const train = readFileSync(join(workspace, 'validation.jsonl'));
    fake.putObject(BUCKET, 'colleague/train.jsonl', train);
    fake.script({ steps: 3, pendingTicks: 0 }, { once: true });
    const token = fake.tokens.issue();
    const made = await fetch(`${fake.url}/v1/projects/${PROJECT}/locations/${LOCATION}/tuningJobs`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ baseModel: 'gemini-2.5-flash-lite', tunedModelDisplayName: 'colleague-run', supervisedTuningSpec: { trainingDatasetUri: `gs://${BUCKET}/colleague/train.jsonl`, hyperParameters: { epochCount: '2' } } }),
    });
    assert.equal(made.status, 200);
    const runsDir = join(workspace, '.sft-studio', 'runs');
    const before = readdirSync(runsDir);
    await runCommand(vs.page, 'SFT Studio: Open Vertex AI Tuning Job…');
    await pickQuickItem(vs.page, /colleague-run/);
    frame = await webviewFrame(vs.page, '#job[data-state="JOB_STATE_SUCCEEDED"]', 60_000);
    await frame.waitForFunction(() => (document.querySelector('#status') as HTMLElement | null)?.dataset.status === 'completed', undefined, { timeout: 60_000 });
    assert.equal(await frame.evaluate(() => Number((document.querySelector('#chart-loss') as HTMLElement).dataset.points)), 3);
    const added = readdirSync(runsDir).filter((d) => !before.includes(d));
    assert.equal(added.length, 1);
    assert.deepEqual(readFileSync(join(runsDir, added[0]!, 'data', 'train.jsonl')), train, 'the job\'s data was copied beside the run');
    const config = JSON.parse(readFileSync(join(runsDir, added[0]!, 'config.json'), 'utf8')) as { model: string; epoch_count: number };
    assert.equal(config.model, 'gemini-2.5-flash-lite');
    assert.equal(config.epoch_count, 2);
  });
});
