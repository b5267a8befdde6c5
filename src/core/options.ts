/** Lint options: the same shape for the server (from settings) and the CLI (from flags/config). */
import picomatch from 'picomatch';
import { ResolvedDedupeOptions, resolveDedupeOptions } from './dedupe/options';
import { FormatId, isFormatId } from './formats';
import { RULES, RuleId, Severity, SeveritySetting, isRuleId, SEVERITY_SETTINGS } from './rules';
import { ResolvedTarget, TARGET_IDS, TargetProfile, findTarget } from './targets';
import PRICE_TABLE from '../../data/prices.json';

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
  /**
   * The services and models the file is checked for (`sftStudio.target`, `sftStudio.targets`
   * per glob, the CLI's --target). Empty: no target chosen; only the (estimated) token limit of
   * the older `targetModel` setting applies, as it did before targets existed.
   */
  readonly targets: readonly ResolvedTarget[];
  /** Whether the file is a training or validation split, from its name or `datasetPairs`. */
  readonly split: 'training' | 'validation' | undefined;
}

export interface RawSettings {
  rules?: unknown;
  formats?: unknown;
  targetModel?: unknown;
  tokenLimits?: unknown;
  maxLineLength?: unknown;
  duplicates?: unknown;
  datasetPairs?: unknown;
  /** "provider:model", or several separated by commas (the CLI's --target). */
  target?: unknown;
  /** Glob → "provider:model". */
  targets?: unknown;
  epochs?: unknown;
  prices?: unknown;
}

/** Default epochs for the trained-token estimate when `sftStudio.epochs` is not set. */
export const DEFAULT_EPOCHS = 3;

interface PriceEntry { usdPerMillionTrainingTokens: number; source?: string; verified?: boolean }

/** The price table shipped in data/prices.json. */
export const BUILTIN_PRICES: Readonly<Record<string, PriceEntry>> = (PRICE_TABLE as { prices: Record<string, PriceEntry> }).prices;

const HELDOUT = /(^|[^a-z])(validation|valid|val|eval|dev|test)([^a-z]|$)/i;
const TRAINING = /(^|[^a-z])(train|training)([^a-z]|$)/i;

/** A file's split: named in `datasetPairs` (either side), else by the conventional words in its name. */
export function splitOf(filePath: string, pairs: Readonly<Record<string, string>>): 'training' | 'validation' | undefined {
  const p = filePath.replace(/\\/g, '/');
  const ends = (q: string) => p === q || p.endsWith('/' + q.replace(/\\/g, '/').replace(/^\.\//, ''));
  for (const [train, validation] of Object.entries(pairs)) {
    if (ends(validation)) return 'validation';
    if (ends(train)) return 'training';
  }
  const base = p.slice(p.lastIndexOf('/') + 1);
  if (HELDOUT.test(base)) return 'validation';
  if (TRAINING.test(base)) return 'training';
  return undefined;
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
  const split = filePath !== undefined ? splitOf(filePath, pairs) : undefined;
  // Targets: the CLI list or the setting, a per-glob choice over it, else the old targetModel when it names a known model.
  let targetNames: string[] = [];
  if (raw.target !== undefined && raw.target !== null && raw.target !== '') {
    if (typeof raw.target === 'string') targetNames = raw.target.split(',').map((t) => t.trim()).filter((t) => t !== '');
    else problems.push({ setting: 'target', message: `must be a target such as ${TARGET_IDS.slice(0, 3).join(', ')}` });
  }
  for (const [glob, t] of Object.entries(objectSetting(raw.targets, 'targets', 'globs to targets', problems) ?? {})) {
    if (typeof t !== 'string') problems.push({ setting: `targets.${glob}`, message: 'must be a target such as vertex:gemini-2.5-flash' });
    else if (filePath !== undefined && matchesGlob(glob, filePath)) targetNames = t.split(',').map((x) => x.trim()).filter((x) => x !== '');
  }
  const profiles: TargetProfile[] = [];
  for (const name of targetNames) {
    const profile = findTarget(name) ?? localTarget(name, limits);
    if (profile === undefined) problems.push({ setting: 'target', message: `unknown target "${name}"; known targets: ${TARGET_IDS.join(', ')} (or local:MODEL with its limit in tokenLimits)` });
    else if (!profiles.some((p) => p.id === profile.id)) profiles.push(profile);
  }
  let epochs = DEFAULT_EPOCHS;
  if (raw.epochs !== undefined && raw.epochs !== null) {
    if (typeof raw.epochs === 'number' && Number.isFinite(raw.epochs) && raw.epochs > 0) epochs = raw.epochs;
    else problems.push({ setting: 'epochs', message: 'must be a positive number' });
  }
  const prices: Record<string, PriceEntry> = { ...BUILTIN_PRICES };
  for (const [id, entry] of Object.entries(objectSetting(raw.prices, 'prices', 'targets to {"usdPerMillionTrainingTokens": N}', problems) ?? {})) {
    const n = typeof entry === 'number' ? entry : typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>).usdPerMillionTrainingTokens : undefined;
    if (typeof n === 'number' && Number.isFinite(n) && n >= 0) prices[id] = { usdPerMillionTrainingTokens: n, source: 'the sftStudio.prices setting', verified: true };
    else problems.push({ setting: `prices.${id}`, message: 'must be {"usdPerMillionTrainingTokens": N} or a number' });
  }
  const targets: ResolvedTarget[] = profiles.map((p) => {
    const limit = limits[p.id] ?? (raw.tokenLimits !== undefined && Object.prototype.hasOwnProperty.call(raw.tokenLimits, p.model) ? limits[p.model] : undefined);
    const price = prices[p.id];
    return { ...p, tokenLimit: limit ?? p.maxTokensPerExample, usdPerMillion: price?.usdPerMillionTrainingTokens, priceSource: price?.source, priceVerified: price?.verified === true, epochs };
  });
  return { options: { severities, pinnedFormat, targetModel, tokenLimit, maxLineLength, dedupe, duplicates, pairs, targets, split }, problems };
}

/** A local model named by the user ("local:my-model"), whose limit is in tokenLimits. */
function localTarget(name: string, limits: Readonly<Record<string, number>>): TargetProfile | undefined {
  const m = /^local:(.+)$/i.exec(name.trim());
  if (m === null) return undefined;
  const model = (m[1] as string).trim();
  const key = Object.keys(limits).filter((k) => model.toLowerCase().includes(k.toLowerCase())).sort((a, b) => b.length - a.length)[0];
  return { id: `local:${model}`, provider: 'local', model, label: `local ${model}`, tokenizer: 'estimate', maxTokensPerExample: key !== undefined ? (limits[key] as number) : Number.POSITIVE_INFINITY };
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
