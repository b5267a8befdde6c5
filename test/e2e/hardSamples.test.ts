// End to end: hard samples marked inline after a real tiny local run (the CLI's `tune` with
// builtin:tiny on /usr/bin/python3), in a real VS Code. One run and one code-server for the file.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { readRunEvents } from '../../src/core/runStore';
import { formatLoss, hardSampleMessage, hardSamples, rankSampleLosses, type RankedSample, type SampleRanking } from '../../src/core/hardSamples';
import { Problem, VSCodeSession, findRepoRoot, focusEditor, goToPosition, hoverAt, parkMouse, pickQuickItem, runCommand, startVSCode, waitForNotification, waitForProblems, closeAndRemove, scratchWorkspace, stepsOf } from './harness';

const repo = findRepoRoot();
const XSS = '<img src=x onerror=alert(1)>';
const sample = (turns: [string, string][]) => JSON.stringify({ contents: turns.map(([role, text]) => ({ role, parts: [{ text }] })) });

const TOPICS = ['rivers', 'volcanoes', 'bread', 'chess', 'tides', 'bees', 'glass', 'comets', 'maple syrup', 'bridges', 'owls', 'paper', 'coral', 'magnets', 'tea', 'deserts', 'clocks', 'salt'];
const DATASET = [
  ...TOPICS.map((t, i) => sample([['user', `Tell me one fact about ${t}.`], ['model', `Here is a fact about ${t}: it is number ${i + 1} on my list of favourite topics.`]])),
  // Two model turns, so the hover has a loss for each.
  sample([['user', 'Count to three.'], ['model', 'One, two, three.'], ['user', 'Now backwards, in French.'], ['model', 'Trois, deux, un. Zéro! Qx7#vv@@ kk9%% zz.']]),
  sample([['user', 'Show me an image tag.'], ['model', `${XSS} is what an attacker would write.`]]),
];
const MULTI_TURN_LINE = TOPICS.length + 1;
const XSS_LINE = TOPICS.length + 2;

/** Runs `sft-studio tune` to its end; resolves with the run folder. */
function tinyRun(workspace: string): Promise<string> {
  const runs = join(workspace, '.sft-studio', 'runs');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repo, 'dist', 'cli.js'), 'tune', 'data/train.jsonl', '--model', 'builtin:tiny', '--python', '/usr/bin/python3', '--max-steps', '6', '--runs-dir', runs], {
      cwd: workspace, env: { ...process.env, SFT_STUDIO_TRAINER_DIR: join(repo, 'trainer') }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`sft-studio tune exited with ${code}:\n${output}`));
      const ids = readdirSync(runs);
      if (ids.length !== 1) return reject(new Error(`expected one run folder in ${runs}, found ${ids.join(', ')}`));
      resolve(join(runs, ids[0]!));
    });
  });
}

describe('hard samples in VS Code', () => {
  let vs: VSCodeSession;
  let workspace: string;
  let ranking: SampleRanking;
  const hard = (ps: Problem[]) => ps.filter((p) => p.code === 'hard-sample').sort((a, b) => a.line - b.line);
  const rows = (ps: Problem[]) => hard(ps).map((p) => `${p.line} ${p.severity} ${p.message}`);
  const expectRows = (samples: readonly RankedSample[], shift = (line: number) => line) =>
    samples.map((s) => ({ line: shift(s.line), text: `${shift(s.line)} info ${hardSampleMessage(s)}` })).sort((a, b) => a.line - b.line).map((r) => r.text);

  before(async () => {
    workspace = scratchWorkspace('hard');
    mkdirSync(join(workspace, 'data'), { recursive: true });
    writeFileSync(join(workspace, 'data', 'train.jsonl'), DATASET.join('\n') + '\n');
    // The run and the editor start side by side; each is awaited on its own end.
    const [runDir, session] = await Promise.all([tinyRun(workspace), startVSCode({ workspace, extensionPath: repo })]);
    vs = session;
    ranking = rankSampleLosses(readRunEvents(runDir), 'train');
    assert.equal(ranking.samples.length, DATASET.length, 'the run scored every sample');
  });
  after(() => closeAndRemove(vs, workspace));

  const step = stepsOf(() => vs);

  step('"Show Hard Samples of a Run…" opens the dataset and lists the top 10 % in the Problems panel', async () => {
    await runCommand(vs.page, 'SFT Studio: Show Hard Samples of a Run…');
    await pickQuickItem(vs.page, /^builtin:tiny · \d{4}-\d\d-\d\d \d\d:\d\d$/);
    await vs.page.locator('.tabs-container .tab.active[data-resource-name="train.jsonl"]').waitFor();
    const top = hardSamples(ranking, 10);
    assert.equal(top.length, Math.ceil(DATASET.length / 10), 'fewer than 10 % have a higher loss: 2 of 20');
    const problems = await waitForProblems(vs.page, (ps) => hard(ps).length === top.length);
    assert.deepEqual(rows(problems), expectRows(top));
    const byLoss = [...hard(problems)].sort((a, b) => ranking.samples.findIndex((s) => s.line === a.line) - ranking.samples.findIndex((s) => s.line === b.line));
    assert.deepEqual(byLoss.map((p) => p.message.replace(/loss \d+\.\d/, 'loss N')), ['hard sample: loss N, top 1 %', 'hard sample: loss N, top 6 %']);
    // A gutter mark and a tint per marked line (the whole dataset fits on the screen).
    await focusEditor(vs.page);
    await vs.page.waitForFunction((n) => document.querySelectorAll('.editor-group-container.active .monaco-editor .cgmr').length === n, top.length);
    await vs.screenshot('hard-samples-marked');
  });

  step('the hover of a hard sample gives the loss of each turn, worst first, and the run', async () => {
    const worst = ranking.samples[0]!;
    await focusEditor(vs.page);
    const text = await hoverAt(vs.page, worst.line, 3, { contains: 'Loss per turn' });
    assert.match(text, new RegExp(`Hard sample: loss ${formatLoss(worst.loss).replace('.', '\\.')}, top 1 % \\(rank 1 of ${DATASET.length}\\)`));
    for (const t of worst.turns) assert.ok(text.includes(`turn ${t.turn + 1}, model`) && text.includes(`loss ${formatLoss(t.loss)}`), `turn ${t.turn} in:\n${text}`);
    assert.match(text, /Run: builtin:tiny, \d{4}-\d\d-\d\d \d\d:\d\d \(\d{8}-\d{6}-tiny\)/);
  });

  step('a line inserted above moves the marks; an edit inside a marked line removes its mark', async () => {
    const top = hardSamples(ranking, 10);
    await focusEditor(vs.page);
    await goToPosition(vs.page, 1, 1);
    await vs.page.keyboard.press('Enter');
    let problems = await waitForProblems(vs.page, (ps) => hard(ps).length === top.length && hard(ps)[0]!.line === Math.min(...top.map((s) => s.line)) + 1);
    assert.deepEqual(rows(problems), expectRows(top, (l) => l + 1));
    const edited = top[0]!;
    await focusEditor(vs.page);
    await goToPosition(vs.page, edited.line + 1, 50);
    await vs.page.keyboard.type('z');
    problems = await waitForProblems(vs.page, (ps) => hard(ps).length === top.length - 1);
    assert.deepEqual(rows(problems), expectRows(top.slice(1), (l) => l + 1));
    await vs.page.waitForFunction((n) => document.querySelectorAll('.editor-group-container.active .monaco-editor .cgmr').length === n, top.length - 1);
    // Undo brings the sample's text back, and its mark with it.
    await focusEditor(vs.page);
    await vs.page.keyboard.press('Control+Z');
    problems = await waitForProblems(vs.page, (ps) => hard(ps).length === top.length);
    assert.deepEqual(rows(problems), expectRows(top, (l) => l + 1));
    await vs.page.keyboard.press('Control+Z');
    await waitForProblems(vs.page, (ps) => hard(ps).length === top.length && hard(ps)[0]!.line === Math.min(...top.map((s) => s.line)));
  });

  step('with the top 100 %, dataset text like <img src=x onerror=alert(1)> shows in the hover as text', async () => {
    mkdirSync(join(workspace, '.vscode'), { recursive: true });
    writeFileSync(join(workspace, '.vscode', 'settings.json'), JSON.stringify({ 'sftStudio.hardSamples.topPercent': 100 }));
    const problems = await waitForProblems(vs.page, (ps) => hard(ps).length === DATASET.length);
    assert.deepEqual(rows(problems), expectRows(ranking.samples));
    await focusEditor(vs.page);
    const text = await hoverAt(vs.page, XSS_LINE, 3, { contains: 'Loss per turn', keepOpen: true });
    assert.ok(text.includes(`turn 2, model “${XSS} is what an attacker would…”: loss`), text);
    assert.equal(await vs.page.locator('.monaco-hover img').count(), 0, 'no <img> element in the hover');
    await vs.page.keyboard.press('Escape');
    await parkMouse(vs.page);
    // The two-turn sample lists both model turns, the worse one first.
    const multi = ranking.samples.find((s) => s.line === MULTI_TURN_LINE)!;
    assert.equal(multi.turns.length, 2);
    const turns = await hoverAt(vs.page, MULTI_TURN_LINE, 3, { contains: 'Loss per turn' });
    const listed = [...turns.matchAll(/turn (\d), model “[^”]*”: loss ([\d.]+)/g)].map((m) => [Number(m[1]), m[2]]);
    assert.deepEqual(listed, multi.turns.map((t) => [t.turn + 1, formatLoss(t.loss)]));
  });

  step('in a high-contrast theme the marked lines get an outline instead of a tint', async () => {
    writeFileSync(join(workspace, '.vscode', 'settings.json'), JSON.stringify({ 'sftStudio.hardSamples.topPercent': 100, 'workbench.colorTheme': 'Default High Contrast' }));
    await vs.page.waitForFunction(() => document.querySelector('.monaco-workbench.hc-black') !== null);
    await focusEditor(vs.page);
    await goToPosition(vs.page, 1, 1); // the whole dataset on the screen
    await vs.page.waitForFunction((n) => document.querySelectorAll('.editor-group-container.active .monaco-editor .cgmr').length === n, DATASET.length);
    const outlined = await vs.page.locator('.editor-group-container.active .monaco-editor .view-overlays div').evaluateAll((els) => els.filter((e) => {
      const style = getComputedStyle(e);
      return style.outlineStyle === 'dotted' && style.outlineColor !== 'rgba(0, 0, 0, 0)' && style.backgroundColor === 'rgba(0, 0, 0, 0)';
    }).length);
    assert.equal(outlined, DATASET.length);
    await vs.screenshot('hard-samples-high-contrast');
  });

  step('after a change on disk (reverted into the editor), unchanged samples keep their marks on their new lines', async () => {
    await focusEditor(vs.page);
    // A sample edited, and a new one added on top, by another program.
    const changedLine = ranking.samples[0]!.line;
    const lines = [...DATASET];
    lines[changedLine - 1] = sample([['user', 'Count to three.'], ['model', 'One, two, three, four.']]);
    writeFileSync(join(workspace, 'data', 'train.jsonl'), [sample([['user', 'New?'], ['model', 'Yes.']]), ...lines].join('\n') + '\n');
    await runCommand(vs.page, 'File: Revert File');
    const problems = await waitForProblems(vs.page, (ps) => hard(ps).length === DATASET.length - 1);
    assert.deepEqual(rows(problems), expectRows(ranking.samples.filter((s) => s.line !== changedLine), (l) => l + 1));
  });

  step('"Clear Hard Sample Marks" removes every mark', async () => {
    await runCommand(vs.page, 'SFT Studio: Clear Hard Sample Marks');
    await waitForProblems(vs.page, (ps) => hard(ps).length === 0);
    await vs.page.waitForFunction(() => document.querySelectorAll('.editor-group-container.active .monaco-editor .cgmr').length === 0);
  });

  step('shown again after the dataset changed, the run\'s samples are found on their new lines; the changed one is left out', async () => {
    const changedLine = ranking.samples[0]!.line;
    await runCommand(vs.page, 'SFT Studio: Show Hard Samples of a Run…');
    await pickQuickItem(vs.page, /^builtin:tiny · /);
    const problems = await waitForProblems(vs.page, (ps) => hard(ps).length === DATASET.length - 1);
    assert.deepEqual(rows(problems), expectRows(ranking.samples.filter((s) => s.line !== changedLine), (l) => l + 1));
    await waitForNotification(vs.page, /1 sample scored in run \d{8}-\d{6}-tiny changed since; its mark is not shown\./);
  });
});
