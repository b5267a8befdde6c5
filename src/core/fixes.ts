/**
 * Safe repairs for diagnostics: each one keeps every piece of text the user
 * wrote (a role name may change, an empty turn may go, nothing else), and each
 * result is checked to parse before it is offered. Edits are minimal where the
 * line parses (jsonc-parser's `modify` touches only the node at fault); broken
 * JSON is repaired by a lenient parse (JSON5) and written back in the line's
 * own separator style.
 */
import { applyEdits, modify } from 'jsonc-parser';
import JSON5 from 'json5';
import { isBlank } from './analyze';
import { convertSample } from './convert';
import { FORMATS, FormatId, JsonPath, Turn, detectFormat, extractTurns, intendedRole, markerKeyOf } from './formats';
import { Locator, Span, describeSyntaxError } from './locate';
import type { RuleId } from './rules';

export interface LineFix {
  readonly title: string;
  /** The diagnostic it repairs: its rule and its range on the first line. */
  readonly code: RuleId;
  readonly span: Span;
  /** First and last line (0-based) the fix replaces, whole. */
  readonly line: number;
  readonly endLine: number;
  /** The replacement for those lines, without the final line break ('' deletes the lines' text). */
  readonly newText: string;
  /** Delete the lines altogether (with their line breaks), e.g. a blank line. */
  readonly deleteLines?: boolean;
  /** Offered in "Fix all" and as the preferred light-bulb action. */
  readonly preferred: boolean;
}

/** The lines a fix may need to look at: the document or the file being fixed. */
export interface LineSource {
  readonly lineCount: number;
  lineText(line: number): string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Apply jsonc-parser modifications in turn; undefined when the result does not parse. */
function edit(text: string, changes: readonly [JsonPath, unknown, { first?: boolean; insert?: boolean }?][]): string | undefined {
  let out = text;
  for (const [path, value, how] of changes) {
    const edits = modify(out, path as (string | number)[], value, {
      ...(how?.first ? { getInsertionIndex: () => 0 } : {}),
      ...(how?.insert ? { isArrayInsertion: true } : {}),
    });
    out = applyEdits(out, edits);
  }
  try {
    JSON.parse(out);
    return out;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Fixes on lines that parse

function mergedValue(format: FormatId, a: unknown, b: unknown): unknown {
  if (format === 'vertex-gemini') return [...(Array.isArray(a) ? a : []), ...(Array.isArray(b) ? b : [])];
  if (typeof a === 'string' && typeof b === 'string') return a === '' ? b : b === '' ? a : `${a}\n\n${b}`;
  if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
  return undefined;
}

function roleFixes(text: string, value: Record<string, unknown>, format: FormatId, line: number): LineFix[] {
  const info = FORMATS[format];
  if (info.turnsKey === undefined) return [];
  const fixes: LineFix[] = [];
  const loc = new Locator(text);
  const list = value[info.turnsKey];
  if (!Array.isArray(list)) return [];
  const turns: Turn[] = extractTurns(format, value).filter((t) => !t.implicit);
  const fix = (title: string, code: RuleId, span: Span, newText: string | undefined, preferred = true) => {
    if (newText !== undefined && newText !== text) fixes.push({ title, code, span, line, endLine: line, newText, preferred });
  };
  const textKey = info.textKey as string;
  // invalid-role: rename to what the format calls it.
  for (const t of turns) {
    if (t.kind !== undefined) continue;
    if (format === 'vertex-gemini' && t.role.trim().toLowerCase() === 'system') continue; // a system-turn fix below
    const to = intendedRole(format, t.role);
    if (to !== undefined) fix(`Rename role "${t.role}" to "${to}"`, 'invalid-role', loc.value(t.rolePath), edit(text, [[t.rolePath, to]]));
  }
  // system-turn.
  if (format === 'vertex-gemini') {
    const systemTurns = turns.filter((t) => t.kind === undefined && t.role.trim().toLowerCase() === 'system');
    for (const t of systemTurns) {
      const index = t.turnPath[1] as number;
      const turn = list[index] as Record<string, unknown>;
      const parts = Array.isArray(turn.parts) ? turn.parts : [];
      const existing = isObject(value.systemInstruction) && Array.isArray(value.systemInstruction.parts) ? value.systemInstruction.parts : undefined;
      const changes: [JsonPath, unknown, { first?: boolean }?][] = [[['contents', index], undefined]];
      if (existing !== undefined) changes.push([['systemInstruction', 'parts'], [...existing, ...parts]]);
      else if (value.systemInstruction === undefined) changes.push([['systemInstruction'], { parts }, { first: true }]);
      else continue;
      fix('Move the system turn to `systemInstruction`', 'system-turn', loc.value(t.rolePath), edit(text, changes));
    }
  } else {
    let started = false;
    for (const t of turns) {
      if (t.kind !== 'system') {
        if (t.kind !== undefined) started = true;
        continue;
      }
      if (!started) continue;
      const index = t.turnPath[1] as number;
      const moved = list[index];
      const rest = list.filter((_, i) => i !== index);
      fix('Move the system message to the start', 'system-turn', loc.value(t.rolePath), edit(text, [[[info.turnsKey], [moved, ...rest]]]));
    }
  }
  // role-order: two turns of the same role in a row → merge them.
  for (let i = 1; i < turns.length; i++) {
    const prev = turns[i - 1] as Turn;
    const cur = turns[i] as Turn;
    if (prev.kind === undefined || prev.kind !== cur.kind || (cur.kind !== 'user' && cur.kind !== 'model') || (cur.kind === 'model' && format === 'sharegpt')) continue;
    const a = list[prev.turnPath[1] as number] as Record<string, unknown>;
    const b = list[cur.turnPath[1] as number] as Record<string, unknown>;
    if (format === 'openai-chat' && (a.tool_calls !== undefined || b.tool_calls !== undefined)) continue;
    const merged = mergedValue(format, a[textKey], b[textKey]);
    if (merged === undefined) continue;
    fix(`Merge the two "${cur.role}" turns`, 'role-order', loc.value(cur.rolePath),
      edit(text, [[[info.turnsKey, cur.turnPath[1] as number], undefined], [[info.turnsKey, prev.turnPath[1] as number, textKey], merged]]));
  }
  // empty-turn: delete it (only whitespace goes). Not the system instruction of Vertex (its own key).
  for (const t of turns) {
    if (t.hasNonText || t.text.trim() !== '') continue;
    const span = t.textPath ? loc.value(t.textPath) : loc.valueOrKey(t.turnPath);
    fix(`Delete the empty "${t.role}" turn`, 'empty-turn', span, edit(text, [[t.turnPath, undefined]]), false);
  }
  return fixes;
}

function schemaFixes(text: string, value: Record<string, unknown>, format: FormatId, line: number): LineFix[] {
  if (format !== 'vertex-gemini') return [];
  const fixes: LineFix[] = [];
  const loc = new Locator(text);
  const wrap = (path: JsonPath, s: string, span: Span, what: string) => {
    const newText = edit(text, [[path, [{ text: s }]]]);
    if (newText !== undefined) fixes.push({ title: `Wrap ${what} into \`parts\`: [{"text": …}]`, code: 'schema', span, line, endLine: line, newText, preferred: true });
  };
  const turnsOf = (v: unknown, base: JsonPath): [JsonPath, Record<string, unknown>][] =>
    Array.isArray(v) ? v.flatMap((t, i) => (isObject(t) ? [[[...base, i], t] as [JsonPath, Record<string, unknown>]] : [])) : [];
  const holders: [JsonPath, Record<string, unknown>][] = turnsOf(value.contents, ['contents']);
  if (isObject(value.systemInstruction)) holders.push([['systemInstruction'], value.systemInstruction]);
  for (const [path, turn] of holders) {
    if (typeof turn.parts === 'string') {
      wrap([...path, 'parts'], turn.parts, loc.valueOrKey([...path, 'parts']), 'the text');
    } else if (turn.parts === undefined) {
      const key = typeof turn.text === 'string' ? 'text' : typeof turn.content === 'string' ? 'content' : undefined;
      if (key === undefined) continue;
      const newText = edit(text, [[[...path, key], undefined], [[...path, 'parts'], [{ text: turn[key] }]]]);
      if (newText !== undefined) {
        fixes.push({ title: `Move \`${key}\` into \`parts\`: [{"text": …}]`, code: 'schema', span: loc.valueOrKey(path), line, endLine: line, newText, preferred: true });
      }
    }
  }
  return fixes;
}

/** mixed-format: convert the sample to the file's format, when nothing would be lost. */
function conversionFixes(text: string, value: Record<string, unknown>, own: FormatId | undefined, fileFormat: FormatId | undefined, line: number): LineFix[] {
  if (own === undefined || fileFormat === undefined || own === fileFormat) return [];
  const converted = convertSample(value, fileFormat, own);
  if (converted.value === undefined || converted.lost.length > 0) return [];
  const key = markerKeyOf(value, own);
  const loc = new Locator(text);
  return [{
    title: `Convert this sample to ${FORMATS[fileFormat].label}`, code: 'mixed-format', span: key !== undefined ? loc.key([key]) : loc.firstKey(),
    line, endLine: line, newText: serializeLike(text, converted.value), preferred: true,
  }];
}

/** A change offered on a sample without a diagnostic behind it (never applied by "Fix all"). */
export interface SampleRefactor {
  readonly title: string;
  readonly line: number;
  readonly newText: string;
}

/**
 * Offered on any sample: give it the system instruction most samples of the file
 * use when it has none, and trim whitespace around its turns' text.
 */
export function sampleRefactors(text: string, line: number, fileFormat: FormatId | undefined, usualSystem: string | undefined): SampleRefactor[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [];
  }
  if (!isObject(value)) return [];
  const format = detectFormat(value) ?? fileFormat;
  if (format === undefined) return [];
  const out: SampleRefactor[] = [];
  const turns = extractTurns(format, value);
  if (usualSystem !== undefined && !turns.some((t) => t.kind === 'system')) {
    const preview = usualSystem.length > 40 ? `${usualSystem.slice(0, 39)}…` : usualSystem;
    let newText: string | undefined;
    if (format === 'vertex-gemini') newText = edit(text, [[['systemInstruction'], { parts: [{ text: usualSystem }] }, { first: true }]]);
    else if (format === 'alpaca') newText = edit(text, [[['system'], usualSystem, { first: true }]]);
    else if (format !== 'prompt-completion') {
      const info = FORMATS[format];
      newText = edit(text, [[[info.turnsKey as string, 0], { [info.roleKey as string]: 'system', [info.textKey as string]: usualSystem }, { insert: true }]]);
    }
    if (newText !== undefined) out.push({ title: `Add the system instruction most samples use ("${preview}")`, line, newText });
  }
  const untrimmed = turns.filter((t) => t.textPath !== undefined && t.text !== t.text.trim() && t.text.trim() !== '');
  if (untrimmed.length > 0) {
    const newText = edit(text, untrimmed.map((t) => [t.textPath as JsonPath, t.text.trim()] as [JsonPath, unknown]));
    if (newText !== undefined) out.push({ title: 'Trim whitespace around the text of the turns', line, newText });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Repairs of broken JSON

/**
 * Walk `text` calling `visit` for each character outside string literals (either
 * quote); `visit` returns true to stop. Returns whether the text ends inside a string.
 */
function scanOutsideStrings(text: string, visit: (c: string, i: number) => boolean | void): boolean {
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (visit(c, i) === true) {
      return false;
    }
  }
  return quote !== '';
}

/** Whether `text` has a // or /* comment outside strings (a lenient parse would drop it). */
function hasComment(text: string): boolean {
  let found = false;
  scanOutsideStrings(text, (c, i) => (found = c === '/' && (text[i + 1] === '/' || text[i + 1] === '*')));
  return found;
}

/** Whether a line ends inside a string literal (a raw line break split it). */
function endsInsideString(text: string): boolean {
  return scanOutsideStrings(text, () => false);
}

/** Whether the first `:` outside strings is followed by a space (Python's json.dumps style). */
function spacedSeparators(text: string): boolean {
  let spaced = false;
  scanOutsideStrings(text, (c, i) => {
    if (c !== ':') return false;
    spaced = text[i + 1] === ' ';
    return true;
  });
  return spaced;
}

function finiteOnly(v: unknown, depth = 0): boolean {
  if (depth > 200) return false;
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every((x) => finiteOnly(x, depth + 1));
  if (isObject(v)) return Object.values(v).every((x) => finiteOnly(x, depth + 1));
  return true;
}

/** Serialise like the line was written: with or without a space after `:` and `,`. */
export function serializeLike(original: string, value: unknown): string {
  const spaced = spacedSeparators(original);
  if (!spaced) return JSON.stringify(value);
  const write = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map(write).join(', ')}]`;
    if (isObject(v)) return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${write(x)}`).join(', ')}}`;
    return JSON.stringify(v) ?? 'null';
  };
  return write(value);
}

/** A lenient parse of text that is almost JSON: trailing commas, single quotes, bare keys. */
function lenient(text: string): unknown {
  if (hasComment(text)) return undefined;
  try {
    const v: unknown = JSON5.parse(text);
    return isObject(v) && finiteOnly(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

const MAX_JOIN_LINES = 500;
const MAX_JOIN_CHARS = 4 * 1024 * 1024;

function jsonRepairs(src: LineSource, line: number, span: Span): LineFix[] {
  const text = src.lineText(line);
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const fixes: LineFix[] = [];
  const one = (title: string, endLine: number, newText: string) =>
    fixes.push({ title, code: 'invalid-json', span, line, endLine, newText, preferred: true });
  // Two (or more) objects on one line: split them.
  const parts = splitObjects(body);
  if (parts !== undefined) {
    one(`Split the ${parts.length} samples onto lines of their own`, line, parts.join('\n'));
    return fixes;
  }
  // Almost JSON on one line.
  const v = lenient(body);
  if (v !== undefined) {
    one('Repair the JSON (quotes, trailing commas)', line, serializeLike(body, v));
    return fixes;
  }
  // A sample spread over several lines, or a string broken by a raw line break: join them.
  let joined = body;
  let chars = joined.length;
  for (let j = line + 1; j < src.lineCount && j <= line + MAX_JOIN_LINES && chars < MAX_JOIN_CHARS; j++) {
    const next = src.lineText(j);
    const inString = endsInsideString(joined);
    joined = inString ? `${joined}\\n${next}` : `${joined}${/^\s/.test(next) || next === '' ? '' : ' '}${next.trimStart()}`;
    chars += next.length;
    let value: unknown;
    try {
      value = JSON.parse(joined);
    } catch {
      value = lenient(joined);
    }
    if (isObject(value)) {
      one(inString || endsInsideString(body) ? `Join lines ${line + 1}–${j + 1}: a line break inside a string becomes \\n` : `Join lines ${line + 1}–${j + 1} into one sample`, j, serializeLike(joined, value));
      break;
    }
  }
  return fixes;
}

/** `{…} {…}` on one line → each object's text, when every piece parses on its own. */
function splitObjects(text: string): string[] | undefined {
  const pieces: string[] = [];
  let depth = 0;
  let start = -1;
  let bad = false;
  const open = scanOutsideStrings(text, (c, i) => {
    if (c === '{' || c === '[') {
      if (depth === 0) start = i;
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0 && start >= 0) {
        pieces.push(text.slice(start, i + 1));
        start = -1;
      } else if (depth < 0) return (bad = true);
    } else if (depth === 0 && !/[\s,]/.test(c)) {
      return (bad = true);
    }
    return false;
  });
  if (bad || open || depth !== 0 || pieces.length < 2) return undefined;
  try {
    for (const p of pieces) JSON.parse(p);
  } catch {
    return undefined;
  }
  return pieces;
}

// ---------------------------------------------------------------------------------------------

/** Every safe fix for the diagnostics of one line. */
export function lineFixes(src: LineSource, line: number, fileFormat: FormatId | undefined): LineFix[] {
  const text = src.lineText(line);
  if (isBlank(text)) {
    if (line === src.lineCount - 1 && text.length === 0) return [];
    return [{ title: 'Delete the blank line', code: 'blank-line', span: { start: 0, end: text.length }, line, endLine: line, newText: '', deleteLines: true, preferred: true }];
  }
  const body = text.charCodeAt(0) === 0xfeff ? ' ' + text.slice(1) : text;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    // The span of the invalid-json diagnostic: found the same way analyzeLine finds it.
    return jsonRepairs(src, line, invalidJsonSpan(body, err));
  }
  if (!isObject(value)) return [];
  const own = detectFormat(value);
  const format = own ?? fileFormat;
  if (format === undefined) return [];
  return [...schemaFixes(body, value, format, line), ...roleFixes(body, value, format, line), ...conversionFixes(body, value, own, fileFormat, line)];
}

function invalidJsonSpan(text: string, err: unknown): Span {
  const e = describeSyntaxError(text, err instanceof Error ? err.message : String(err));
  return { start: e.start, end: e.end };
}

/**
 * Apply every preferred fix to the lines, line by line, until none is left
 * (a fix may reveal another). Returns the new lines and how many fixes were applied.
 */
export interface RegionEdit {
  /** Lines of the input (0-based, inclusive) that the edit replaces. */
  readonly line: number;
  readonly endLine: number;
  /** Their replacement lines; empty when they are deleted. */
  readonly lines: readonly string[];
  /** The fixes applied to them, in order. */
  readonly titles: readonly string[];
}

export function fixAllLines(lines: readonly string[], fileFormat: FormatId | undefined): { lines: string[]; applied: number; titles: string[]; edits: RegionEdit[] } {
  const out: string[] = [];
  const titles: string[] = [];
  const edits: RegionEdit[] = [];
  const src: LineSource = { lineCount: lines.length, lineText: (i) => lines[i] ?? '' };
  for (let i = 0; i < lines.length; i++) {
    let fixes = lineFixes(src, i, fileFormat).filter((f) => f.preferred);
    if (fixes.length === 0) {
      out.push(lines[i] as string);
      continue;
    }
    const first = fixes[0] as LineFix;
    if (first.deleteLines) {
      titles.push(first.title);
      edits.push({ line: i, endLine: first.endLine, lines: [], titles: [first.title] });
      i = first.endLine;
      continue;
    }
    let text = first.newText;
    titles.push(first.title);
    const regionStart = i;
    const regionTitles = titles.length - 1;
    i = first.endLine;
    // Further fixes on the repaired text, one at a time (each is re-derived from the new text).
    for (let guard = 0; guard < 50; guard++) {
      const pieces = text.split('\n');
      const local: LineSource = { lineCount: pieces.length, lineText: (k) => pieces[k] ?? '' };
      let changed = false;
      for (let k = 0; k < pieces.length && !changed; k++) {
        fixes = lineFixes(local, k, fileFormat).filter((f) => f.preferred && !f.deleteLines && f.endLine === f.line);
        const next = fixes[0];
        if (next !== undefined) {
          pieces[k] = next.newText;
          titles.push(next.title);
          changed = true;
        }
      }
      text = pieces.join('\n');
      if (!changed) break;
    }
    const replaced = text.split('\n');
    edits.push({ line: regionStart, endLine: i, lines: replaced, titles: titles.slice(regionTitles) });
    out.push(...replaced);
  }
  return { lines: out, applied: titles.length, titles, edits };
}
