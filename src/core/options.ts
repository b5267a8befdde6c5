/** Lint options: the same shape for the server (from settings) and the CLI (from flags/config). */
import picomatch from 'picomatch';
import { ResolvedDedupeOptions, resolveDedupeOptions } from './dedupe/options';
import { FormatId, isFormatId } from './formats';
import { RULES, RuleId, Severity, SeveritySetting, isRuleId, SEVERITY_SETTINGS } from './rules';

/**
 * Maximum input + output tokens of one training example, per target model.
 * Sources: Vertex AI "About supervised fine-tuning for Gemini models" (Gemini 2.5
 * Pro/Flash/Flash-Lite and 2.0 Flash: 131,072); OpenAI fine-tuning guide (gpt-4.1
 * family and gpt-4o/gpt-4o-mini: 65,536; gpt-3.5-turbo: 16,385); the open models'
 * context lengths for local tuning (Gemma 3: 32,768 for the 1B and 131,072 for
 * larger sizes, here the safe 32,768; Gemma 2: 8,192; Llama 3.1+: 131,072; Qwen 2.5+: 32,768).
 */
export const DEFAULT_TOKEN_LIMITS: Readonly<Record<string, number>> = {
  'gemini-2.5-pro': 131072,
  'gemini-2.5-flash': 131072,
  'gemini-2.5-flash-lite': 131072,
  'gemini-2.0-flash': 131072,
  'gemini-2.0-flash-lite': 131072,
  'gpt-4.1': 65536,
  'gpt-4.1-mini': 65536,
  'gpt-4.1-nano': 65536,
  'gpt-4o': 65536,
  'gpt-4o-mini': 65536,
  'gpt-3.5-turbo': 16385,
  'gemma-3': 32768,
  'gemma-2': 8192,
  'llama-3': 131072,
  'qwen-2.5': 32768,
  'qwen-3': 32768,
};

export const DEFAULT_TARGET_MODEL = 'gemini-2.5-flash';

/** Lines longer than this (in UTF-16 code units) are reported, not parsed. */
export const DEFAULT_MAX_LINE_LENGTH = 64 * 1024 * 1024;

export interface LintOptions {
  /** Severity per rule; missing rules use their default. */
  readonly severities: Readonly<Partial<Record<RuleId, SeveritySetting>>>;
  /** Format pinned for this file (from the per-glob setting), if any. */
  readonly pinnedFormat: FormatId | undefined;
  readonly targetModel: string;
  readonly tokenLimit: number;
  readonly maxLineLength: number;
  /** Duplicate detection: threshold, n-gram size, which turns count. */
  readonly dedupe: ResolvedDedupeOptions;
  /** Whether duplicates and leakage are looked for at all (`duplicates.enabled`; the CLI's --no-duplicates). */
  readonly duplicates: boolean;
  /** Training file → validation file, for leakage (besides the conventional names). */
  readonly pairs: Readonly<Record<string, string>>;
}

export interface RawSettings {
  rules?: unknown;
  formats?: unknown;
  targetModel?: unknown;
  tokenLimits?: unknown;
  maxLineLength?: unknown;
  duplicates?: unknown;
  datasetPairs?: unknown;
}

export interface SettingsProblem {
  readonly setting: string;
  readonly message: string;
}

/** An object-valued setting, or undefined (with a problem) when it is something else. */
function objectSetting(value: unknown, setting: string, shape: string, problems: SettingsProblem[]): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    problems.push({ setting, message: `must be an object mapping ${shape}` });
    return undefined;
  }
  return value as Record<string, unknown>;
}

/**
 * Turn user settings (VS Code settings or a CLI config file) into options for one file.
 * Invalid entries are skipped and reported, never thrown.
 */
export function resolveOptions(raw: RawSettings, filePath: string | undefined): { options: LintOptions; problems: SettingsProblem[] } {
  const problems: SettingsProblem[] = [];
  const severities: Partial<Record<RuleId, SeveritySetting>> = {};
  const rules = objectSetting(raw.rules, 'rules', 'rule codes to error, warning, information, hint or off', problems);
  for (const [id, sev] of Object.entries(rules ?? {})) {
    if (!isRuleId(id)) {
      problems.push({ setting: `rules.${id}`, message: `unknown rule "${id}"; known rules: ${Object.keys(RULES).join(', ')}` });
    } else if (typeof sev !== 'string' || !(SEVERITY_SETTINGS as readonly string[]).includes(sev)) {
      problems.push({ setting: `rules.${id}`, message: `severity must be one of ${SEVERITY_SETTINGS.join(', ')}` });
    } else {
      severities[id] = sev as SeveritySetting;
    }
  }
  let pinnedFormat: FormatId | undefined;
  const formats = objectSetting(raw.formats, 'formats', 'globs to format ids', problems);
  for (const [glob, fmt] of Object.entries(formats ?? {})) {
    if (!isFormatId(fmt)) problems.push({ setting: `formats.${glob}`, message: `unknown format "${String(fmt)}"` });
    else if (filePath !== undefined && matchesGlob(glob, filePath)) pinnedFormat = fmt;
  }
  const targetModel = typeof raw.targetModel === 'string' && raw.targetModel.trim() ? raw.targetModel.trim() : DEFAULT_TARGET_MODEL;
  const limits: Record<string, number> = { ...DEFAULT_TOKEN_LIMITS };
  for (const [model, n] of Object.entries(objectSetting(raw.tokenLimits, 'tokenLimits', 'model names to token counts', problems) ?? {})) {
    if (typeof n === 'number' && Number.isFinite(n) && n > 0) limits[model] = Math.floor(n);
    else problems.push({ setting: `tokenLimits.${model}`, message: 'must be a positive number' });
  }
  let tokenLimit = limits[targetModel];
  if (tokenLimit === undefined) {
    // "gemini-2.5-flash-001" → "gemini-2.5-flash"; "google/gemma-3-4b-it" → "gemma-3".
    const key = Object.keys(limits)
      .filter((k) => targetModel.toLowerCase().includes(k))
      .sort((a, b) => b.length - a.length)[0];
    tokenLimit = key !== undefined ? (limits[key] as number) : Number.POSITIVE_INFINITY;
    if (key === undefined) problems.push({ setting: 'targetModel', message: `no token limit known for "${targetModel}"; add it to tokenLimits` });
  }
  const maxLineLength = typeof raw.maxLineLength === 'number' && raw.maxLineLength > 0 ? raw.maxLineLength : DEFAULT_MAX_LINE_LENGTH;
  const dup = objectSetting(raw.duplicates, 'duplicates', 'threshold, ngram and turns to their values', problems) ?? {};
  if (dup.threshold !== undefined && !(typeof dup.threshold === 'number' && dup.threshold > 0 && dup.threshold <= 1)) problems.push({ setting: 'duplicates.threshold', message: 'must be a number above 0 and at most 1' });
  if (dup.ngram !== undefined && !(typeof dup.ngram === 'number' && dup.ngram >= 1 && dup.ngram <= 32)) problems.push({ setting: 'duplicates.ngram', message: 'must be a whole number from 1 to 32' });
  if (dup.turns !== undefined && dup.turns !== 'all' && dup.turns !== 'user') problems.push({ setting: 'duplicates.turns', message: 'must be "all" or "user"' });
  if (dup.enabled !== undefined && typeof dup.enabled !== 'boolean') problems.push({ setting: 'duplicates.enabled', message: 'must be true or false' });
  const duplicates = dup.enabled !== false;
  const dedupe = resolveDedupeOptions({
    ...(typeof dup.threshold === 'number' ? { threshold: dup.threshold } : {}),
    ...(typeof dup.ngram === 'number' ? { ngram: dup.ngram } : {}),
    ...(dup.turns === 'user' ? { turns: 'user' as const } : {}),
  });
  const pairs: Record<string, string> = {};
  for (const [train, validation] of Object.entries(objectSetting(raw.datasetPairs, 'datasetPairs', 'training files to validation files', problems) ?? {})) {
    if (typeof validation === 'string' && validation.trim() !== '') pairs[train] = validation;
    else problems.push({ setting: `datasetPairs.${train}`, message: 'must be the path of the validation file' });
  }
  return { options: { severities, pinnedFormat, targetModel, tokenLimit, maxLineLength, dedupe, duplicates, pairs }, problems };
}

export const DEFAULT_OPTIONS: LintOptions = resolveOptions({}, undefined).options;

export function severityOf(options: LintOptions, rule: RuleId): SeveritySetting {
  return options.severities[rule] ?? RULES[rule].defaultSeverity;
}

export function effectiveSeverity(options: LintOptions, rule: RuleId): Severity | undefined {
  const s = severityOf(options, rule);
  return s === 'off' ? undefined : s;
}

/** Glob match on a path with `/` separators; a glob without `/` matches the base name anywhere. */
export function matchesGlob(glob: string, filePath: string): boolean {
  const p = filePath.replace(/\\/g, '/');
  return picomatch.isMatch(p, glob, { dot: true, basename: !glob.includes('/') }) ||
    (!glob.startsWith('**/') && glob.includes('/') && picomatch.isMatch(p, '**/' + glob, { dot: true }));
}
