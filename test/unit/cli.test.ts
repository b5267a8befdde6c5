import assert from 'node:assert/strict';
import { mkdtempSync, openSync, closeSync, writeSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { cli } from './helpers';

const FIX = 'test/fixtures';
const tmp = mkdtempSync(path.join(tmpdir(), 'sft-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

interface JsonDiag { file: string; line: number; column: number; endLine: number; endColumn: number; severity: string; code: string; message: string; related?: { file: string; line: number; message: string }[] }

describe('sft-studio lint', () => {
  test('prints file:line:col severity code message and exits 1 on errors', async () => {
    const r = await cli(['lint', `${FIX}/gemini-broken.jsonl`]);
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], `${FIX}/gemini-broken.jsonl:2:196 error invalid-role "assistant" is not a Vertex AI Gemini role: use "model" ("assistant" is OpenAI chat's)`);
    assert.deepEqual(lines.map((l) => l.split(' ')[2]), ['invalid-role', 'invalid-json', 'system-turn', 'empty-turn', 'blank-line', 'role-order', 'mixed-format', 'inconsistent-system-instruction']);
  });
  test('exits 0 on a clean file and prints nothing', async () => {
    const r = await cli(['lint', `${FIX}/gemini-clean.jsonl`]);
    assert.deepEqual([r.code, r.stdout], [0, '']);
  });
  test('--format json: the stable shape, 1-based, with related lines', async () => {
    const r = await cli(['lint', '--format', 'json', `${FIX}/gemini-broken.jsonl`]);
    const out = JSON.parse(r.stdout) as JsonDiag[];
    assert.ok(Array.isArray(out));
    const role = out.find((d) => d.code === 'invalid-role')!;
    assert.deepEqual(Object.keys(role), ['file', 'line', 'column', 'endLine', 'endColumn', 'severity', 'code', 'message']);
    assert.deepEqual([role.line, role.column, role.endLine, role.endColumn, role.severity], [2, 196, 2, 207, 'error']);
    const sys = out.find((d) => d.code === 'inconsistent-system-instruction')!;
    assert.deepEqual(sys.related, [{ file: `${FIX}/gemini-broken.jsonl`, line: 1, message: 'the system instruction most samples use' }]);
    for (const d of out) assert.ok(['error', 'warning', 'information', 'hint'].includes(d.severity));
  });
  test('--summary per file, with globs', async () => {
    const r = await cli(['lint', '--format', 'json', '--summary', `${FIX}/*-chat.jsonl`, `${FIX}/{alpaca,sharegpt,conversation,prompt-completion}.jsonl`]);
    assert.equal(r.code, 0);
    const out = JSON.parse(r.stdout) as { diagnostics: JsonDiag[]; files: { file: string; format: string; samples: number }[] };
    assert.deepEqual(out.diagnostics, []);
    assert.deepEqual(out.files.map((f) => [path.basename(f.file), f.format, f.samples]), [
      ['openai-chat.jsonl', 'openai-chat', 3], ['alpaca.jsonl', 'alpaca', 3], ['conversation.jsonl', 'conversation', 3],
      ['prompt-completion.jsonl', 'prompt-completion', 3], ['sharegpt.jsonl', 'sharegpt', 3],
    ]);
    const text = await cli(['lint', '--summary', `${FIX}/alpaca.jsonl`]);
    assert.equal(text.stdout, `${FIX}/alpaca.jsonl: Alpaca (alpaca), 3 samples, 0 errors, 0 warnings, 0 infos\n`);
  });
  test('BOM and CRLF from the bytes on disk', async () => {
    const r = await cli(['lint', `${FIX}/bom-crlf.jsonl`]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, [
      `${FIX}/bom-crlf.jsonl:1:1 warning bom the file starts with a UTF-8 byte-order mark (BOM), which some loaders read as part of the first key: save it as UTF-8 without BOM`,
      `${FIX}/bom-crlf.jsonl:1:218 information crlf 2 lines end with CRLF (Windows line endings); most tools expect LF`,
      '',
    ].join('\n'));
  });
  test('invalid UTF-8 is an error at the bad byte', async () => {
    const r = await cli(['lint', '--format', 'json', `${FIX}/invalid-utf8.jsonl`]);
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as JsonDiag[];
    assert.deepEqual(out.map((d) => [d.line, d.column, d.code]), [[2, 16, 'invalid-utf8'], [2, 2, 'mixed-format']].sort((a, b) => (a[1] as number) - (b[1] as number)));
  });
  test('--rule and .vscode/settings.json set severities', async () => {
    const dir = mkdtempSync(path.join(tmp, 'ws-'));
    writeFileSync(path.join(dir, 'd.jsonl'), '{"prompt": "a", "completion": "b"}\n\n');
    writeFileSync(path.join(dir, '.vscode-settings.json'), '{}');
    let r = await cli(['lint', 'd.jsonl'], { cwd: dir });
    assert.deepEqual([r.code, r.stdout.split(' ')[2]], [0, 'blank-line']);
    r = await cli(['lint', '--rule', 'blank-line=error', 'd.jsonl'], { cwd: dir });
    assert.deepEqual([r.code, r.stdout.split(' ')[1]], [1, 'error']);
    const vs = path.join(dir, '.vscode');
    require('node:fs').mkdirSync(vs);
    writeFileSync(path.join(vs, 'settings.json'), '{\n  // comments are fine here\n  "sftStudio.rules": {"blank-line": "off"},\n}\n');
    r = await cli(['lint', 'd.jsonl'], { cwd: dir });
    assert.deepEqual([r.code, r.stdout], [0, '']);
  });
  test('bad usage exits 2 with a clear message', async () => {
    let r = await cli(['lint', 'no/such/*.jsonl']);
    assert.deepEqual([r.code, r.stderr], [2, 'sft-studio: no file matches no/such/*.jsonl\n']);
    r = await cli(['lint', '--rule', 'nope=error', `${FIX}/alpaca.jsonl`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--rule nope=error: expected CODE=SEVERITY/);
    r = await cli(['frobnicate']);
    assert.deepEqual([r.code, r.stderr], [2, 'sft-studio: unknown command "frobnicate" (available: lint, fix, convert, tune, evaluate)\n']);
  });
  test('fix prints a unified diff, --write applies it and lint is then clean of fixable problems', async () => {
    const dir = mkdtempSync(path.join(tmp, 'fix-'));
    const file = path.join(dir, 'train.jsonl');
    const original = [
      '{"contents": [{"role": "user", "parts": [{"text": "q"}]}, {"role": "assistant", "parts": [{"text": "a"}]}]}',
      '',
      "{'prompt': 'p', 'completion': 'c'}",
    ].join('\r\n') + '\r\n';
    writeFileSync(file, '\ufeff' + original);
    let r = await cli(['fix', 'train.jsonl'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^--- a\/train\.jsonl/m);
    assert.match(r.stdout, /^-.*"role": "assistant"/m);
    assert.match(r.stdout, /^\+.*"role": "model"/m);
    assert.equal(require('node:fs').readFileSync(file, 'utf8'), '\ufeff' + original, 'without --write the file is untouched');
    r = await cli(['fix', '--write', 'train.jsonl'], { cwd: dir });
    assert.equal(r.stderr, 'train.jsonl: 5 fixes written\n');
    assert.equal(require('node:fs').readFileSync(file, 'utf8'), [
      '{"contents": [{"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": [{"text": "a"}]}]}',
      '{"prompt": "p", "completion": "c"}',
      '',
    ].join('\n'));
    r = await cli(['lint', 'train.jsonl'], { cwd: dir });
    assert.match(r.stdout, /mixed-format/);
    assert.doesNotMatch(r.stdout, /invalid-role|invalid-json|blank-line|crlf|bom/);
    // --dedupe: the explicit way to delete samples, keeping the first of each cluster.
    const dupFile = path.join(dir, 'dups.jsonl');
    const q = (text: string) => JSON.stringify({ prompt: text, completion: 'Hold the reset button for ten seconds until the light blinks.' });
    writeFileSync(dupFile, [q('How do I reset my router?'), q('Which port is for the modem?'), q('How do I reset my router?'), q('How do I reset my router ?')].join('\n') + '\n');
    r = await cli(['fix', 'dups.jsonl'], { cwd: dir });
    assert.equal(r.stdout, '', 'without --dedupe nothing is deleted');
    r = await cli(['fix', '--dedupe', '--write', 'dups.jsonl'], { cwd: dir });
    assert.equal(r.stderr, 'dups.jsonl: 2 fixes written\n');
    assert.equal(require('node:fs').readFileSync(dupFile, 'utf8'), [q('How do I reset my router?'), q('Which port is for the modem?')].join('\n') + '\n');
  });

  test('convert writes a copy in another format and reports what it could not carry over', async () => {
    const dir = mkdtempSync(path.join(tmp, 'convert-'));
    writeFileSync(path.join(dir, 'chat.jsonl'), [
      '{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}',
      '{"messages": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}]}',
      '',
    ].join('\n'));
    let r = await cli(['convert', 'chat.jsonl', '--to', 'vertex-gemini', '-o', 'gemini.jsonl'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const out = require('node:fs').readFileSync(path.join(dir, 'gemini.jsonl'), 'utf8') as string;
    assert.equal(out.split('\n')[0], '{"systemInstruction": {"parts": [{"text": "s"}]}, "contents": [{"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": [{"text": "a"}]}]}');
    r = await cli(['lint', 'gemini.jsonl'], { cwd: dir });
    assert.deepEqual([r.code, r.stdout], [0, '']);
    r = await cli(['convert', 'chat.jsonl', '--to', 'prompt-completion', '-o', 'pc.jsonl'], { cwd: dir });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, [
      'chat.jsonl:1: could not carry over the system instruction',
      'chat.jsonl:2: could not carry over more than one user turn and one model turn; copied as it is',
      'chat.jsonl: 1 sample converted to prompt-completion in pc.jsonl; 2 lines not carried over whole',
      '',
    ].join('\n'));
    r = await cli(['convert', 'chat.jsonl', '--to', 'alpaca', '-o', 'chat.jsonl'], { cwd: dir });
    assert.deepEqual([r.code, r.stderr], [2, 'sft-studio: -o must differ from the source: convert never writes over it\n']);
    r = await cli(['convert', 'chat.jsonl', '--to', 'alpaca', '-o', 'gemini.jsonl'], { cwd: dir });
    assert.deepEqual([r.code, r.stderr], [2, 'sft-studio: gemini.jsonl exists: use --force to replace it\n']);
  });

  test('leakage between train.jsonl and validation.jsonl is reported in both, with related lines in the other file', async () => {
    const dir = mkdtempSync(path.join(tmp, 'leak-'));
    const q = (text: string, a = 'Hold the reset button for ten seconds until the light blinks.') => JSON.stringify({ contents: [{ role: 'user', parts: [{ text }] }, { role: 'model', parts: [{ text: a }] }] });
    writeFileSync(path.join(dir, 'train.jsonl'), [q('Where is the serial number printed?', 'Under the router.'), q('How do I reset my router to factory settings?')].join('\n') + '\n');
    writeFileSync(path.join(dir, 'validation.jsonl'), [q('Which cable goes into the blue port?', 'The modem cable.'), q('How do I reset my router to factory settings?')].join('\n') + '\n');
    const r = await cli(['lint', '--format', 'json', 'train.jsonl', 'validation.jsonl'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as JsonDiag[];
    assert.deepEqual(out.map((d) => [d.file, d.line, d.code, d.message]), [
      ['train.jsonl', 2, 'leakage', 'also in validation.jsonl, line 2 (an exact copy): a sample in both splits makes the validation score lie'],
      ['validation.jsonl', 2, 'leakage', 'also in train.jsonl, line 2 (an exact copy): a sample in both splits makes the validation score lie'],
    ]);
    assert.deepEqual(out[0]?.related, [{ file: 'validation.jsonl', line: 2, message: 'exact copy in the other split' }]);
  });

  test('random bytes: diagnostics, no crash', async () => {
    const file = path.join(tmp, 'random.jsonl');
    const buf = Buffer.alloc(256 * 1024);
    let seed = 12345;
    for (let i = 0; i < buf.length; i++) buf[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    writeFileSync(file, buf);
    const r = await cli(['lint', '--format', 'json', file]);
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as JsonDiag[];
    assert.ok(out.length > 0);
    assert.ok(out.every((d) => d.line >= 1 && d.column >= 1));
  });
  test('a 1 GiB file without line breaks is streamed and reported, not loaded', async () => {
    const file = path.join(tmp, 'huge.jsonl');
    const fd = openSync(file, 'w');
    closeSync(fd);
    require('node:fs').truncateSync(file, 1024 ** 3);
    const r = await cli(['lint', '--format', 'json', file], { node: ['--max-old-space-size=256'] });
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout) as JsonDiag[];
    assert.deepEqual(out.map((d) => [d.line, d.code, d.message]), [[1, 'line-too-large', 'this line is 1024.0 MB, over the 64 MB limit for one sample: it was not checked']]);
  });
  test('a 1 GiB dataset is streamed with flat memory', async () => {
    const file = path.join(tmp, 'big.jsonl');
    const sample = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'q '.repeat(30_000) }] }, { role: 'model', parts: [{ text: 'a' }] }] }) + '\n';
    const block = Buffer.from(sample.repeat(Math.floor((8 << 20) / sample.length)));
    const fd = openSync(file, 'w');
    let written = 0;
    while (written < 1024 ** 3) written += writeSync(fd, block);
    closeSync(fd);
    const samples = (written / block.length) * (block.toString().split('\n').length - 1);
    const r = await cli(['lint', '--summary', file], { node: ['--max-old-space-size=256'] });
    assert.equal(r.code, 0, r.stderr);
    // Every sample is the same: each is an exact duplicate (a warning), and nothing else is wrong.
    const summary = r.stdout.trim().split('\n').at(-1);
    assert.equal(summary, `${file}: Vertex AI Gemini (vertex-gemini), ${samples} samples, 0 errors, ${samples} warnings, 0 infos`);
    assert.match(r.stdout.split('\n')[0] ?? '', new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1:2 warning duplicate duplicate of line 2 and ${samples - 2} more$`));
    rmSync(file);
  });
});

describe('sft-studio lint --target', () => {
  const file = `${FIX}/targets-openai.jsonl`;
  const both = 'vertex:gemini-2.5-flash,openai:gpt-4.1-mini';
  test('several targets at once: each target diagnostic names its target (text)', async () => {
    const r = await cli(['lint', '--target', both, file]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, [
      `${file}:1:2 error target-format [vertex:gemini-2.5-flash] this file is OpenAI chat, but Vertex AI gemini-2.5-flash reads vertex-gemini only: convert it (SFT Studio: Convert Dataset To…)`,
      `${file}:1:2 error too-few-examples [openai:gpt-4.1-mini] 3 samples, fewer than the 10 OpenAI gpt-4.1-mini needs: it rejects the file ("Training file has 3 example(s), but must have at least 10 examples")`,
      `${file}:1:61 error special-token [vertex:gemini-2.5-flash] the special token <|fim_suffix|> is inside the text: Vertex AI gemini-2.5-flash tunes on it as plain text, but a chat template built from it reads it as structure; remove it or write it another way`,
      `${file}:1:61 error special-token [openai:gpt-4.1-mini] the special token <|fim_suffix|> is inside the text: OpenAI gpt-4.1-mini rejects the file ("Example N message contains an invalid token: <|fim_suffix|>"); remove it or write it another way`,
      `${file}:2:103 error weight [openai:gpt-4.1-mini] \`weight\` is 2: OpenAI gpt-4.1-mini takes only 0 (do not train on this message) or 1 (train on it)`,
      '',
    ].join('\n'));
  });
  test('--format json carries the target; --summary the tokens, trained tokens and cost per target', async () => {
    const r = await cli(['lint', '--format', 'json', '--summary', '--target', both, file]);
    const out = JSON.parse(r.stdout) as { diagnostics: (JsonDiag & { target?: string })[]; files: { targets: { target: string; tokens: number; exact: boolean; epochs: number; trainedTokens: number; costUsd: number | null; overLimit: number }[] }[] };
    const special = out.diagnostics.filter((d) => d.code === 'special-token');
    assert.deepEqual(special.map((d) => [d.line, d.column, d.endColumn, d.target]), [[1, 61, 75, 'vertex:gemini-2.5-flash'], [1, 61, 75, 'openai:gpt-4.1-mini']]);
    assert.deepEqual(Object.keys(special[0]!), ['file', 'line', 'column', 'endLine', 'endColumn', 'severity', 'code', 'message', 'target']);
    const [v, o] = out.files[0]!.targets;
    assert.deepEqual([v?.target, v?.exact, o?.target, o?.exact], ['vertex:gemini-2.5-flash', true, 'openai:gpt-4.1-mini', true]);
    // Counted with o200k_base: 20 tokens of text, and 3 per message + 3 per sample for the chat template (3 × 9).
    assert.equal(o?.tokens, 20 + 27);
    assert.deepEqual([o?.epochs, o?.trainedTokens, o?.costUsd], [3, 141, (141 / 1e6) * 5]);
    assert.ok((v?.tokens ?? 0) > 20);
    const text = await cli(['lint', '--summary', '--target', 'openai:gpt-4.1-mini', '--estimate-tokens', file]);
    assert.match(text.stdout, /\n.*targets-openai\.jsonl: \[openai:gpt-4\.1-mini\] \d+ tokens \(estimated\) x 3 epochs = \d+ trained tokens, under \$0\.01; 0 samples over the 65,536-token limit\n$/);
  });
  test('without --target the format rules alone run; an unknown target is a usage error', async () => {
    const r = await cli(['lint', file]);
    assert.deepEqual([r.code, r.stdout], [0, '']);
    const bad = await cli(['lint', '--target', 'openai:gpt-9', file]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^sft-studio: --target: unknown target "openai:gpt-9"; known targets: vertex:gemini-2\.5-pro, /);
  });
});
