/**
 * The text of a sample as duplicate detection sees it. Two samples are exact
 * duplicates when their turns, read in order as (kind of role, normalised text),
 * are equal: whatever the format, key order, role names ("assistant", "model",
 * "gpt" are all the model), case, Unicode compatibility forms and whitespace.
 */
import { FormatId, Turn, TurnKind, detectFormat, extractTurns } from '../formats';
import { hashText } from '../analyze';

/** Which turns count: all text (system instruction included), or the user's turns only. */
export type DedupeTurns = 'all' | 'user';

/** What the duplicate index needs of one sample. */
export interface DedupeText {
  /** 53-bit hash of the normalised (role kind, text) sequence: equal for exact duplicates. */
  readonly exact: number;
  /** The normalised text of the counted turns but the system instruction, joined by a space: what is shingled. */
  readonly text: string;
  /**
   * The normalised system instruction ('all' only). It counts as one shingle, a
   * whole: another system prompt makes a sample a near duplicate, not a stranger,
   * and a long prompt shared by the whole file does not make every sample alike.
   */
  readonly system?: string;
}

/** Role names of every format, and common misnamings, by the kind of turn they mean. */
const ROLE_KINDS: Readonly<Record<string, TurnKind>> = {
  system: 'system', developer: 'system', systeminstruction: 'system',
  user: 'user', human: 'user', customer: 'user', question: 'user', prompt: 'user', instruction: 'user',
  model: 'model', assistant: 'model', gpt: 'model', bot: 'model', ai: 'model', chatbot: 'model', response: 'model',
  completion: 'model', output: 'model', function_call: 'model',
  tool: 'tool', function: 'tool', observation: 'tool', ipython: 'tool',
};

/** The kind of a turn: what its format says, else what its role name usually means, else the name itself. */
export function roleKind(turn: Pick<Turn, 'kind' | 'role'>): string {
  if (turn.kind !== undefined) return turn.kind;
  const name = turn.role.trim().toLowerCase();
  return Object.prototype.hasOwnProperty.call(ROLE_KINDS, name) ? (ROLE_KINDS[name] as TurnKind) : name;
}

const ASCII = /^[\x00-\x7f]*$/;
const SPACES = /[\s\u200b-\u200d\u2060\ufeff]+/g;
/** Whitespace that `SPACES` would change: anything but single spaces (most text has none: no copy is made). */
const ODD_SPACES = /[^\S ]|  |[\u200b-\u200d\u2060\ufeff]/;
const WIDE = '\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}\\u3000-\\u303f\\uff01-\\uff60';
const SPACE_BY_WIDE = new RegExp(`(?<=[${WIDE}]) | (?=[${WIDE}])`, 'gu');

/**
 * NFKC (fullwidth letters, ligatures, compatibility forms), lowercase, every run
 * of whitespace (and zero-width characters) made one space, trimmed; and no
 * space next to a Chinese or Japanese character, where spaces are layout, not
 * word breaks ("用 Python 写" = "用Python写").
 */
export function normalizeText(text: string): string {
  const ascii = ASCII.test(text);
  let t = (ascii ? text : text.normalize('NFKC')).toLowerCase();
  if (ODD_SPACES.test(t)) t = t.replace(SPACES, ' ');
  t = t.trim();
  return ascii ? t : t.replace(SPACE_BY_WIDE, '');
}

/**
 * The dedupe text of a sample's turns (from `extractTurns`), or undefined when the
 * counted turns hold no text (nothing to compare: the empty-turn rule speaks).
 */
export function dedupeText(turns: readonly Turn[], which: DedupeTurns = 'all'): DedupeText | undefined {
  let key = '';
  const texts: string[] = [];
  const systems: string[] = [];
  for (const turn of turns) {
    const kind = roleKind(turn);
    if (which === 'user' && kind !== 'user') continue;
    const t = normalizeText(turn.text);
    if (t === '') continue;
    // Separators that normalised text cannot contain keep ("ab", "c") apart from ("a", "bc").
    key += `${kind}\u0000${t}\u0001`;
    (kind === 'system' ? systems : texts).push(t);
  }
  if (key === '') return undefined;
  // `join` makes one flat string (not a rope of concatenations): shingling reads it character by character.
  const text = texts.join(' ');
  return systems.length === 0 ? { exact: hashText(key), text } : { exact: hashText(key), text, system: systems.join(' ') };
}

/** The dedupe text of one JSONL line; undefined for a blank, broken or unrecognised line. */
export function dedupeTextOfLine(line: string, which: DedupeTurns = 'all', fileFormat?: FormatId): DedupeText | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line.charCodeAt(0) === 0xfeff ? line.slice(1) : line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const obj = value as Record<string, unknown>;
  const format = detectFormat(obj) ?? fileFormat;
  if (format === undefined) return undefined;
  return dedupeText(extractTurns(format, obj), which);
}
