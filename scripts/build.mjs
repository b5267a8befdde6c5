// Bundles the extension, the language server, the CLI and the benchmark with esbuild.
// `--production` minifies (for `vsce package`); `--watch` rebuilds on change.
import * as esbuild from 'esbuild';

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
];
// The tuning panel's page: a browser bundle and its stylesheet, served from dist/webview only.
entries.push({
  entryPoints: ['webview/main.ts', 'webview/style.css'], outdir: 'dist/webview', platform: 'browser', format: 'iife', target: 'es2022',
  define: {}, banner: {}, mainFields: ['browser', 'module', 'main'],
});
if (!production) entries.push({ entryPoints: ['bench/main.ts'], outfile: 'dist/bench.js' });

if (watch) {
  const contexts = await Promise.all(entries.map((e) => esbuild.context({ ...common, ...e })));
  await Promise.all(contexts.map((c) => c.watch()));
  console.log('watching for changes…');
} else {
  await Promise.all(entries.map((e) => esbuild.build({ ...common, ...e })));
}
