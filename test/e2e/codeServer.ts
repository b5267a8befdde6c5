// Starts and stops one code-server (VS Code in the browser) with extensions loaded from folders.
// No browser here: the Playwright side is in harness.ts. scripts/start.mjs (`npm start`) reuses
// this module too (it bundles it with esbuild), so keep it free of test-only imports.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** Where the Node 24 binary and code-server are (written by scripts/setup-e2e.mjs). */
export interface CodeServerRuntime {
  node: string;
  nodeVersion: string;
  codeServer: string;
  codeServerVersion: string;
  vscodeVersion: string;
}

export interface LaunchOptions {
  /** Folders holding an extension (a package.json and what its "main" names), loaded as installed. */
  extensionPaths: string[];
  /** User settings (User/settings.json), merged over the defaults below. */
  settings?: Record<string, unknown>;
  /** 127.0.0.1 unless told otherwise. */
  host?: string;
  /** 0 (the default) lets the system pick a free port. */
  port?: number;
  /** Keep VS Code's Workspace Trust (off by default: `--disable-workspace-trust`). */
  workspaceTrust?: boolean;
  /** Base folder for this run's user data and extensions; a fresh temporary one by default. */
  dataDir?: string;
  /** With a dataDir used before: values already in its User/settings.json win over ours. */
  keepExistingSettings?: boolean;
  /** Keep dataDir when stopped (default: remove it if it was made here; SFT_E2E_KEEP=1 keeps it). */
  keepDataDir?: boolean;
  /** Echo code-server's output to this process's stderr (SFT_E2E_VERBOSE=1 does too). */
  verbose?: boolean;
  /** Extra environment for code-server and the extension host. */
  env?: Record<string, string>;
  /** How long to wait for /healthz (ms, default 60 s). */
  startTimeoutMs?: number;
  /** The runtime to use; found (and prepared if need be) by scripts/setup-e2e.mjs otherwise. */
  runtime?: CodeServerRuntime;
}

export interface CodeServerInstance {
  /** e.g. http://127.0.0.1:43123 (no trailing slash). */
  url: string;
  host: string;
  port: number;
  pid: number;
  dataDir: string;
  userDataDir: string;
  extensionsDir: string;
  /** Extension ids (publisher.name) that were loaded. */
  extensionIds: string[];
  runtime: CodeServerRuntime;
  /** URL that opens a folder as the workspace. */
  folderUrl(folder: string): string;
  /** The last lines code-server printed. */
  logTail(lines?: number): string;
  /** Full path of the file code-server's output goes to (inside dataDir). */
  logFile: string;
  /** Resolves with the exit code (or signal name) once code-server has exited. */
  exited: Promise<number | string>;
  /** Kills code-server's whole process group (SIGTERM, then SIGKILL) and waits for it. Idempotent. */
  stop(): Promise<void>;
}

/** Settings that keep a test run quiet and deterministic; callers' settings win. */
export const DEFAULT_SETTINGS: Readonly<Record<string, unknown>> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'chat.disableAIFeatures': true,
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'git.autoRepositoryDetection': false,
  'npm.autoDetect': 'off',
  'typescript.tsc.autoDetect': 'off',
  'editor.minimap.enabled': false,
  'window.restoreWindows': 'none',
  'files.hotExit': 'off',
};

/** The repository root: the nearest folder above `from` that has a package.json. */
export function findRepoRoot(from: string = __dirname): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'node_modules'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json with node_modules above ${from}`);
    dir = up;
  }
}

function isRuntime(value: unknown): value is CodeServerRuntime {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.node === 'string' && typeof v.codeServer === 'string'
    && typeof v.codeServerVersion === 'string' && typeof v.vscodeVersion === 'string';
}

/**
 * Runs scripts/setup-e2e.mjs (fast when already done; a minute or two after `npm ci`)
 * and returns where Node 24 and code-server are.
 */
export function ensureRuntime(repoRoot: string = findRepoRoot()): CodeServerRuntime {
  const script = join(repoRoot, 'scripts', 'setup-e2e.mjs');
  const r = spawnSync(process.execPath, [script, '--json'], {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`${script} failed (exit ${r.status ?? r.signal}); see its output above`);
  const lines = r.stdout.trim().split('\n');
  const parsed: unknown = JSON.parse(lines[lines.length - 1] ?? '');
  if (!isRuntime(parsed)) throw new Error(`unexpected output from ${script}: ${r.stdout}`);
  return parsed;
}

interface ExtensionManifest {
  publisher?: unknown;
  name?: unknown;
  version?: unknown;
  main?: unknown;
  browser?: unknown;
}

/** Reads an extension folder's manifest; throws if its entry point has not been built. */
export function readExtension(extensionPath: string): { id: string; folderName: string } {
  const manifestFile = join(extensionPath, 'package.json');
  const m = JSON.parse(readFileSync(manifestFile, 'utf8')) as ExtensionManifest;
  if (typeof m.publisher !== 'string' || typeof m.name !== 'string' || typeof m.version !== 'string') {
    throw new Error(`${manifestFile}: an extension needs "publisher", "name" and "version"`);
  }
  if (typeof m.main === 'string') {
    const main = resolve(extensionPath, m.main);
    if (![main, `${main}.js`, join(main, 'index.js')].some((f) => existsSync(f))) {
      throw new Error(`${manifestFile}: "main" is ${m.main}, which does not exist: build the extension first (npm run build)`);
    }
  }
  const id = `${m.publisher}.${m.name}`;
  return { id, folderName: `${id}-${m.version}`.toLowerCase() };
}

function httpStatus(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolveStatus) => {
    const req = httpGet(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolveStatus(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolveStatus(0));
  });
}

/** Code run by the runtime's Node as code-server's parent: when our process dies, so does the group. */
const WATCHDOG = `
const { spawn } = require('node:child_process');
const [entry, ...args] = process.argv.slice(1);
const child = spawn(process.execPath, [entry, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
const killAll = () => { try { process.kill(-process.pid, 'SIGKILL'); } catch {} process.exit(1); };
process.stdin.on('end', killAll); process.stdin.on('close', killAll); process.stdin.on('error', killAll);
process.stdin.resume();
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => { child.kill('SIGTERM'); });
child.on('exit', (code, signal) => { process.exit(code ?? (signal ? 1 : 0)); });
`;

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) {
      if (child.pid !== undefined) {
        try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
      }
    }
  });
}

/** Starts code-server and resolves once /healthz answers. */
export async function launchCodeServer(opts: LaunchOptions): Promise<CodeServerInstance> {
  const runtime = opts.runtime ?? ensureRuntime();
  const host = opts.host ?? '127.0.0.1';
  const madeDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'sft-e2e-'));
  const keep = opts.keepDataDir ?? process.env.SFT_E2E_KEEP === '1';
  const userDataDir = join(dataDir, 'user-data');
  const extensionsDir = join(dataDir, 'extensions');
  const logFile = join(dataDir, 'code-server.log');
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  rmSync(extensionsDir, { recursive: true, force: true });
  mkdirSync(extensionsDir, { recursive: true });

  const settingsFile = join(userDataDir, 'User', 'settings.json');
  let settings: Record<string, unknown> = { ...DEFAULT_SETTINGS, ...(opts.settings ?? {}) };
  if (opts.workspaceTrust && opts.settings?.['security.workspace.trust.enabled'] === undefined) {
    settings['security.workspace.trust.enabled'] = true;
  }
  let writeSettings = true;
  if (opts.keepExistingSettings && existsSync(settingsFile)) {
    try {
      const existing: unknown = JSON.parse(readFileSync(settingsFile, 'utf8'));
      if (typeof existing === 'object' && existing !== null) settings = { ...settings, ...(existing as Record<string, unknown>) };
    } catch {
      writeSettings = false; // not plain JSON (comments): the user's file, leave it alone
    }
  }
  if (writeSettings) writeFileSync(settingsFile, `${JSON.stringify(settings, null, 2)}\n`);
  // code-server reads ~/.config/code-server/config.yaml (and writes one) unless given --config.
  const configFile = join(dataDir, 'config.yaml');
  writeFileSync(configFile, 'auth: none\ncert: false\n');

  // Loading an extension = linking its folder into the extensions dir as `publisher.name-version`;
  // VS Code scans that dir on start, as for an installed extension (no VSIX, no copy).
  const extensionIds: string[] = [];
  for (const p of opts.extensionPaths) {
    const abs = resolve(p);
    const { id, folderName } = readExtension(abs);
    symlinkSync(abs, join(extensionsDir, folderName), 'dir');
    extensionIds.push(id);
  }

  const args = [
    '--config', configFile,
    '--bind-addr', `${host}:${opts.port ?? 0}`,
    '--auth', 'none',
    '--user-data-dir', userDataDir,
    '--extensions-dir', extensionsDir,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-getting-started-override',
    '--ignore-last-opened',
  ];
  if (!opts.workspaceTrust) args.push('--disable-workspace-trust');

  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    // A VS Code terminal's variables would make code-server act as a CLI of that VS Code;
    // $PORT overrides --bind-addr; npm's variables are noise for the extension host.
    if (v === undefined || /^(VSCODE_|ELECTRON_|npm_)/i.test(k) || k === 'PORT' || k === 'NODE_OPTIONS' || k === 'INIT_CWD') continue;
    env[k] = v;
  }
  // No extension gallery: nothing to fetch from outside.
  env.EXTENSIONS_GALLERY = '{}';
  env.CS_DISABLE_GETTING_STARTED_OVERRIDE = '1';
  Object.assign(env, opts.env ?? {});

  const verbose = opts.verbose ?? process.env.SFT_E2E_VERBOSE === '1';
  const child = spawn(runtime.node, ['-e', WATCHDOG, runtime.codeServer, ...args], {
    cwd: dataDir,
    env,
    detached: true, // its own process group, killed as a whole
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${runtime.node}`);
  const pid = child.pid;
  running.add(child);
  installExitHook();

  const tail: string[] = [];
  let listening: ((url: string) => void) | undefined;
  const onOutput = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    try { appendFileSync(logFile, text); } catch { /* dataDir removed */ }
    if (verbose) process.stderr.write(text);
    for (const line of text.split('\n')) {
      if (!line) continue;
      tail.push(line);
      if (tail.length > 400) tail.shift();
      const m = /HTTP server listening on (http:\/\/[^\s/]+)/.exec(line);
      if (m?.[1] && listening) listening(m[1]);
    }
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);
  const logTail = (lines = 60): string => tail.slice(-lines).join('\n');

  const exited = new Promise<number | string>((res) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      res(code ?? signal ?? 'unknown');
    });
  });

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (!stopped) {
      stopped = true;
      const alive = (): boolean => {
        try { process.kill(-pid, 0); return true; } catch { return false; }
      };
      try { process.kill(-pid, 'SIGTERM'); } catch { /* gone */ }
      const gone = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
      if (!gone || alive()) {
        try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
        await exited;
      }
      // The group may outlive its leader for a moment (extension host, file watcher).
      for (let i = 0; i < 50 && alive(); i++) {
        try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
        await new Promise((r) => setTimeout(r, 100));
      }
      child.stdin?.destroy();
      if (madeDataDir && !keep) rmSync(dataDir, { recursive: true, force: true, maxRetries: 3 });
    }
  };

  const startTimeoutMs = opts.startTimeoutMs ?? 60_000;
  try {
    const url = await new Promise<string>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`code-server did not say where it listens within ${startTimeoutMs} ms`)), startTimeoutMs);
      listening = (u) => { clearTimeout(timer); res(u); };
      void exited.then((code) => { clearTimeout(timer); rej(new Error(`code-server exited (${code}) before listening`)); });
    });
    const deadline = Date.now() + startTimeoutMs;
    // /healthz answers once the server is up; ask until it does (or code-server dies).
    for (;;) {
      const status = await httpStatus(`${url}/healthz`, 2000);
      if (status === 200) break;
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`code-server exited (${child.exitCode ?? child.signalCode})`);
      if (Date.now() > deadline) throw new Error(`${url}/healthz did not answer 200 within ${startTimeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const port = Number(new URL(url).port);
    return {
      url,
      host,
      port,
      pid,
      dataDir,
      userDataDir,
      extensionsDir,
      extensionIds,
      runtime,
      folderUrl: (folder: string) => `${url}/?folder=${encodeURIComponent(resolve(folder))}`,
      logTail,
      logFile,
      exited,
      stop,
    };
  } catch (e) {
    await stop();
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`${msg}\n--- code-server output ---\n${logTail()}`);
  }
}
