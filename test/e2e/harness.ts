// End-to-end harness: a real VS Code (code-server) with our extension, driven by Playwright
// in Debian's Chromium. One session serves all the tests of a file:
//
//   let vs: VSCodeSession;
//   before(async () => { vs = await startVSCode({ workspace, extensionPath: repoRoot }); });
//   after(async () => { await vs?.close(); });
//   test('flags a bad line', () => withScreenshotOnFailure(vs, 'flags a bad line', async () => {
//     await openFile(vs.page, 'data.jsonl');
//     await waitForProblems(vs.page, (ps) => ps.some((p) => p.code === 'invalid-json'));
//   }));
//
// Every helper waits on what the page shows (DOM), never on fixed sleeps.
// Environment: SFT_E2E_CHROMIUM (browser binary, default /usr/bin/chromium), SFT_E2E_HEADED=1,
// SFT_E2E_VERBOSE=1 (echo code-server's output), SFT_E2E_KEEP=1 (keep the temporary folders),
// SFT_E2E_RESULTS (screenshot folder, default <repo>/test-results).
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Frame, type Locator, type Page } from 'playwright-core';
import { findRepoRoot, launchCodeServer, type CodeServerInstance, type CodeServerRuntime } from './codeServer';

export { DEFAULT_SETTINGS, ensureRuntime, findRepoRoot, launchCodeServer } from './codeServer';
export type { CodeServerInstance, CodeServerRuntime, LaunchOptions } from './codeServer';

export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
  '--disable-dev-shm-usage',
];

/** Default wait for one UI step. Generous: the machine has 2 cores. */
export const STEP_TIMEOUT_MS = 30_000;

export interface StartOptions {
  /** Folder opened as the workspace. */
  workspace: string;
  /** Folder of the extension under test (package.json + what "main" names, built). */
  extensionPath: string;
  /** More extension folders to load (helpers for a test). */
  extraExtensionPaths?: string[];
  /** User settings, merged over DEFAULT_SETTINGS. */
  settings?: Record<string, unknown>;
  /**
   * 'disabled' (default): no Workspace Trust at all. 'trusted': trust is on and the workspace is
   * trusted (the harness answers the prompt). 'restricted': trust is on, the workspace is not.
   */
  workspaceTrust?: 'disabled' | 'trusted' | 'restricted';
  /** Browser viewport (default 1400×900). */
  viewport?: { width: number; height: number };
  /** Wait for the workbench (ms, default 60 s). */
  startTimeoutMs?: number;
  /** Extra environment for code-server and the extension host. */
  env?: Record<string, string>;
  runtime?: CodeServerRuntime;
}

export interface VSCodeSession {
  page: Page;
  browser: Browser;
  context: BrowserContext;
  server: CodeServerInstance;
  /** The URL the page was opened at (…/?folder=…). */
  url: string;
  /** Absolute path of the workspace folder. */
  workspace: string;
  /** Saves a full-page PNG under the results folder; returns its path. */
  screenshot(name: string): Promise<string>;
  /** Closes Chromium and kills code-server's process group. Idempotent. */
  close(): Promise<void>;
}

export type Severity = 'error' | 'warning' | 'info';

export interface Problem {
  severity: Severity;
  message: string;
  source?: string;
  code?: string;
  /** 1-based, as the Problems panel shows it. */
  line: number;
  /** 1-based, as the Problems panel shows it. */
  column: number;
  /** Path of the file, relative to the workspace when inside it. */
  file: string;
  /** Related-information rows shown under the problem, as the panel writes them. */
  related?: string[];
}

export interface StatusBarEntry {
  id: string;
  /** Visible text (icons such as $(check) are not part of it). */
  text: string;
  ariaLabel: string;
}

const workspaceByPage = new WeakMap<Page, string>();

/** Folder that keeps screenshots and logs of failures (CI keeps it). */
export function resultsDir(): string {
  const dir = process.env.SFT_E2E_RESULTS ?? join(findRepoRoot(), 'test-results');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 120) || 'screenshot';
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Starts one code-server with the extension, opens Chromium on the workspace and waits
 * until the workbench is up. Close it with `close()` (in `after`).
 */
export async function startVSCode(opts: StartOptions): Promise<VSCodeSession> {
  const trust = opts.workspaceTrust ?? 'disabled';
  const timeout = opts.startTimeoutMs ?? 60_000;
  const workspace = resolve(opts.workspace);
  if (!existsSync(workspace) || !statSync(workspace).isDirectory()) throw new Error(`workspace ${workspace} is not a folder`);
  const settings: Record<string, unknown> = { ...(opts.settings ?? {}) };
  // 'trusted': ask on every start (the default, 'once', is not reliably 'now'), and answer Yes.
  if (trust === 'trusted') settings['security.workspace.trust.startupPrompt'] ??= 'always';
  if (trust === 'restricted') settings['security.workspace.trust.startupPrompt'] ??= 'never';
  const server = await launchCodeServer({
    extensionPaths: [opts.extensionPath, ...(opts.extraExtensionPaths ?? [])],
    settings,
    workspaceTrust: trust !== 'disabled',
    startTimeoutMs: timeout,
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.runtime ? { runtime: opts.runtime } : {}),
  });
  let browser: Browser | undefined;
  let startPage: Page | undefined;
  try {
    browser = await chromium.launch({
      executablePath: process.env.SFT_E2E_CHROMIUM ?? '/usr/bin/chromium',
      headless: process.env.SFT_E2E_HEADED !== '1',
      args: [...CHROMIUM_ARGS],
      timeout,
    });
    const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1400, height: 900 } });
    const page = await context.newPage();
    startPage = page;
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    workspaceByPage.set(page, workspace);
    const url = server.folderUrl(workspace);
    await page.goto(url, { timeout });
    if (trust === 'trusted') await answerTrustPrompt(page, timeout);
    await waitForWorkbench(page, workspace, timeout);

    let closed = false;
    const b = browser;
    const session: VSCodeSession = {
      page,
      browser: b,
      context,
      server,
      url,
      workspace,
      screenshot: async (name: string) => {
        const file = join(resultsDir(), `${safeName(name)}.png`);
        await page.screenshot({ path: file, fullPage: true, timeout: 15_000 });
        return file;
      },
      close: async () => {
        if (closed) return;
        closed = true;
        try {
          await Promise.race([b.close(), new Promise((r) => setTimeout(r, 15_000))]);
        } finally {
          await server.stop();
        }
      },
    };
    return session;
  } catch (e) {
    let shot = '';
    if (startPage) {
      const file = join(resultsDir(), 'startVSCode-failure.png');
      shot = await startPage.screenshot({ path: file, timeout: 10_000 }).then(() => ` (screenshot: ${file})`, () => '');
    }
    if (browser) await browser.close().catch(() => undefined);
    const tail = server.logTail(40);
    await server.stop();
    throw new Error(`startVSCode: ${errorMessage(e)}${shot}\n--- code-server output ---\n${tail}`);
  }
}

async function answerTrustPrompt(page: Page, timeout: number): Promise<void> {
  const yes = page.locator('.monaco-dialog-box .monaco-button', { hasText: /^\s*Yes, I trust the authors\s*$/ }).first();
  await yes.waitFor({ state: 'visible', timeout });
  await yes.click();
  await parkMouse(page);
  await page.locator('.monaco-dialog-box').first().waitFor({ state: 'hidden', timeout });
  // Restricted Mode's status bar entry goes once the workspace is trusted.
  await page.locator('#status\\.workspaceTrust').waitFor({ state: 'detached', timeout });
}

/** Waits until the workbench shows the workspace: status bar, editor area, and the folder loaded. */
export async function waitForWorkbench(page: Page, workspace: string, timeoutMs = 60_000): Promise<void> {
  await page.waitForSelector('.monaco-workbench', { timeout: timeoutMs });
  await page.waitForSelector('#status\\.problems', { timeout: timeoutMs });
  await page.waitForSelector('.monaco-workbench .part.editor', { timeout: timeoutMs });
  // The window title carries the folder's name once the workspace is open.
  await page.waitForFunction((name) => document.title.includes(name), basename(workspace), { timeout: timeoutMs });
}

/** A fresh, empty folder named `name` (in a temporary parent) to open as a suite's workspace. */
export function scratchWorkspace(name: string): string {
  return join(mkdtempSync(join(tmpdir(), 'sft-e2e-')), name);
}

/** A suite's `after`: closes VS Code and removes its scratch workspace (kept with SFT_E2E_KEEP=1). */
export async function closeAndRemove(session: VSCodeSession | undefined, workspace: string | undefined): Promise<void> {
  await session?.close();
  if (workspace !== undefined && !process.env.SFT_E2E_KEEP) rmSync(join(workspace, '..'), { recursive: true, force: true });
}

/** A suite's test steps: each saves a screenshot and the logs when it fails. */
export function stepsOf(session: () => VSCodeSession, timeoutMs?: number): (name: string, fn: () => Promise<void>) => void {
  return (name, fn) => {
    test(name, timeoutMs !== undefined ? { timeout: timeoutMs } : {}, () => withScreenshotOnFailure(session(), name, fn));
  };
}

/**
 * Runs `fn`; if it throws, saves a screenshot and code-server's output under the results
 * folder, then rethrows with their paths. Use inside a node:test `test()`.
 */
export async function withScreenshotOnFailure<T>(session: VSCodeSession, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const saved: string[] = [];
    try {
      saved.push(await session.screenshot(name));
    } catch (shotError) {
      saved.push(`(no screenshot: ${errorMessage(shotError)})`);
    }
    try {
      const base = join(resultsDir(), safeName(name));
      if (existsSync(session.server.logFile)) {
        copyFileSync(session.server.logFile, `${base}.code-server.log`);
        saved.push(`${base}.code-server.log`);
      }
      const exthost = extensionHostLogs(session.server.userDataDir);
      if (exthost.length > 0) {
        mkdirSync(`${base}.logs`, { recursive: true });
        for (const f of exthost) copyFileSync(f, join(`${base}.logs`, f.split(sep).slice(-2).join('_')));
        saved.push(`${base}.logs/`);
      }
    } catch {
      /* best effort */
    }
    if (e instanceof Error) {
      e.message += `\n(saved: ${saved.join(', ')})`;
      throw e;
    }
    throw new Error(`${String(e)}\n(saved: ${saved.join(', ')})`);
  }
}

/** Extension host logs and output channels (exthost*.log, our extension's output) of this run. */
function extensionHostLogs(userDataDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 5 || !existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) walk(p, depth + 1);
      else if (entry.name.endsWith('.log') && (p.includes(`${sep}exthost`) || p.includes('output_'))) out.push(p);
    }
  };
  walk(join(userDataDir, 'logs'), 0);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Quick input (command palette, Quick Open, Go to Line)

const QUICK_INPUT = '.quick-input-widget';
const QUICK_INPUT_BOX = '.quick-input-widget .quick-input-box input';
const QUICK_ROWS = '.quick-input-widget .quick-input-list .monaco-list-row';
const QUICK_SIGNATURE = "document.querySelector('.quick-input-widget .quick-input-list')?.textContent ?? ''";

async function quickInputVisible(page: Page): Promise<boolean> {
  return page.locator(QUICK_INPUT).first().isVisible();
}

async function closeQuickInput(page: Page): Promise<void> {
  if (await quickInputVisible(page)) {
    await page.keyboard.press('Escape');
    await page.locator(QUICK_INPUT).waitFor({ state: 'hidden' });
  }
}

/**
 * Opens the quick input and types `value` into it: '>' + a command title for the command
 * palette, ':' + line for Go to Line, a file path for Quick Open.
 */
async function openQuickInput(page: Page, value: string): Promise<Locator> {
  await closeQuickInput(page);
  const box = page.locator(QUICK_INPUT_BOX);
  const tries: Array<() => Promise<void>> = [
    () => page.keyboard.press('Control+P'),
    () => page.keyboard.press('F1'),
    // Focus can sit where keys do not reach the workbench (a webview): click the title bar's search.
    () => page.locator('.command-center .action-label, .command-center-center').first().click({ timeout: 5_000 }),
  ];
  for (const attempt of tries) {
    await attempt().catch(() => undefined);
    const ok = await box.waitFor({ state: 'visible', timeout: 5_000 }).then(() => true, () => false);
    if (ok) break;
  }
  await box.waitFor({ state: 'visible' });
  await box.fill(value);
  return box;
}

/** Text of a quick input row's main label. */
interface QuickRow { index: number; focused: boolean; label: string; description: string; aria: string }

async function rowLabels(page: Page): Promise<QuickRow[]> {
  return page.locator(QUICK_ROWS).evaluateAll((rows) => rows.map((row) => ({
    index: Number(row.getAttribute('data-index')),
    focused: row.classList.contains('focused'),
    label: (row.querySelector('.monaco-icon-label .label-name, .quick-input-list-label .label-name')?.textContent ?? '').trim(),
    description: (row.querySelector('.label-description')?.textContent ?? '').trim(),
    aria: row.getAttribute('aria-label') ?? '',
  })).sort((a, b) => a.index - b.index));
}

/**
 * Picks the row of the open quick input that `want` accepts, with the keyboard (arrows, then
 * Enter). Waits for the picker to finish searching first; rows may still be re-sorted, so the
 * focused row is re-read after every key. No clicks: the mouse would then rest over the editor,
 * and Chromium's synthetic mouse moves close hovers.
 */
async function chooseRow(page: Page, want: (r: QuickRow) => boolean, describe: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await page.waitForFunction(() => !document.querySelector('.quick-input-widget .quick-input-progress.active'), undefined, { timeout: timeoutMs });
  for (;;) {
    const rows = await rowLabels(page);
    const target = rows.find(want);
    const focused = rows.find((r) => r.focused);
    if (target && focused && want(focused)) {
      await page.keyboard.press('Enter');
      return;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    if (target) {
      const before = focused?.index ?? -1;
      await page.keyboard.press(target.index > before ? 'ArrowDown' : 'ArrowUp');
      await page.waitForFunction(
        (prev) => Number(document.querySelector('.quick-input-widget .quick-input-list .monaco-list-row.focused')?.getAttribute('data-index') ?? -1) !== prev,
        before, { timeout: 5_000, polling: 50 },
      ).catch(() => undefined);
    } else {
      await waitUntil(page, async () => (await rowLabels(page)).some(want), Math.max(1, deadline - Date.now()), describe, QUICK_SIGNATURE);
    }
  }
}

/** Moves the mouse to the window's top-left corner, where it hovers over nothing that reacts. */
export async function parkMouse(page: Page): Promise<void> {
  await page.mouse.move(0, 0);
}

function matches(text: string, pattern: string | RegExp): boolean {
  return typeof pattern === 'string' ? text === pattern : pattern.test(text);
}

/**
 * Runs a command from the command palette by its title as shown there
 * (e.g. 'View: Focus Problems (Errors, Warnings, Infos)'), exactly or by a RegExp.
 */
export async function runCommand(page: Page, title: string | RegExp, timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
  const typed = typeof title === 'string' ? title : title.source.replace(/[\\^$.*+?()[\]{}|]/g, ' ').replace(/\s+/g, ' ').trim();
  const box = await openQuickInput(page, `>${typed}`);
  await chooseRow(page, (r) => matches(r.label, title), () => `no command titled ${String(title)} in the palette`, timeoutMs);
  // Closed, or replaced by what the command opened (another quick pick).
  await waitUntil(page, async () => !(await quickInputVisible(page)) || (await box.inputValue().catch(() => '')) !== `>${typed}`,
    timeoutMs, () => `the palette stayed open after choosing ${String(title)}`);
}

/**
 * The command titles the palette lists for `typed`, once it has answered (rows, or its "No
 * matching commands" message); closes the palette. To check that a command is not offered.
 */
export async function paletteTitles(page: Page, typed: string, timeoutMs = STEP_TIMEOUT_MS): Promise<string[]> {
  await openQuickInput(page, `>${typed}`);
  let rows: QuickRow[] = [];
  await waitUntil(page, async () => {
    if (await page.locator('.quick-input-widget .quick-input-progress.active').count() > 0) return false;
    rows = await rowLabels(page);
    return rows.length > 0 || (await page.locator(QUICK_INPUT, { hasText: 'No matching commands' }).count()) > 0;
  }, timeoutMs, () => `the palette never answered ${typed}`, QUICK_SIGNATURE);
  await closeQuickInput(page);
  return rows.map((r) => r.label);
}

/**
 * Picks an item by its label in a quick pick a command opened (e.g. "Convert Dataset To…"). With
 * `then: 'another'` the command asks a next question in a new quick pick: waits for that one
 * (none of its rows is the item picked) instead of for the widget to close.
 */
export async function pickQuickItem(page: Page, label: string | RegExp, timeoutMs = STEP_TIMEOUT_MS, then: 'closed' | 'another' = 'closed'): Promise<void> {
  await page.locator(QUICK_INPUT_BOX).waitFor({ state: 'visible', timeout: timeoutMs });
  await waitUntil(page, async () => (await rowLabels(page)).some((r) => matches(r.label, label)), timeoutMs,
    () => `no item labelled ${String(label)} in the quick pick`, QUICK_SIGNATURE);
  await chooseRow(page, (r) => matches(r.label, label), () => `could not pick ${String(label)}`, timeoutMs);
  if (then === 'another') {
    await waitUntil(page, async () => {
      const rows = await rowLabels(page);
      return rows.length > 0 && !rows.some((r) => matches(r.label, label));
    }, timeoutMs, () => `no next quick pick after ${String(label)}`, QUICK_SIGNATURE);
  } else {
    await page.locator(QUICK_INPUT).waitFor({ state: 'hidden', timeout: timeoutMs });
  }
}

/** Opens a workspace file with Quick Open and waits until its editor tab is active. */
export async function openFile(page: Page, relativePath: string, timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
  const rel = relativePath.split(sep).join('/');
  const name = rel.split('/').pop() ?? rel;
  const dir = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
  await openQuickInput(page, rel);
  // Rows arrive in stages (recently opened, then the file search); ours is the one whose
  // description (its folder, relative to the workspace; '' at the root) is exactly `dir`.
  const norm = (d: string): string => d.replace(/\\/g, '/');
  await chooseRow(page, (r) => r.label === name && (norm(r.description) === dir || (dir !== '' && norm(r.description).endsWith(` ${dir}`))),
    () => `Quick Open found no ${rel}`, timeoutMs);
  await page.locator(QUICK_INPUT).waitFor({ state: 'hidden', timeout: timeoutMs });
  await page.locator(`.tabs-container .tab.active[data-resource-name="${cssString(name)}"]`).first().waitFor({ timeout: timeoutMs });
  // Same-named files: the breadcrumbs (folders, file, then symbols) tell which one is active.
  const segments = rel.split('/');
  await page.waitForFunction((segs) => {
    const bar = document.querySelector('.editor-group-container.active .breadcrumbs-control');
    if (!bar) return true; // breadcrumbs turned off: the tab is all there is
    const items = Array.from(bar.querySelectorAll('.monaco-breadcrumb-item')).map((e) => (e.textContent ?? '').trim());
    return segs.every((s, i) => items[i] === s);
  }, segments, { timeout: timeoutMs });
  await page.locator('.editor-group-container.active .monaco-editor .view-lines').first().waitFor({ timeout: timeoutMs });
  await page.locator('#status\\.editor\\.selection').waitFor({ timeout: timeoutMs });
}

function cssString(s: string): string {
  return s.replace(/["\\]/g, '\\$&');
}

/** Moves the cursor of the active editor to a 1-based line and column (Go to Line/Column). */
export async function goToPosition(page: Page, line: number, column: number, timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
  await openQuickInput(page, `:${line}:${column}`);
  // The picker tells where Enter goes once it has read the value.
  await page.locator(QUICK_INPUT).filter({ hasText: new RegExp(`line ${line}\\b.*column ${column}\\b`) }).waitFor({ timeout: timeoutMs });
  await page.keyboard.press('Enter');
  await page.locator(QUICK_INPUT).waitFor({ state: 'hidden', timeout: timeoutMs });
  const want = `Ln ${line}, Col ${column}`;
  await page.waitForFunction((w) => (document.getElementById('status.editor.selection')?.textContent ?? '').includes(w), want, { timeout: timeoutMs });
  // Keys typed next must reach the editor: wait until it has the focus back from the picker.
  await page.waitForFunction(() => document.activeElement?.closest('.monaco-editor') != null, undefined, { timeout: timeoutMs });
}

/** Gives focus back to the active editor (e.g. after reading the Problems panel). */
export async function focusEditor(page: Page): Promise<void> {
  await runCommand(page, 'View: Focus Active Editor Group');
}

// ---------------------------------------------------------------------------------------------
// Problems panel

const MARKERS = '.markers-panel';

/** Opens the Problems panel (if it is not showing) and waits for its tree. */
export async function showProblems(page: Page, timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
  if (!(await page.locator(MARKERS).first().isVisible())) {
    await runCommand(page, 'View: Focus Problems (Errors, Warnings, Infos)', timeoutMs);
  }
  await page.locator(MARKERS).waitFor({ state: 'visible', timeout: timeoutMs });
}

interface RawRow {
  index: number;
  level: number;
  related?: string;
  fileLabel?: string;
  severity?: string;
  message?: string;
  source?: string;
  code?: string;
  position?: string;
}

/**
 * Reads every problem in the Problems panel (opening it if need be; file nodes are expanded
 * and the virtual list is scrolled through, so long lists are read whole).
 * Note: opening the panel moves focus there; `openFile` or `focusEditor` brings it back.
 */
export async function readProblems(page: Page): Promise<Problem[]> {
  await showProblems(page);
  const raw = await page.locator(MARKERS).evaluate(async (panel): Promise<RawRow[]> => {
    const frame = (): Promise<void> => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r())));
    const list = panel.querySelector('.monaco-list');
    if (!list) return [];
    const scroller = list.querySelector('.monaco-scrollable-element') ?? list;
    const rowsEl = list.querySelector('.monaco-list-rows') as HTMLElement | null;
    const wheel = (dy: number): void => {
      scroller.dispatchEvent(new WheelEvent('wheel', { deltaY: dy, deltaMode: 0, bubbles: true, cancelable: true }));
    };
    const seen = new Map<number, RawRow>();
    const collect = async (): Promise<boolean> => {
      let expanded = false;
      for (const row of Array.from(list.querySelectorAll('.monaco-list-row'))) {
        const index = Number(row.getAttribute('data-index'));
        const level = Number(row.getAttribute('aria-level'));
        if (row.getAttribute('aria-expanded') === 'false') {
          (row.querySelector('.monaco-tl-twistie') as HTMLElement | null)?.click();
          expanded = true;
          continue;
        }
        if (seen.has(index)) continue;
        const icon = row.querySelector('.marker-icon');
        if (level <= 1 && !icon) {
          const label = row.querySelector('.monaco-icon-label[aria-label]')?.getAttribute('aria-label')
            ?? row.querySelector('.label-name')?.textContent ?? '';
          seen.set(index, { index, level, fileLabel: label });
          continue;
        }
        if (!icon) {
          // A related-information row under a problem ("train.jsonl[Ln 3, Col 1]: exact duplicate").
          seen.set(index, { index, level, related: (row.textContent ?? '').trim().replace(/\]\s*:\s*/, ']: ') });
          continue;
        }
        const severity = ['error', 'warning', 'info'].find((s) => icon.classList.contains(s)) ?? 'info';
        const message = Array.from(row.querySelectorAll('.marker-message')).map((m) => m.textContent ?? '').join('\n');
        seen.set(index, {
          index,
          level,
          severity,
          message,
          source: row.querySelector('.marker-source')?.textContent ?? undefined,
          code: row.querySelector('.marker-code')?.textContent ?? undefined,
          position: row.querySelector('.marker-line')?.textContent ?? '',
        });
      }
      return expanded;
    };
    wheel(-1e7);
    await frame();
    for (let guard = 0; guard < 10_000; guard++) {
      const expanded = await collect();
      if (expanded) {
        await frame();
        continue;
      }
      const total = rowsEl ? Math.round(parseFloat(rowsEl.style.height || '0') / 22) : 0;
      const before = seen.size;
      if (seen.size >= total && total > 0) break;
      wheel(Math.max(100, (scroller as HTMLElement).clientHeight * 0.8));
      await frame();
      await collect();
      if (seen.size === before) break;
    }
    wheel(-1e7);
    return Array.from(seen.values()).sort((a, b) => a.index - b.index);
  });
  const workspace = workspaceByPage.get(page);
  const problems: Problem[] = [];
  let file = '';
  for (const row of raw) {
    if (row.related !== undefined) {
      const last = problems[problems.length - 1];
      if (last) (last.related ??= []).push(row.related);
      continue;
    }
    if (row.severity === undefined) {
      const label = row.fileLabel ?? '';
      file = workspace && label.startsWith(workspace + sep) ? relative(workspace, label).split(sep).join('/') : label;
      continue;
    }
    const m = /Ln\s+(\d+),\s*Col\s+(\d+)/.exec(row.position ?? '');
    const p: Problem = {
      severity: row.severity as Severity,
      message: row.message ?? '',
      line: m ? Number(m[1]) : 0,
      column: m ? Number(m[2]) : 0,
      file,
    };
    if (row.source) p.source = row.source;
    if (row.code) p.code = row.code;
    problems.push(p);
  }
  return problems;
}

/** Reads the Problems panel until `predicate` holds; returns what it last read. */
export async function waitForProblems(
  page: Page,
  predicate: (problems: Problem[]) => boolean,
  timeoutMs = STEP_TIMEOUT_MS,
): Promise<Problem[]> {
  let last: Problem[] = [];
  await waitUntil(page, async () => {
    last = await readProblems(page);
    return predicate(last);
  }, timeoutMs, () => `the Problems panel never matched; it last showed:\n${JSON.stringify(last, null, 2)}`,
  "(document.getElementById('status.problems')?.getAttribute('aria-label') ?? '') + '|' + (document.querySelector('.markers-panel .monaco-list-rows')?.textContent ?? '')");
  return last;
}

// ---------------------------------------------------------------------------------------------
// Hover

const HOVER = '.monaco-editor .monaco-hover:not(.hidden)';

/**
 * Puts the cursor at a 1-based line and column of the active editor, shows the hover there and
 * returns its text (every part: diagnostics, providers' markdown, the action bar). With
 * `contains`, waits until the hover's text includes it (providers may answer late).
 */
export async function hoverAt(
  page: Page,
  line: number,
  column: number,
  opts: { contains?: string | RegExp; timeoutMs?: number; keepOpen?: boolean } = {},
): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? STEP_TIMEOUT_MS;
  await goToPosition(page, line, column, timeoutMs);
  await parkMouse(page);
  await runCommand(page, 'Show or Focus Hover', timeoutMs);
  const hover = page.locator(HOVER).first();
  await hover.waitFor({ state: 'visible', timeout: timeoutMs });
  let text = '';
  await waitUntil(page, async () => {
    text = ((await hover.innerText().catch(() => '')) ?? '').trim();
    if (!text || /^Loading\W*$/m.test(text)) return false;
    if (opts.contains === undefined) return true;
    return typeof opts.contains === 'string' ? text.includes(opts.contains) : opts.contains.test(text);
  }, timeoutMs, () => `the hover at ${line}:${column} never showed ${String(opts.contains ?? 'text')}; it showed: ${text}`,
  "document.querySelector('.monaco-editor .monaco-hover:not(.hidden)')?.textContent ?? ''");
  if (!opts.keepOpen) {
    await page.keyboard.press('Escape');
    await hover.waitFor({ state: 'hidden', timeout: timeoutMs }).catch(() => undefined);
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// Status bar

/** Every entry of the status bar, left to right. */
export async function readStatusBar(page: Page): Promise<StatusBarEntry[]> {
  return page.locator('#workbench\\.parts\\.statusbar .statusbar-item').evaluateAll((items) => items
    .filter((el) => (el as HTMLElement).offsetParent !== null || el.id === 'status.problems')
    .map((el) => ({
      id: el.id,
      text: (el.textContent ?? '').replace(/\s+/g, ' ').trim(),
      ariaLabel: el.querySelector('[aria-label]')?.getAttribute('aria-label') ?? el.getAttribute('aria-label') ?? '',
    })));
}

function entryMatches(e: StatusBarEntry, pattern: string | RegExp): boolean {
  if (typeof pattern === 'string') return e.id === pattern || e.text === pattern || e.text.includes(pattern);
  return pattern.test(e.id) || pattern.test(e.text) || pattern.test(e.ariaLabel);
}

/**
 * Text of the first status bar entry whose id (e.g. 'status.problems', or
 * '<publisher>.<name>.<item id>' for an extension's item) or text matches; undefined if none.
 */
export async function statusBarItem(page: Page, textOrIdPattern: string | RegExp): Promise<string | undefined> {
  const entries = await readStatusBar(page);
  return entries.find((e) => entryMatches(e, textOrIdPattern))?.text;
}

/** Waits until a status bar entry satisfies `predicate`, and returns it. */
export async function waitForStatusBar(
  page: Page,
  predicate: (entry: StatusBarEntry) => boolean,
  timeoutMs = STEP_TIMEOUT_MS,
): Promise<StatusBarEntry> {
  let found: StatusBarEntry | undefined;
  let last: StatusBarEntry[] = [];
  await waitUntil(page, async () => {
    last = await readStatusBar(page);
    found = last.find(predicate);
    return found !== undefined;
  }, timeoutMs, () => `no status bar entry matched; there were:\n${last.map((e) => `  ${e.id}: ${e.text}`).join('\n')}`,
  "Array.from(document.querySelectorAll('#workbench\\\\.parts\\\\.statusbar .statusbar-item')).map((e) => e.id + '=' + e.textContent).join('|')");
  if (!found) throw new Error('unreachable');
  return found;
}

/** Clicks the status bar entry whose id or text matches (as `statusBarItem` finds it). */
export async function clickStatusBarItem(page: Page, textOrIdPattern: string | RegExp, timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
  const entry = await waitForStatusBar(page, (e) => entryMatches(e, textOrIdPattern), timeoutMs);
  const item = page.locator(`#workbench\\.parts\\.statusbar .statusbar-item[id="${entry.id}"]`).first();
  await item.locator('a, .statusbar-item-label').first().click();
  await parkMouse(page);
}

// ---------------------------------------------------------------------------------------------
// Notifications, quick fixes, webviews

/** Waits for a notification toast whose text matches; returns its text. */
export async function waitForNotification(page: Page, pattern: string | RegExp, timeoutMs = STEP_TIMEOUT_MS): Promise<string> {
  const toast = page.locator('.notifications-toasts .notification-toast', { hasText: pattern }).first();
  await toast.waitFor({ state: 'visible', timeout: timeoutMs });
  return (await toast.innerText()).trim();
}

/**
 * Applies the quick fix titled `title` at a 1-based position of the active editor
 * (Go to Line, then "Quick Fix...", then the entry of the action list).
 */
export async function applyQuickFix(page: Page, line: number, column: number, title: string | RegExp, timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
  await goToPosition(page, line, column, timeoutMs);
  await runCommand(page, 'Quick Fix...', timeoutMs);
  const item = page.locator('.action-widget .monaco-list-row.action', { hasText: title }).first();
  await item.waitFor({ state: 'visible', timeout: timeoutMs });
  await item.click();
  await parkMouse(page);
  await page.locator('.action-widget').first().waitFor({ state: 'hidden', timeout: timeoutMs });
}

/**
 * The frame holding a webview's own document: the first of `page.frames()` in which `selector`
 * exists (VS Code nests each webview in two iframes; the inner one has the extension's HTML).
 */
export async function webviewFrame(page: Page, selector: string, timeoutMs = STEP_TIMEOUT_MS): Promise<Frame> {
  let found: Frame | undefined;
  await waitUntil(page, async () => {
    for (const frame of page.frames()) {
      if (frame === page.mainFrame()) continue;
      const n = await frame.locator(selector).count().catch(() => 0);
      if (n > 0) {
        found = frame;
        return true;
      }
    }
    return false;
  }, timeoutMs, () => `no webview frame has ${selector}`);
  if (!found) throw new Error('unreachable');
  return found;
}

// ---------------------------------------------------------------------------------------------

/**
 * Re-checks `check` whenever the page changes (or at least every second) until it returns
 * true or the time is up. `signature` is a JS expression evaluated in the page whose value
 * changes when something relevant does (strings, not closures: the page's CSP forbids eval).
 */
async function waitUntil(
  page: Page,
  check: () => Promise<boolean>,
  timeoutMs: number,
  describe: () => string,
  signature = "document.querySelectorAll('*').length + ':' + document.body.textContent.length",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    const before = await page.evaluate(`String(${signature})`).catch(() => '');
    await page.waitForFunction(`String(${signature}) !== ${JSON.stringify(before)}`, undefined,
      { timeout: Math.min(1000, left), polling: 100 }).catch(() => undefined);
  }
}

/** Writes text to a file under the results folder (e.g. a DOM dump next to a screenshot). */
export function saveResult(name: string, text: string): string {
  const file = join(resultsDir(), safeName(name));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}
