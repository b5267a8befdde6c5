// End to end: "SFT Studio: Evaluate Base Model" in a real VS Code against the fake Vertex AI
// (loopback HTTP in this process): the base model answers two of four validation samples wrongly,
// and those two are marked inline as hard samples, with the reference and the answer in the hover.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { hardSampleMessage, rankSampleLosses } from '../../src/core/hardSamples';
import { readRunEvents } from '../../src/core/runStore';
import { startFakeGoogleCloud, type FakeGoogleCloud } from '../fakes/googleCloud';
import { Problem, VSCodeSession, closeAndRemove, findRepoRoot, focusEditor, hoverAt, openFile, paletteTitles, parkMouse, pickQuickItem, runCommand, scratchWorkspace, startVSCode, stepsOf, waitForNotification, waitForProblems } from './harness';

const repo = findRepoRoot();
const TOKEN = 'ya29.e2e-evaluate-token';
const XSS = '<img src=x onerror=alert(1)>';
const sample = (q: string, a: string) => JSON.stringify({ contents: [{ role: 'user', parts: [{ text: q }] }, { role: 'model', parts: [{ text: a }] }] });
/** Question, reference, and what the fake model answers. */
const CASES: [string, string, string][] = [
  ['Capital of France?', 'Paris', 'Paris.'],
  ['Capital of Italy?', 'Rome', `Milan ${XSS}`],
  ['Largest planet?', 'Jupiter', 'jupiter'],
  ['中国的首都?', '北京', '上海'],
];
const WRONG_LINES = [2, 4];

describe('Evaluate Base Model in VS Code', () => {
  let vs: VSCodeSession;
  let workspace: string;
  let fake: FakeGoogleCloud;
  const hard = (ps: Problem[]) => ps.filter((p) => p.code === 'hard-sample').sort((a, b) => a.line - b.line);

  before(async () => {
    fake = await startFakeGoogleCloud({ staticTokens: [TOKEN] });
    const answers = new Map(CASES.map(([q, , a]) => [q, a]));
    fake.respondWith((_model, request) => answers.get(request.contents.at(-1)?.parts.map((p) => p.text ?? '').join('') ?? '') ?? 'unexpected');
    workspace = scratchWorkspace('evaluate');
    mkdirSync(join(workspace, 'data'), { recursive: true });
    writeFileSync(join(workspace, 'data', 'train.jsonl'), sample('train q', 'train a') + '\n');
    writeFileSync(join(workspace, 'data', 'validation.jsonl'), CASES.map(([q, r]) => sample(q, r)).join('\n') + '\n');
    vs = await startVSCode({
      workspace, extensionPath: repo,
      settings: { 'sftStudio.vertex.project': 'e2e-project', 'sftStudio.vertex.location': 'us-central1', 'sftStudio.vertex.apiEndpoint': fake.url },
      env: { SFT_STUDIO_ACCESS_TOKEN: TOKEN },
    });
  });
  after(async () => {
    await closeAndRemove(vs, workspace);
    await fake?.close();
  });

  const step = stepsOf(() => vs);

  step('from train.jsonl, the command evaluates its validation file and marks the two wrong answers', async () => {
    await openFile(vs.page, 'data/train.jsonl');
    assert.ok((await paletteTitles(vs.page, 'Evaluate Base Model')).includes('SFT Studio: Evaluate Base Model'), 'offered in a trusted workspace');
    await runCommand(vs.page, 'SFT Studio: Evaluate Base Model');
    await pickQuickItem(vs.page, 'gemini-2.5-flash', undefined, 'another');
    await pickQuickItem(vs.page, 'No judge');
    const note = await waitForNotification(vs.page, /answers wrong/);
    assert.match(note, /gemini-2\.5-flash on validation\.jsonl: 2 of 4 answers wrong \(ROUGE-L < 0\.5\)\. Mean exact match 0\.50, F1 0\.50, ROUGE-L 0\.50\./);
    const sent = fake.requestsTo('/v1/projects/e2e-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent', 'POST');
    assert.equal(sent.length, 4);
    for (const r of sent) assert.equal(r.headers.authorization, `Bearer ${TOKEN}`);

    const runs = join(workspace, '.sft-studio', 'runs');
    const ids = readdirSync(runs);
    assert.equal(ids.length, 1);
    assert.match(ids[0]!, /^\d{8}-\d{6}-gemini-2\.5-flash-eval$/);
    const ranking = rankSampleLosses(readRunEvents(join(runs, ids[0]!)), 'validation');
    await vs.page.locator('.tabs-container .tab.active[data-resource-name="validation.jsonl"]').waitFor();
    const problems = await waitForProblems(vs.page, (ps) => hard(ps).length === WRONG_LINES.length);
    assert.deepEqual(hard(problems).map((p) => [p.file.replace(/\\/g, '/'), p.line, p.severity, p.message]), WRONG_LINES.map((line) => [
      'data/validation.jsonl', line, 'info', hardSampleMessage(ranking.samples.find((s) => s.line === line)!),
    ]));
    assert.equal(hard(problems)[0]!.message, 'wrong answer by the base model: ROUGE-L 0, F1 0, exact match no');
    await focusEditor(vs.page);
    await vs.page.waitForFunction((n) => document.querySelectorAll('.editor-group-container.active .monaco-editor .cgmr').length === n, WRONG_LINES.length);
    await vs.screenshot('evaluate-marked');
  });

  step('the hover shows the reference beside the model\'s answer, as text', async () => {
    await focusEditor(vs.page);
    const text = await hoverAt(vs.page, 2, 3, { contains: 'Reference', keepOpen: true });
    assert.match(text, /Wrong answer by the base model: ROUGE-L 0, F1 0, exact match no/);
    assert.match(text, /Reference \(the last model turn\):\s*Rome/);
    assert.match(text, /Model's answer:\s*Milan /);
    assert.ok(text.includes(`Milan ${XSS}`), text);
    assert.equal(await vs.page.locator('.monaco-hover img').count(), 0, 'no <img> element in the hover');
    await vs.page.keyboard.press('Escape');
    await parkMouse(vs.page);
    // A right answer has no mark, and no hover of its own.
    await focusEditor(vs.page);
    const right = await hoverAt(vs.page, 1, 3);
    assert.ok(!right.includes('Reference'), right);
  });

  step('the evaluation is in the Tuning Runs view; after Clear Hard Sample Marks, clicking it marks the wrong answers again', async () => {
    await runCommand(vs.page, 'SFT Studio: Clear Hard Sample Marks');
    await waitForProblems(vs.page, (ps) => hard(ps).length === 0);
    await runCommand(vs.page, /Focus on Tuning Runs View/);
    const row = vs.page.locator('.monaco-list-row', { hasText: 'evaluated gemini-2.5-flash · validation.jsonl' });
    await row.first().waitFor();
    assert.match((await row.first().textContent()) ?? '', /completed · vertex · 2 of 4 wrong, ROUGE-L 0\.50/);
    await row.first().click();
    const problems = await waitForProblems(vs.page, (ps) => hard(ps).length === WRONG_LINES.length);
    assert.deepEqual(hard(problems).map((p) => p.line), WRONG_LINES);
  });

  step('Cancel in the progress notification stops the evaluation; what came before is kept', async () => {
    const model = '/v1/projects/e2e-project/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent';
    // Every call is taken in and left unanswered, so the evaluation is surely going when Cancel is pressed.
    fake.fail({ path: model, method: 'POST', hang: true, times: 4 });
    await openFile(vs.page, 'data/train.jsonl');
    await runCommand(vs.page, 'SFT Studio: Evaluate Base Model');
    await pickQuickItem(vs.page, 'gemini-2.5-pro', undefined, 'another');
    await pickQuickItem(vs.page, 'No judge');
    await fake.waitForRequest(model, { method: 'POST', count: 4, timeoutMs: 30_000 });
    const toast = vs.page.locator('.notifications-toasts .notification-toast', { hasText: 'Evaluating gemini-2.5-pro on validation.jsonl' }).first();
    await toast.waitFor();
    await toast.getByRole('button', { name: 'Cancel' }).click();
    await waitForNotification(vs.page, /Evaluation of gemini-2\.5-pro on validation\.jsonl cancelled after 0 samples; the results so far are kept in run \d{8}-\d{6}-gemini-2\.5-pro-eval\./);
    const runs = join(workspace, '.sft-studio', 'runs');
    const cancelled = readdirSync(runs).find((id) => id.endsWith('gemini-2.5-pro-eval'))!;
    const events = readRunEvents(join(runs, cancelled));
    assert.deepEqual(events.filter((e) => e.event === 'finished').map((e) => e.event === 'finished' && e.status), ['cancelled']);
    assert.equal(fake.requestsTo(model, 'POST').length, 4, 'no call after the cancel');
  });
});
