// End to end: Start Tuning Run in a real VS Code, on the demo dataset, with the local trainer
// (Debian's torch under /usr/bin/python3, or SFT_STUDIO_TEST_PYTHON) and builtin:tiny.
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import type { Frame } from 'playwright-core';
import { VSCodeSession, findRepoRoot, openFile, pickQuickItem, resultsDir, runCommand, startVSCode, statusBarItem, waitForWorkbench, webviewFrame, closeAndRemove, scratchWorkspace, stepsOf } from './harness';

const repo = findRepoRoot();
const PYTHON = process.env.SFT_STUDIO_TEST_PYTHON ?? '/usr/bin/python3';
const XSS = '<img src=x onerror=alert(1)>';

describe('Start Tuning Run in VS Code', () => {
  let vs: VSCodeSession;
  let workspace: string;
  let frame: Frame;

  before(async () => {
    workspace = scratchWorkspace('tuning');
    cpSync(join(repo, 'samples', 'gemini'), workspace, { recursive: true });
    // Dataset text that looks like HTML must show as text, wherever it is shown.
    appendFileSync(join(workspace, 'train.jsonl'), JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'Show me an image tag' }] }, { role: 'model', parts: [{ text: XSS }] }] }) + '\n');
    // The interpreter is a machine-overridable setting: code-server, being a remote window,
    // ignores it in User settings, so the workspace names it (as a project can).
    mkdirSync(join(workspace, '.vscode'), { recursive: true });
    writeFileSync(join(workspace, '.vscode', 'settings.json'), JSON.stringify({ 'sftStudio.python.interpreter': PYTHON }));
    vs = await startVSCode({ workspace, extensionPath: repo });
  });
  after(() => closeAndRemove(vs, workspace));

  const step = stepsOf(() => vs, 300_000);

  step('the panel opens beside the dataset with Local and builtin:tiny chosen, and the preflight speaks', async () => {
    await openFile(vs.page, 'train.jsonl');
    await runCommand(vs.page, 'SFT Studio: Start Tuning Run');
    frame = await webviewFrame(vs.page, '#start');
    await frame.waitForFunction(() => (document.querySelector('#field-model') as HTMLElement & { value: string } | null)?.value === 'builtin:tiny');
    assert.equal(await frame.evaluate(() => (document.querySelector('#field-backend') as HTMLElement & { value: string }).value), 'local');
    await frame.waitForFunction(() => /samples/.test(document.querySelector('#preflight')?.textContent ?? ''));
    // The demo dataset has lint errors on purpose: they block, and "Launch anyway" is offered.
    const text = await frame.locator('#preflight').textContent();
    assert.match(text ?? '', /\d+ lint errors?/);
    await frame.locator('#launch-anyway:not([hidden])').waitFor();
    // A field typed wrong says so at once, and Start stays off until it is right.
    const epochs = frame.locator('#field-epochs');
    await epochs.evaluate((e: HTMLElement & { value: string }) => {
      e.value = '0';
      e.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await frame.waitForFunction(() => /more than 0/.test(document.querySelector('#helper-epochs')?.textContent ?? ''));
    await epochs.evaluate((e: HTMLElement & { value: string }) => {
      e.value = '10';
      e.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await frame.waitForFunction(() => (document.querySelector('#helper-epochs')?.textContent ?? '') === '');
  });

  step('launched, the loss curve grows live and the run reaches "finished"', async () => {
    await frame.locator('#launch-anyway').click();
    await frame.waitForFunction(() => Number((document.querySelector('#chart-loss') as HTMLElement | null)?.dataset.points ?? 0) >= 5, undefined, { timeout: 120_000 });
    const early = await frame.evaluate(() => Number((document.querySelector('#chart-loss') as HTMLElement).dataset.points));
    await frame.waitForFunction(() => (document.querySelector('#status') as HTMLElement | null)?.dataset.status === 'completed', undefined, { timeout: 240_000 });
    const final = await frame.evaluate(() => Number((document.querySelector('#chart-loss') as HTMLElement).dataset.points));
    assert.ok(final > early, `the curve grew: ${early} → ${final} points`);
    assert.match((await frame.locator('#status').textContent()) ?? '', /finished: completed/);
    assert.ok(Number(await frame.evaluate(() => (document.querySelector('#chart-loss') as HTMLElement).dataset.evalPoints)) >= 2, 'eval loss plotted');
    await vs.page.screenshot({ path: join(resultsDir(), 'tuning-panel-finished.png') });
    const runs = readdirSync(join(workspace, '.sft-studio', 'runs'));
    assert.equal(runs.length, 1);
  });

  step('hard samples are listed; a click reveals the line; HTML in the data stays text', async () => {
    await frame.locator('.hard-sample').first().waitFor();
    const preview = frame.locator('.hard-preview', { hasText: XSS });
    assert.equal(await preview.count(), 1, 'the sample with HTML-like text is listed with its text');
    assert.equal(await frame.locator('#hard img').count(), 0, 'no element was made from dataset text');
    const target = frame.locator('.hard-sample').nth(2);
    const line = Number(await target.getAttribute('data-line'));
    await target.click();
    await vs.page.waitForFunction((l) => Array.from(document.querySelectorAll('.statusbar-item')).some((e) => new RegExp(`Ln ${l},`).test(e.textContent ?? '')), line);
    assert.match((await statusBarItem(vs.page, /Ln \d+, Col \d+/)) ?? '', new RegExp(`Ln ${line},`));
  });

  step('the run is in the Tuning Runs view', async () => {
    await runCommand(vs.page, /Focus on Tuning Runs View/);
    const row = vs.page.locator('.monaco-list-row', { hasText: 'builtin:tiny · train.jsonl' });
    await row.first().waitFor();
    assert.match((await row.first().textContent()) ?? '', /completed · local · best eval \d+\.\d{3}/);
  });

  step('a window reload keeps the panel, which re-attaches to the run still going', async () => {
    frame = await webviewFrame(vs.page, '#launch-anyway');
    // A longer run, so it is surely still going when the window reloads.
    await frame.locator('#field-epochs').evaluate((e: HTMLElement & { value: string }) => {
      e.value = '40';
      e.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await frame.waitForFunction(() => /~80 steps/.test(document.querySelector('#preflight')?.textContent ?? ''));
    await frame.locator('#launch-anyway').click();
    await frame.waitForFunction(() => (document.querySelector('#status') as HTMLElement | null)?.dataset.status === 'running' && Number((document.querySelector('#chart-loss') as HTMLElement).dataset.points) >= 3, undefined, { timeout: 120_000 });
    const runsDir = join(workspace, '.sft-studio', 'runs');
    const running = readdirSync(runsDir).sort().pop()!;
    await runCommand(vs.page, 'Developer: Reload Window');
    await waitForWorkbench(vs.page, workspace);
    frame = await webviewFrame(vs.page, '#status[data-status]', 60_000);
    await frame.waitForFunction(() => (document.querySelector('#status') as HTMLElement | null)?.dataset.status === 'completed', undefined, { timeout: 240_000 });
    const events = readFileSync(join(runsDir, running, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; status?: string });
    assert.equal(events.filter((e) => e.event === 'started').length, 1, 'the same trainer went on: it did not start again');
    assert.equal(events[events.length - 1]!.status, 'completed');
    assert.equal(await frame.evaluate(() => (document.querySelector('#chart-loss') as HTMLElement).dataset.points), String(events.filter((e) => e.event === 'metrics' && (e as { split?: string }).split === 'train').length));
  });

  step('two runs selected in the Runs view overlay their curves in the panel', async () => {
    await runCommand(vs.page, /Focus on Tuning Runs View/);
    const rows = vs.page.locator('.monaco-list-row', { hasText: 'builtin:tiny · train.jsonl' });
    await vs.page.waitForFunction(() => document.querySelectorAll('.monaco-list-row').length >= 2);
    await rows.nth(0).click();
    await rows.nth(1).click({ modifiers: ['Control'] });
    await runCommand(vs.page, 'SFT Studio: Compare Selected Runs');
    frame = await webviewFrame(vs.page, '#compare:not([hidden])');
    const points = await frame.evaluate(() => Number((document.querySelector('#chart-compare') as HTMLElement).dataset.points));
    assert.ok(points > 0, 'the first run\'s train curve is drawn');
    const legend = await frame.locator('#chart-compare .u-legend').textContent();
    assert.equal((legend?.match(/train/g) ?? []).length, 2, `two runs in the legend: ${legend}`);
  });

  step('Find Hard Samples scores the dataset with the model a run tuned, and lists its hardest lines', async () => {
    await openFile(vs.page, 'train.jsonl');
    await runCommand(vs.page, 'SFT Studio: Find Hard Samples');
    await pickQuickItem(vs.page, /The model tuned in/);
    frame = await webviewFrame(vs.page, '#run-title');
    await frame.waitForFunction(() => /hard samples of train\.jsonl/.test(document.querySelector('#run-title')?.textContent ?? '') && (document.querySelector('#status') as HTMLElement).dataset.status === 'completed', undefined, { timeout: 120_000 });
    await frame.locator('.hard-sample').first().waitFor();
    const losses = await frame.locator('.hard-where').allTextContents();
    const values = losses.map((t) => Number(/loss (\d+\.\d+)/.exec(t)?.[1]));
    assert.ok(values.length >= 10 && values.every((v, i) => i === 0 || v <= values[i - 1]!), `highest loss first: ${values.join(', ')}`);
    await vs.page.screenshot({ path: join(resultsDir(), 'tuning-panel-hard-samples.png') });
  });

  step('Repeat Run in the Runs view runs the same config again on the same data', async () => {
    const runsDir = join(workspace, '.sft-studio', 'runs');
    const before = readdirSync(runsDir).sort();
    await runCommand(vs.page, /Focus on Tuning Runs View/);
    const row = vs.page.locator('.monaco-list-row', { hasText: 'builtin:tiny · train.jsonl' }).filter({ hasText: 'completed' }).first();
    await row.hover();
    await row.locator('.action-label[aria-label="Repeat Run"]').click();
    frame = await webviewFrame(vs.page, '#run-title');
    await frame.waitForFunction(() => /repeat of/.test(document.querySelector('#run-title')?.textContent ?? '') && (document.querySelector('#status') as HTMLElement).dataset.status === 'completed', undefined, { timeout: 240_000 });
    const added = readdirSync(runsDir).sort().filter((d) => !before.includes(d));
    assert.equal(added.length, 1);
    const repeated = JSON.parse(readFileSync(join(runsDir, added[0]!, 'config.json'), 'utf8')) as Record<string, unknown>;
    const sourceId = /repeat of (\S+)\)/.exec((await frame.locator('#run-title').textContent()) ?? '')![1]!;
    const source = JSON.parse(readFileSync(join(runsDir, sourceId, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(repeated, source);
  });

  step('the panel follows a high-contrast theme and works from the keyboard', async () => {
    writeFileSync(join(workspace, '.vscode', 'settings.json'), JSON.stringify({ 'sftStudio.python.interpreter': PYTHON, 'workbench.colorTheme': 'Default High Contrast' }));
    frame = await webviewFrame(vs.page, '.hard-sample');
    await frame.waitForFunction(() => document.body.classList.contains('vscode-high-contrast'));
    const border = await frame.evaluate(() => getComputedStyle(document.querySelector('.hard-sample')!).borderTopStyle);
    assert.equal(border, 'solid', 'hard samples are outlined in high contrast');
    await vs.page.screenshot({ path: join(resultsDir(), 'tuning-panel-high-contrast.png') });
    // Keyboard: focus a hard sample and press Enter: its line is revealed.
    const target = frame.locator('.hard-sample').nth(1);
    const line = Number(await target.getAttribute('data-line'));
    await target.focus();
    await vs.page.keyboard.press('Enter');
    await vs.page.waitForFunction((l) => Array.from(document.querySelectorAll('.statusbar-item')).some((e) => new RegExp(`Ln ${l},`).test(e.textContent ?? '')), line);
  });
});
