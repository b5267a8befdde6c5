// `npm test`: build, compile the tests, run the unit tests, then the end-to-end tests.
// `node scripts/test.mjs unit` or `e2e` runs one part.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';

const which = process.argv[2] ?? 'all';
const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

run(process.execPath, ['scripts/build.mjs']);
rmSync('out', { recursive: true, force: true });
run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json']);
run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'webview/tsconfig.json']);
if (which === 'all' || which === 'unit') {
  run(process.execPath, ['--test', '--test-reporter=spec', 'out/test/unit/']);
}
if (which === 'all' || which === 'e2e') {
  if (existsSync('out/test/e2e')) {
    run(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', 'out/test/e2e/']);
  }
}
