/**
 * sft-studio: the command-line twin of the editor's linter, for CI.
 *
 *   sft-studio lint [options] <files or globs...>
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseJsonc, ParseError } from 'jsonc-parser';
import { glob } from 'tinyglobby';
import { convertLines } from '../core/convert';
import type { Diagnostic } from '../core/document';
import { serializeLike } from '../core/fixes';
import { FORMAT_IDS, isFormatId } from '../core/formats';
import { RawSettings, resolveOptions } from '../core/options';
import { RULE_IDS, SEVERITY_SETTINGS, isRuleId } from '../core/rules';
import { fixFile, unifiedDiff, writeFixed } from './fixFile';
import { FileLintResult, lintFile } from './lintFile';
import { PartnerIndex, findPartner } from '../core/leakage';
import { TuneUsageError, runTune } from './tune';
import { EvaluateUsageError, runEvaluate } from './evaluate';
import { TARGET_IDS, costText } from '../core/targets';
import { TokenWorker } from '../tokenize/client';
import type { ExactTokenizerId } from '../tokenize/counters';

const USAGE = `Usage: sft-studio lint [options] <files or globs...>
       sft-studio fix [--write] [--dedupe] <files or globs...>
       sft-studio convert <file> --to FORMAT -o OUT [--force]
       sft-studio tune <train.jsonl> --backend local --model ID [options]   (sft-studio tune --help)
       sft-studio evaluate <validation.jsonl> --model ID [options]   (sft-studio evaluate --help)

Checks JSONL fine-tuning datasets: broken JSON, schema and format conventions,
roles, empty turns, system instructions, sample length, line endings.

Options:
  --format text|json        output format (default: text)
  --summary                 also print each file's format and sample count
  --target LIST             check against these targets, comma-separated, e.g.
                            vertex:gemini-2.5-flash,openai:gpt-4.1-mini (known: ${TARGET_IDS.join(', ')};
                            or local:MODEL); each target diagnostic names its target
  --estimate-tokens         with --target: estimate token counts instead of counting with the target's tokenizer
  --target-model NAME       model whose token limit applies (default: gemini-2.5-flash); superseded by --target
  --rule CODE=SEVERITY      set a rule's severity (error, warning, information, hint, off); repeatable
  --no-duplicates           skip duplicate and leakage detection (the slowest check)
  --pin-format FORMAT       check every file as this format (${FORMAT_IDS.join(', ')})
  --config FILE             read sftStudio.* settings from this JSON file
                            (default: .vscode/settings.json in the current folder, when present)
  --no-config               ignore .vscode/settings.json
  -h, --help                show this help

fix applies every safe fix (role names, system instructions, merged turns, JSON
repairs, split and joined lines, BOM, CRLF, blank lines) and prints a unified diff;
--write changes the files instead. It never deletes a sample, unless --dedupe
asks it to keep only the first sample of each duplicate cluster (exact and near
copies, after the other fixes).

convert writes a copy of a dataset in another format (${FORMAT_IDS.join(', ')}) and
lists on stderr every line that could not be carried over whole (such lines are
copied as they are). It never writes over the source; --force replaces OUT.

Exit status (lint): 0 when no error was found, 1 when at least one error was, 2 on bad usage or unreadable input.
JSON output: an array of {file, line, column, endLine, endColumn, severity, code, message, target?, related?},
1-based lines and columns; with --summary, {"diagnostics": [...], "files": [{file, format, samples, errors, warnings, infos, targets}]},
targets being [{target, tokens, exact, counted, epochs, trainedTokens, costUsd, tokenLimit, overLimit}]. With --target,
the samples whose estimate is over a quarter of a limit are counted with the target's tokenizer, and so are the first
100 samples and every 500th, which calibrate the estimates of the others for the totals.`;

export interface JsonDiagnostic {
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  severity: Diagnostic['severity'];
  code: string;
  message: string;
  target?: string;
  related?: { file: string; line: number; message: string }[];
}

export function toJson(file: string, d: Diagnostic): JsonDiagnostic {
  const out: JsonDiagnostic = {
    file, line: d.line + 1, column: d.column + 1, endLine: d.endLine + 1, endColumn: d.endColumn + 1, severity: d.severity, code: d.code, message: d.message,
  };
  if (d.target !== undefined) out.target = d.target;
  if (d.related && d.related.length > 0) out.related = d.related.map((r) => ({ file: r.file ?? file, line: r.line + 1, message: r.message }));
  return out;
}

class UsageError extends Error {}

function readSettingsFile(file: string): RawSettings {
  const text = readFileSync(file, 'utf8');
  const errors: ParseError[] = [];
  const value: unknown = parseJsonc(text, errors, { allowTrailingComma: true });
  if (errors.length > 0 || typeof value !== 'object' || value === null) throw new UsageError(`${file}: not a valid JSON settings file`);
  const obj = value as Record<string, unknown>;
  const nested = typeof obj.sftStudio === 'object' && obj.sftStudio !== null ? (obj.sftStudio as Record<string, unknown>) : {};
  const pick = (k: keyof RawSettings) => obj[`sftStudio.${k}`] ?? nested[k];
  return { rules: pick('rules'), formats: pick('formats'), targetModel: pick('targetModel'), tokenLimits: pick('tokenLimits'), maxLineLength: pick('maxLineLength'), duplicates: pick('duplicates'), datasetPairs: pick('datasetPairs'), target: pick('target'), targets: pick('targets'), epochs: pick('epochs'), prices: pick('prices') };
}

async function expand(patterns: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of patterns) {
    if (existsSync(p) && statSync(p).isFile()) {
      files.push(p);
      continue;
    }
    const matches = (await glob(p.replace(/\\/g, '/'), { onlyFiles: true, dot: false, expandDirectories: false })).sort();
    if (matches.length === 0) throw new UsageError(existsSync(p) ? `${p} is a folder: give files or a glob such as "${p}/**/*.jsonl"` : `no file matches ${p}`);
    files.push(...matches);
  }
  return [...new Set(files)];
}

export async function runLint(argv: string[], write: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      format: { type: 'string', default: 'text' },
      summary: { type: 'boolean', default: false },
      'target-model': { type: 'string' },
      target: { type: 'string' },
      'estimate-tokens': { type: 'boolean', default: false },
      rule: { type: 'string', multiple: true },
      'pin-format': { type: 'string' },
      'no-duplicates': { type: 'boolean', default: false },
      config: { type: 'string' },
      'no-config': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    write(USAGE + '\n');
    return 0;
  }
  if (values.format !== 'text' && values.format !== 'json') throw new UsageError(`--format must be text or json, not ${values.format}`);
  if (positionals.length === 0) throw new UsageError('give at least one file or glob');
  let settings: RawSettings = {};
  if (values.config !== undefined) settings = readSettingsFile(values.config);
  else if (!values['no-config'] && existsSync(path.join('.vscode', 'settings.json'))) settings = readSettingsFile(path.join('.vscode', 'settings.json'));
  const rules: Record<string, string> = { ...((settings.rules as Record<string, string> | undefined) ?? {}) };
  for (const r of values.rule ?? []) {
    const [id, sev] = r.split('=');
    if (id === undefined || sev === undefined || !isRuleId(id)) throw new UsageError(`--rule ${r}: expected CODE=SEVERITY with CODE one of ${RULE_IDS.join(', ')}`);
    if (!(SEVERITY_SETTINGS as readonly string[]).includes(sev)) throw new UsageError(`--rule ${r}: severity must be one of ${SEVERITY_SETTINGS.join(', ')}`);
    rules[id] = sev;
  }
  const pin = values['pin-format'];
  if (pin !== undefined && !isFormatId(pin)) throw new UsageError(`--pin-format must be one of ${FORMAT_IDS.join(', ')}`);
  settings = { ...settings, rules, ...(values['target-model'] !== undefined ? { targetModel: values['target-model'] } : {}) };
  if (values.target !== undefined) {
    if (values.target.trim() === '') throw new UsageError(`--target needs a target, e.g. ${TARGET_IDS.slice(0, 2).join(',')}`);
    // The targets given on the command line replace those of the settings, per-glob ones included.
    settings = { ...settings, target: values.target, targets: undefined };
  }
  // Exact counts in token workers (one per tokenizer), beside the parsing on this thread.
  const workers = new Map<ExactTokenizerId, TokenWorker>();
  const countExact = values['estimate-tokens'] ? undefined : async (tokenizer: ExactTokenizerId, samples: readonly (readonly string[])[]) => {
    let w = workers.get(tokenizer);
    if (w === undefined) workers.set(tokenizer, (w = new TokenWorker(path.join(__dirname, 'tokenWorker.js'))));
    return (await w.count(tokenizer, samples)).counts;
  };
  const files = await expand(positionals);
  const results: FileLintResult[] = [];
  const partners = new Map<string, PartnerIndex>();
  let errors = 0;
  for (const file of files) {
    const resolved = resolveOptions(settings, path.resolve(file));
    let options = resolved.options;
    for (const p of resolved.problems) {
      if (p.setting === 'target' && values.target !== undefined) throw new UsageError(`--target: ${p.message}`);
      process.stderr.write(`sft-studio: setting ${p.setting}: ${p.message}\n`);
    }
    // The other split (validation for training, and back), for leakage; shown relative like the files given.
    if (values['no-duplicates']) options = { ...options, duplicates: false };
    const partnerPath = !options.duplicates ? undefined : findPartner(path.resolve(file), options.pairs, process.cwd(), existsSync);
    let partner: PartnerIndex | undefined;
    if (partnerPath !== undefined) {
      const shown = path.isAbsolute(file) ? partnerPath : path.relative(process.cwd(), partnerPath);
      partner = partners.get(shown);
      if (partner === undefined) {
        const lines = readFileSync(partnerPath, 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/);
        partners.set(shown, (partner = new PartnerIndex(shown, lines, options.dedupe)));
      }
    }
    const result = await lintFile(file, pin !== undefined ? { ...options, pinnedFormat: pin } : options, partner, countExact);
    errors += result.summary.errors;
    results.push(result);
    if (values.format === 'text') {
      for (const d of result.diagnostics) write(`${file}:${d.line + 1}:${d.column + 1} ${d.severity} ${d.code}${d.target !== undefined ? ` [${d.target}]` : ''} ${d.message}\n`);
    }
  }
  await Promise.all([...workers.values()].map((w) => w.dispose()));
  if (values.format === 'text') {
    if (values.summary) {
      for (const r of results) {
        const s = r.summary;
        const n = (k: number, word: string) => `${k} ${word}${k === 1 ? '' : 's'}`;
        write(`${r.file}: ${s.formatLabel}${s.format ? ` (${s.format}${s.formatSource === 'pinned' ? ', pinned' : ''})` : ''}, ${n(s.samples, 'sample')}, ${n(s.errors, 'error')}, ${n(s.warnings, 'warning')}, ${n(s.infos, 'info')}\n`);
        for (const t of s.targets) {
          const cost = `, ${costText(t)}`;
          write(`${r.file}: [${t.target}] ${t.tokens.toLocaleString('en-US')} tokens (${t.exact ? 'counted' : t.counted > 0 ? `${t.counted.toLocaleString('en-US')} samples counted, the others estimated and calibrated` : 'estimated'}) x ${t.epochs} epochs = ${t.trainedTokens.toLocaleString('en-US')} trained tokens${cost}; ${t.tokenLimit !== null ? `${n(t.overLimit, 'sample')} over the ${t.tokenLimit.toLocaleString('en-US')}-token limit` : 'no token limit known'}\n`);
        }
      }
    }
  } else {
    const diagnostics = results.flatMap((r) => r.diagnostics.map((d) => toJson(r.file, d)));
    const out = values.summary
      ? { diagnostics, files: results.map((r) => ({
        file: r.file, format: r.summary.format ?? null, samples: r.summary.samples, errors: r.summary.errors, warnings: r.summary.warnings, infos: r.summary.infos,
        targets: r.summary.targets.map((t) => ({ target: t.target, tokens: t.tokens, exact: t.exact, counted: t.counted, epochs: t.epochs, trainedTokens: t.trainedTokens, costUsd: t.costUsd, priceVerified: t.priceVerified, tokenLimit: t.tokenLimit, overLimit: t.overLimit })),
      })) }
      : diagnostics;
    write(JSON.stringify(out, null, 2) + '\n');
  }
  return errors > 0 ? 1 : 0;
}

export async function runFix(argv: string[], write: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      write: { type: 'boolean', default: false },
      dedupe: { type: 'boolean', default: false },
      config: { type: 'string' },
      'no-config': { type: 'boolean', default: false },
    },
  });
  if (positionals.length === 0) throw new UsageError('give at least one file or glob');
  let settings: RawSettings = {};
  if (values.config !== undefined) settings = readSettingsFile(values.config);
  else if (!values['no-config'] && existsSync(path.join('.vscode', 'settings.json'))) settings = readSettingsFile(path.join('.vscode', 'settings.json'));
  for (const file of await expand(positionals)) {
    const result = await fixFile(file, resolveOptions(settings, path.resolve(file)).options, values.dedupe);
    if (result.titles.length === 0) continue;
    if (values.write) {
      await writeFixed(result);
      process.stderr.write(`${file}: ${result.titles.length} fix${result.titles.length === 1 ? '' : 'es'} written\n`);
    } else {
      write(unifiedDiff(result));
    }
  }
  return 0;
}

export async function runConvert(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { to: { type: 'string' }, output: { type: 'string', short: 'o' }, force: { type: 'boolean', default: false } },
  });
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0) throw new UsageError('convert takes exactly one file');
  if (!isFormatId(values.to)) throw new UsageError(`--to must be one of ${FORMAT_IDS.join(', ')}`);
  if (values.output === undefined) throw new UsageError('give the output file with -o OUT');
  if (path.resolve(values.output) === path.resolve(file)) throw new UsageError('-o must differ from the source: convert never writes over it');
  if (existsSync(values.output) && !values.force) throw new UsageError(`${values.output} exists: use --force to replace it`);
  const text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '').replace(/\r\n/g, '\n');
  const r = convertLines(text.split('\n'), values.to, serializeLike);
  writeFileSync(values.output, r.lines.join('\n'));
  for (const p of r.problems) process.stderr.write(`${file}:${p.line + 1}: could not carry over ${p.lost.join('; ')}\n`);
  process.stderr.write(`${file}: ${r.converted} sample${r.converted === 1 ? '' : 's'} converted to ${values.to} in ${values.output}; ${r.problems.length} line${r.problems.length === 1 ? '' : 's'} not carried over whole\n`);
  return r.problems.some((p) => p.text === undefined) ? 1 : 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const write = (s: string) => {
    process.stdout.write(s);
  };
  try {
    if (command === 'lint') return await runLint(rest, write);
    if (command === 'fix') return await runFix(rest, write);
    if (command === 'convert') return await runConvert(rest);
    if (command === 'tune') return await runTune(rest, write);
    if (command === 'evaluate') return await runEvaluate(rest, write);
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      write(USAGE + '\n');
      return command === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown command "${command}" (available: lint, fix, convert, tune, evaluate)`);
  } catch (err) {
    if (err instanceof UsageError || err instanceof TuneUsageError || err instanceof EvaluateUsageError || (err instanceof TypeError && 'code' in err && String((err as { code: unknown }).code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`sft-studio: ${err.message}\n`);
      return 2;
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'EISDIR') {
      process.stderr.write(`sft-studio: ${e.message}\n`);
      return 2;
    }
    throw err;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`sft-studio: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      process.exitCode = 2;
    },
  );
}
