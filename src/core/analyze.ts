/**
 * Everything that can be said about one line on its own. The result depends only
 * on the line's text, the options and (for a line of no recognisable format) the
 * file's format, so it is cached per line and recomputed only when the line changes.
 */
import { FORMATS, FormatId, JsonPath, Turn, detectFormat, extractTurns, formatsUsingRole, guessKind, intendedRole, markerKeyOf } from './formats';
import { Locator, Span, describeSyntaxError } from './locate';
import type { LintOptions } from './options';
import type { RuleId } from './rules';
import { schemaProblems } from './schemas';
import { estimateSampleTokens } from './tokens';
import { targetSampleDiagnostics } from './targets';

export interface LineDiagnostic extends Span {
  readonly code: RuleId;
  readonly message: string;
  /** The target ("provider:model") whose documented rules this comes from; none for format rules. */
  readonly target?: string;
}

export type LineKind = 'blank' | 'invalid' | 'sample';

export interface SystemInfo {
  /** Hash of the trimmed system instruction text, to compare samples cheaply. */
  readonly hash: number;
  /** The first characters, for messages. */
  readonly preview: string;
  /** Where it is; turned into a range only when a diagnostic needs one. */
  readonly path: JsonPath;
}

export interface LineAnalysis {
  readonly kind: LineKind;
  /** Format detected from the line's own keys. */
  readonly ownFormat: FormatId | undefined;
  /** Format the line was checked as (its own, else the file's). */
  readonly checkedAs: FormatId | undefined;
  readonly diagnostics: readonly LineDiagnostic[];
  readonly system: SystemInfo | undefined;
  /** The top-level key that gave the line's format away (squiggled when the line is of another format). */
  readonly markerKey: string | undefined;
  readonly turns: number;
  readonly chars: number;
  /** Estimated tokens (see tokens.ts); exact counts arrive later from a tokenizer. */
  readonly tokens: number;
  /** UTF-8 bytes of the line, for the file-size rule. */
  readonly bytes: number;
}

const NO_DIAGNOSTICS: readonly LineDiagnostic[] = Object.freeze([]);

/** cyrb53: a fast 53-bit string hash (public domain), good enough to group equal texts. */
export function hashText(str: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

export function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0xfeff) return false;
  }
  return true;
}

const BLANK: LineAnalysis = Object.freeze({
  kind: 'blank', ownFormat: undefined, checkedAs: undefined,
  diagnostics: Object.freeze([]), system: undefined, markerKey: undefined, turns: 0, chars: 0, tokens: 0, bytes: 0,
});

const invalid = (diagnostics: LineDiagnostic[], text: string): LineAnalysis => ({
  kind: 'invalid', ownFormat: undefined, checkedAs: undefined, diagnostics, system: undefined, markerKey: undefined, turns: 0, chars: text.length, tokens: 0, bytes: Buffer.byteLength(text),
});

function roleSuggestion(format: FormatId, role: string): string {
  const info = FORMATS[format];
  const lower = role.trim().toLowerCase();
  if (lower !== role && Object.prototype.hasOwnProperty.call(info.roles, lower)) {
    return `role names are lowercase: use "${lower}"`;
  }
  const owners = formatsUsingRole(lower).filter((f) => f !== format);
  const ownName = intendedRole(format, role);
  const known = Object.keys(info.roles).map((r) => `"${r}"`).join(', ');
  if (ownName !== undefined && ownName !== role) {
    const whose = owners.length > 0 ? ` ("${role}" is ${FORMATS[owners[0] as FormatId].label}'s)` : '';
    return `use "${ownName}"${whose}`;
  }
  return `${info.label} roles are ${known}`;
}

const kindName = (turn: Turn): string =>
  turn.implicit ? `\`${turn.role}\`` : `"${turn.role}"`;

function conventionDiagnostics(format: FormatId, turns: readonly Turn[], loc: Locator, out: LineDiagnostic[]): void {
  const info = FORMATS[format];
  const roleBased = info.turnsKey !== undefined;
  // Role names, and system turns where the format wants them elsewhere.
  let seenNonSystem = false;
  for (const turn of turns) {
    if (turn.implicit) {
      if (turn.kind !== 'system') seenNonSystem = true;
      continue;
    }
    if (turn.kind === undefined) {
      if (format === 'vertex-gemini' && turn.role.trim().toLowerCase() === 'system') {
        out.push({ ...loc.value(turn.rolePath), code: 'system-turn', message: 'a "system" turn in `contents`: Vertex AI Gemini takes the system instruction in `systemInstruction`, not as a turn' });
      } else {
        const article = /^[AEIOU]/.test(info.label) ? 'an' : 'a';
        out.push({ ...loc.value(turn.rolePath), code: 'invalid-role', message: `"${turn.role}" is not ${article} ${info.label} role: ${roleSuggestion(format, turn.role)}` });
      }
      continue;
    }
    if (turn.kind === 'system') {
      if (seenNonSystem) out.push({ ...loc.value(turn.rolePath), code: 'system-turn', message: 'a system message after the conversation has started: it must be the first message' });
    } else {
      seenNonSystem = true;
    }
  }
  // Empty turns.
  for (const turn of turns) {
    if (turn.hasNonText || turn.text.trim() !== '') continue;
    const span = turn.textPath ? loc.value(turn.textPath) : loc.valueOrKey(turn.turnPath);
    const what = turn.kind === 'system' ? 'the system instruction' : turn.implicit ? `${kindName(turn)}` : `this "${turn.role}" turn`;
    out.push({ ...span, code: 'empty-turn', message: `${what} is ${turn.text.length > 0 ? 'only whitespace' : 'empty'}` });
  }
  if (!roleBased) return;
  // Role order: starts with the user, alternates, tool results follow the model, ends with the model.
  // A misnamed role counts as what it most likely means ("assistant" in Vertex: the model);
  // when that cannot be guessed, the order is not judged (invalid-role already says why).
  const guessed: Turn[] = [];
  for (const t of turns) {
    if (t.implicit) continue;
    const kind = t.kind ?? guessKind(t.role);
    if (kind === undefined) return;
    if (kind !== 'system') guessed.push(kind === t.kind ? t : { ...t, kind });
  }
  const convo = guessed;
  const userName = info.roleNames.user ?? 'user';
  const modelName = info.roleNames.model ?? 'model';
  if (convo.length === 0) {
    if (turns.length > 0 && turns.every((t) => t.kind !== undefined)) {
      out.push({ ...loc.key([info.turnsKey as string]), code: 'role-order', message: `the sample has no "${userName}" or "${modelName}" turn` });
    }
    return;
  }
  const first = convo[0] as Turn;
  if (first.kind !== 'user') {
    out.push({ ...loc.value(first.rolePath), code: 'role-order', message: `the sample starts with a "${first.role}" turn: it must start with a "${userName}" turn` });
  }
  for (let i = 1; i < convo.length; i++) {
    const prev = convo[i - 1] as Turn;
    const cur = convo[i] as Turn;
    if (cur.kind === 'user' && prev.kind === 'user') {
      out.push({ ...loc.value(cur.rolePath), code: 'role-order', message: `two "${userName}" turns in a row: merge them, or put the "${modelName}" answer between them` });
    } else if (cur.kind === 'model' && prev.kind === 'model' && format !== 'sharegpt') {
      out.push({ ...loc.value(cur.rolePath), code: 'role-order', message: `two "${modelName}" turns in a row: merge them, or put a "${userName}" turn between them` });
    } else if (cur.kind === 'tool' && prev.kind === 'user') {
      out.push({ ...loc.value(cur.rolePath), code: 'role-order', message: `a "${cur.role}" result must follow the "${modelName}" turn that called the tool` });
    } else if (cur.kind === 'user' && prev.kind === 'tool') {
      out.push({ ...loc.value(cur.rolePath), code: 'role-order', message: `after a tool result the "${modelName}" must answer before the next "${userName}" turn` });
    }
  }
  const last = convo[convo.length - 1] as Turn;
  if (last.kind !== 'model') {
    out.push({ ...loc.value(last.rolePath), code: 'role-order', message: `the sample ends with a "${last.role}" turn: the last turn must be the "${modelName}" answer, the text the model learns` });
  }
}

function lineTooLarge(text: string, options: LintOptions): LineAnalysis {
  const mb = (text.length / (1024 * 1024)).toFixed(1);
  const limit = (options.maxLineLength / (1024 * 1024)).toFixed(0);
  return invalid([{ start: 0, end: Math.min(text.length, 1), code: 'line-too-large', message: `this line is ${mb} MB, over the ${limit} MB limit for one sample: it was not checked` }], text);
}

/**
 * Analyse one line (without its line break). `fileFormat` is used only when the
 * line's own keys name no format.
 */
export function analyzeLine(
  text: string, options: LintOptions, fileFormat: FormatId | undefined,
  /** Given the turns of a sample whose own keys name its format, so a caller need not parse the line again. */
  onTurns?: (turns: readonly Turn[]) => void,
): LineAnalysis {
  if (isBlank(text)) return BLANK;
  if (text.length > options.maxLineLength) return lineTooLarge(text, options);
  // A BOM at the start of the first line is reported by the document, not as bad JSON.
  const body = text.charCodeAt(0) === 0xfeff ? ' ' + text.slice(1) : text;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    const e = describeSyntaxError(body, err instanceof Error ? err.message : String(err));
    return invalid([{ start: e.start, end: e.end, code: 'invalid-json', message: e.message }], text);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const what = Array.isArray(value) ? 'a list' : value === null ? 'null' : `a ${typeof value}`;
    return invalid([{ start: 0, end: text.length, code: 'not-an-object', message: `a sample must be a JSON object, not ${what}` }], text);
  }
  const obj = value as Record<string, unknown>;
  const loc = new Locator(body);
  const ownFormat = detectFormat(obj);
  const format = ownFormat ?? fileFormat;
  const diagnostics: LineDiagnostic[] = [];
  if (format === undefined) {
    diagnostics.push({
      ...loc.firstKey(), code: 'unknown-format',
      message: 'this sample matches no known format: expected `contents` (Vertex AI Gemini), `messages` (OpenAI chat), `conversations` (ShareGPT), `conversation` (role/message), `instruction`/`output` (Alpaca) or `prompt`/`completion`',
    });
    return { kind: 'sample', ownFormat, checkedAs: undefined, diagnostics, system: undefined, markerKey: undefined, turns: 0, chars: text.length, tokens: 0, bytes: Buffer.byteLength(text) };
  }
  for (const p of schemaProblems(format, obj)) {
    diagnostics.push({ ...loc.valueOrKey(p.path), code: 'schema', message: p.message });
  }
  const turns = extractTurns(format, obj);
  if (onTurns !== undefined && ownFormat !== undefined) onTurns(turns);
  conventionDiagnostics(format, turns, loc, diagnostics);
  const tokens = estimateSampleTokens(turns.map((t) => t.text));
  if (options.targets.length > 0) {
    for (const d of targetSampleDiagnostics(format, obj, turns, loc, body, options.targets)) diagnostics.push(d);
  } else if (tokens > options.tokenLimit) {
    // No target chosen: the token limit of `targetModel` (targets check their own limit, with exact counts, in the document).
    diagnostics.push({
      ...loc.firstKey(), code: 'too-long',
      message: `about ${tokens.toLocaleString('en-US')} tokens (estimated), over the ${options.tokenLimit.toLocaleString('en-US')}-token limit of ${options.targetModel} for one training example`,
    });
  }
  let system: SystemInfo | undefined;
  const sys = turns.find((t) => t.kind === 'system');
  if (sys !== undefined && sys.text.trim() !== '') {
    const trimmed = sys.text.trim();
    system = { hash: hashText(trimmed), preview: trimmed.length > 60 ? trimmed.slice(0, 57) + '…' : trimmed, path: sys.textPath ?? sys.turnPath };
  }
  const markerKey = ownFormat !== undefined ? markerKeyOf(obj, ownFormat) : undefined;
  return {
    kind: 'sample',
    ownFormat,
    checkedAs: format,
    diagnostics: diagnostics.length > 0 ? diagnostics : NO_DIAGNOSTICS,
    system,
    markerKey,
    turns: turns.length,
    chars: text.length,
    tokens,
    bytes: Buffer.byteLength(text),
  };
}

/** The turns of a line, for hovers and later issues; undefined when the line is not a sample. */
export function turnsOfLine(text: string, fileFormat: FormatId | undefined): { format: FormatId; turns: Turn[] } | undefined {
  try {
    const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    const value: unknown = JSON.parse(body);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    const format = detectFormat(value as Record<string, unknown>) ?? fileFormat;
    if (format === undefined) return undefined;
    return { format, turns: extractTurns(format, value as Record<string, unknown>) };
  } catch {
    return undefined;
  }
}

export type { JsonPath };
