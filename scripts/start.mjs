// `npm start`: build, then open the extension on samples/ in a real VS Code.
//  - With `code` on PATH: `code --extensionDevelopmentPath=<repo> <repo>/samples`.
//  - Otherwise (or with --server): code-server on 127.0.0.1:$PORT (default 8080), no auth,
//    the extension loaded; prints the URL and runs until Ctrl+C.
// The code-server side reuses the e2e tests' launcher (test/e2e/codeServer.ts, bundled here
// with esbuild), so `npm start` and the tests start VS Code the same way. After a rebuild,
// run "Developer: Reload Window" in the browser to load the new code.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const samples = join(repo, 'samples');
const forceServer = process.argv.includes('--server');

const build = spawnSync('npm', ['run', 'build'], { cwd: repo, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const hasCode = spawnSync('sh', ['-c', 'command -v code'], { stdio: 'ignore' }).status === 0;
if (hasCode && !forceServer) {
  const r = spawnSync('code', [`--extensionDevelopmentPath=${repo}`, samples], { stdio: 'inherit' });
  process.exit(r.status ?? 0);
}

// Bundle the launcher (TypeScript) to plain JS; esbuild is a devDependency already.
const esbuild = await import('esbuild');
const launcherFile = join(repo, '.e2e', 'launcher.cjs');
mkdirSync(dirname(launcherFile), { recursive: true });
await esbuild.build({
  entryPoints: [join(repo, 'test', 'e2e', 'codeServer.ts')],
  outfile: launcherFile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
});
const { launchCodeServer, ensureRuntime } = createRequire(import.meta.url)(launcherFile);

const port = Number(process.env.PORT ?? 8080);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT=${process.env.PORT} is not a port number`);
  process.exit(2);
}
const runtime = ensureRuntime(repo);
// A persistent user data dir keeps your layout and settings between runs.
const dataDir = join(repo, '.e2e', 'start');
let server;
try {
  server = await launchCodeServer({
    extensionPaths: [repo],
    port,
    dataDir,
    keepDataDir: true,
    keepExistingSettings: true,
    runtime,
    verbose: process.env.SFT_E2E_VERBOSE === '1',
    settings: { 'workbench.startupEditor': 'none' },
  });
} catch (e) {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
}
const url = server.folderUrl(samples);
console.log(`\nSFT Studio in code-server ${runtime.codeServerVersion} (VS Code ${runtime.vscodeVersion}):\n\n  ${url}\n`);
console.log(`Logs: ${server.logFile}. Ctrl+C stops it.`);

let stopping = false;
const stop = async (code) => {
  if (stopping) return;
  stopping = true;
  await server.stop();
  process.exit(code);
};
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
process.on('SIGHUP', () => void stop(0));
server.exited.then((code) => {
  if (!stopping) {
    console.error(`code-server exited (${code})\n${server.logTail(30)}`);
    void stop(1);
  }
});
