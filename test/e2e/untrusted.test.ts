// End to end: in an untrusted workspace the linter works, and nothing runs: the tuning panel
// says why and does not start the trainer (nor probe for an interpreter).
import assert from 'node:assert/strict';
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { VSCodeSession, findRepoRoot, openFile, paletteTitles, runCommand, startVSCode, waitForProblems, webviewFrame, closeAndRemove, scratchWorkspace, stepsOf } from './harness';

const repo = findRepoRoot();

describe('an untrusted workspace', () => {
  let vs: VSCodeSession;
  let workspace: string;

  before(async () => {
    workspace = scratchWorkspace('untrusted');
    cpSync(join(repo, 'samples', 'gemini'), workspace, { recursive: true });
    vs = await startVSCode({ workspace, extensionPath: repo, workspaceTrust: 'restricted' });
  });
  after(() => closeAndRemove(vs, workspace));

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
    assert.equal(existsSync(join(workspace, '.sft-studio')), false);
  });

  step('Evaluate Base Model and Open Vertex AI Tuning Job are not offered: they would send the samples, with the credentials, where the workspace\'s settings say', async () => {
    await openFile(vs.page, 'train.jsonl');
    const titles = await paletteTitles(vs.page, 'Evaluate Base Model');
    assert.ok(!titles.includes('SFT Studio: Evaluate Base Model'), titles.join('\n'));
    const vertexTitles = await paletteTitles(vs.page, 'Vertex AI Tuning Job');
    assert.ok(!vertexTitles.includes('SFT Studio: Open Vertex AI Tuning Job…'), vertexTitles.join('\n'));
    // The same search lists a command that is allowed, so the palette did look (the trusted suite, evaluate.test.ts, finds this one).
    assert.ok((await paletteTitles(vs.page, 'Start Tuning Run')).includes('SFT Studio: Start Tuning Run'));
    assert.equal(existsSync(join(workspace, '.sft-studio')), false);
  });
});
