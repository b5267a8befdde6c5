// End to end in a real VS Code (code-server + Chromium): the language service on the sample
// workspace. One code-server serves every test of this file.
import assert from 'node:assert/strict';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { VSCodeSession, clickStatusBarItem, findRepoRoot, pickQuickItem, focusEditor, goToPosition, hoverAt, openFile, startVSCode, waitForProblems, waitForStatusBar, closeAndRemove, scratchWorkspace, stepsOf } from './harness';

const repo = findRepoRoot();

describe('language service in VS Code', () => {
  let vs: VSCodeSession;
  let workspace: string;

  before(async () => {
    workspace = scratchWorkspace('samples');
    cpSync(join(repo, 'samples'), workspace, { recursive: true });
    vs = await startVSCode({
      workspace,
      extensionPath: repo,
      settings: { 'sftStudio.rules': { 'inconsistent-system-instruction': 'warning' } },
    });
  });
  after(() => closeAndRemove(vs, workspace));

  const step = stepsOf(() => vs);

  step('the Problems panel lists each problem at its key or value, with its code', async () => {
    await openFile(vs.page, 'gemini/train.jsonl');
    const problems = await waitForProblems(vs.page, (ps) => ps.filter((p) => p.file.endsWith('train.jsonl')).length >= 12);
    const mine = problems
      .filter((p) => p.file.endsWith('train.jsonl'))
      .map((p) => `${p.line}:${p.column} ${p.severity} ${p.code ?? '?'}`)
      .sort();
    assert.deepEqual(mine, [
      '10:43 warning inconsistent-system-instruction', // raised from information by the user setting
      '13:166 error role-order',
      '2:248 error invalid-role',
      '4:175 error invalid-json',
      '5:24 error system-turn',
      '6:266 error empty-turn',
      '7:1 warning blank-line',
      '8:229 error role-order',
      '9:2 warning mixed-format',
      '3:144 warning duplicate',
      '15:144 warning duplicate',
      '16:144 warning leakage', // a near copy of validation.jsonl's first sample
    ].sort());
    const leak = problems.find((p) => p.code === 'leakage');
    assert.deepEqual(leak?.related?.map((r) => r.replace(/\s+/g, ' ')), ['validation.jsonl[Ln 1, Col 1]: near copy in the other split (similarity 0.91)']);
    const role = problems.find((p) => p.code === 'invalid-role');
    assert.equal(role?.message, '"assistant" is not a Vertex AI Gemini role: use "model" ("assistant" is OpenAI chat\'s)');
    assert.equal(role?.source, 'sft-studio');
  });

  step('the status bar shows the format, the sample count and the error count', async () => {
    const entry = await waitForStatusBar(vs.page, (e) => e.text.includes('Vertex AI Gemini'));
    assert.equal(entry.text, 'Vertex AI Gemini · 15 samples · 6 errors');
  });

  step('a hover on a sample shows its summary and its problems', async () => {
    const text = await hoverAt(vs.page, 2, 5, { contains: 'Sample 2' });
    assert.match(text, /Sample 2 · Vertex AI Gemini/);
    assert.match(text, /3 turns · \d+ characters · ~\d+ tokens \(estimated; limit 131,072 for gemini-2\.5-flash\)/);
    assert.match(text, /error invalid-role: "assistant" is not a Vertex AI Gemini role/);
  });

  step('fixing a role as you type clears its problem and updates the counts', async () => {
    await focusEditor(vs.page);
    await goToPosition(vs.page, 2, 250); // inside "assistant"
    await vs.page.keyboard.press('Control+D'); // select the word under the cursor
    await vs.page.keyboard.type('model');
    await waitForProblems(vs.page, (ps) => !ps.some((p) => p.code === 'invalid-role'));
    const entry = await waitForStatusBar(vs.page, (e) => e.text.includes('Vertex AI Gemini') && e.text.endsWith('5 errors'));
    assert.equal(entry.text, 'Vertex AI Gemini · 15 samples · 5 errors');
  });

  step('each file gets its own format: OpenAI chat', async () => {
    await openFile(vs.page, 'openai/chat.jsonl');
    const problems = await waitForProblems(vs.page, (ps) => ps.some((p) => p.file.endsWith('chat.jsonl')));
    const mine = problems.filter((p) => p.file.endsWith('chat.jsonl')).map((p) => `${p.line}:${p.column} ${p.code ?? '?'}`).sort();
    assert.deepEqual(mine, ['2:147 invalid-role', '3:72 system-turn', '4:187 empty-turn']);
    const entry = await waitForStatusBar(vs.page, (e) => e.text.includes('OpenAI chat'));
    assert.equal(entry.text, 'OpenAI chat · 5 samples · 3 errors');
  });

  step('a target chosen from the status bar: its rules appear in the Problems panel, and the choice is remembered', async () => {
    // openai/chat.jsonl is open from the previous step; it has 5 samples and no target yet.
    await waitForStatusBar(vs.page, (e) => e.text === 'No target');
    await clickStatusBarItem(vs.page, 'No target');
    await pickQuickItem(vs.page, 'OpenAI gpt-4.1-mini');
    const problems = await waitForProblems(vs.page, (ps) => ps.some((p) => p.code === 'too-few-examples'));
    const few = problems.find((p) => p.code === 'too-few-examples');
    assert.deepEqual([few?.file.endsWith('chat.jsonl'), few?.line, few?.severity], [true, 1, 'error']);
    assert.equal(few?.message, '5 samples, fewer than the 10 OpenAI gpt-4.1-mini needs: it rejects the file ("Training file has 5 example(s), but must have at least 10 examples")');
    await waitForStatusBar(vs.page, (e) => e.text === 'OpenAI gpt-4.1-mini');
    const settings = JSON.parse(readFileSync(join(workspace, '.vscode', 'settings.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(settings['sftStudio.targets'], { 'openai/chat.jsonl': 'openai:gpt-4.1-mini' });
  });
});
