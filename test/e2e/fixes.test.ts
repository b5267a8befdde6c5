// End to end: light-bulb fixes and "Fix all" in a real VS Code.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { Problem, VSCodeSession, applyQuickFix, findRepoRoot, focusEditor, openFile, pickQuickItem, runCommand, startVSCode, waitForProblems, closeAndRemove, scratchWorkspace, stepsOf } from './harness';

const repo = findRepoRoot();
const line = (role: string, text = 'a') => JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'q' }] }, { role, parts: [{ text }] }] });

describe('quick fixes in VS Code', () => {
  let vs: VSCodeSession;
  let workspace: string;
  const file = () => join(workspace, 'data', 'broken.jsonl');

  before(async () => {
    workspace = scratchWorkspace('fixes');
    mkdirSync(join(workspace, 'data'), { recursive: true });
    writeFileSync(file(), [
      line('assistant', 'first'),
      "{'contents': [{'role': 'user', 'parts': [{'text': 'q'}]}, {'role': 'model', 'parts': [{'text': 'second'}]},]}",
      '',
      line('bot', 'third'),
    ].join('\n') + '\n');
    writeFileSync(join(workspace, 'data', 'bom.jsonl'), '\ufeff' + [line('model'), line('model', 'b')].join('\r\n') + '\r\n');
    vs = await startVSCode({ workspace, extensionPath: repo });
  });
  after(() => closeAndRemove(vs, workspace));

  const step = stepsOf(() => vs);
  const mine = (ps: Problem[]) => ps.filter((p) => p.file.endsWith('broken.jsonl'));

  step('a light-bulb fix renames the role and its problem goes', async () => {
    await openFile(vs.page, 'data/broken.jsonl');
    await waitForProblems(vs.page, (ps) => mine(ps).length === 4);
    await focusEditor(vs.page);
    const col = line('assistant').indexOf('"assistant"') + 2;
    await applyQuickFix(vs.page, 1, col, 'Rename role "assistant" to "model"');
    const left = await waitForProblems(vs.page, (ps) => mine(ps).length === 3);
    assert.deepEqual(mine(left).map((p) => p.code).sort(), ['blank-line', 'invalid-json', 'invalid-role']);
  });

  step('"Fix all" repairs the rest, the Problems panel empties and the text is right', async () => {
    await focusEditor(vs.page);
    await runCommand(vs.page, 'SFT Studio: Fix All Safe Problems in This Dataset');
    await waitForProblems(vs.page, (ps) => mine(ps).length === 0);
    await runCommand(vs.page, 'File: Save');
    await vs.page.waitForFunction(() => !document.querySelector('.tabs-container .tab.active.dirty'));
    assert.equal(readFileSync(file(), 'utf8'), [
      line('model', 'first'),
      '{"contents": [{"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": [{"text": "second"}]}]}',
      line('model', 'third'),
    ].join('\n') + '\n');
  });

  step('"Convert Dataset To…" writes a converted copy beside the dataset', async () => {
    await focusEditor(vs.page);
    await runCommand(vs.page, 'SFT Studio: Convert Dataset To…');
    await pickQuickItem(vs.page, 'Prompt/completion');
    await vs.page.locator('.tabs-container .tab.active[data-resource-name="broken.prompt-completion.jsonl"]').waitFor();
    assert.equal(readFileSync(join(workspace, 'data', 'broken.prompt-completion.jsonl'), 'utf8'), [
      '{"prompt":"q","completion":"first"}',
      '{"prompt": "q", "completion": "second"}',
      '{"prompt":"q","completion":"third"}',
      '',
    ].join('\n'));
    assert.equal(readFileSync(file(), 'utf8').split('\n').length, 4, 'the source is untouched');
  });

  step('BOM and CRLF fixes rewrite the bytes on disk', async () => {
    const bom = join(workspace, 'data', 'bom.jsonl');
    await openFile(vs.page, 'data/bom.jsonl');
    const ps = await waitForProblems(vs.page, (all) => all.filter((p) => p.file.endsWith('bom.jsonl')).length === 2);
    assert.deepEqual(ps.filter((p) => p.file.endsWith('bom.jsonl')).map((p) => p.code).sort(), ['bom', 'crlf']);
    await focusEditor(vs.page);
    await applyQuickFix(vs.page, 1, 1, 'Save the file without the byte-order mark');
    await waitForProblems(vs.page, (all) => all.filter((p) => p.file.endsWith('bom.jsonl')).map((p) => p.code).join() === 'crlf');
    await focusEditor(vs.page);
    const crlfAt = line('model').length;
    await applyQuickFix(vs.page, 1, crlfAt, 'Use LF line endings for this file');
    await waitForProblems(vs.page, (all) => !all.some((p) => p.file.endsWith('bom.jsonl')));
    await runCommand(vs.page, 'File: Save');
    await vs.page.waitForFunction(() => !document.querySelector('.tabs-container .tab.active.dirty'));
    assert.equal(readFileSync(bom, 'utf8'), [line('model'), line('model', 'b')].join('\n') + '\n');
  });
});
