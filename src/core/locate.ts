/**
 * Ranges inside one line of JSON. The syntax tree is built only for lines that
 * have something to report, and only once per line.
 */
import { Node, ParseError, ParseErrorCode, findNodeAtLocation, parseTree } from 'jsonc-parser';
import type { JsonPath } from './formats';

export interface Span {
  readonly start: number;
  readonly end: number;
}

const PARSE_MESSAGES: Partial<Record<ParseErrorCode, string>> = {
  [ParseErrorCode.InvalidSymbol]: 'unexpected character',
  [ParseErrorCode.InvalidNumberFormat]: 'malformed number',
  [ParseErrorCode.PropertyNameExpected]: 'expected a key in double quotes',
  [ParseErrorCode.ValueExpected]: 'expected a value',
  [ParseErrorCode.ColonExpected]: 'expected a colon after the key',
  [ParseErrorCode.CommaExpected]: 'expected a comma',
  [ParseErrorCode.CloseBraceExpected]: 'expected a comma or a closing brace',
  [ParseErrorCode.CloseBracketExpected]: 'expected a comma or a closing bracket',
  [ParseErrorCode.EndOfFileExpected]: 'unexpected text after the end of the sample (two objects on one line?)',
  [ParseErrorCode.InvalidCommentToken]: 'comments are not allowed in JSON',
  [ParseErrorCode.UnexpectedEndOfComment]: 'comments are not allowed in JSON',
  [ParseErrorCode.UnexpectedEndOfString]: 'the string is not closed before the end of the line',
  [ParseErrorCode.UnexpectedEndOfNumber]: 'malformed number',
  [ParseErrorCode.InvalidUnicode]: 'invalid \\u escape',
  [ParseErrorCode.InvalidEscapeCharacter]: 'invalid escape sequence',
  [ParseErrorCode.InvalidCharacter]: 'control character inside a string (escape it, e.g. \\n)',
};

export interface JsonSyntaxError extends Span {
  readonly message: string;
}

/**
 * Where and why JSON.parse rejected `text`. jsonc-parser gives a position and a
 * reason; where it is more lenient than JSON (it is not, with these options, but
 * be safe) fall back to the position in V8's message.
 */
export function describeSyntaxError(text: string, v8Message: string): JsonSyntaxError {
  const errors: ParseError[] = [];
  try {
    parseTree(text, errors, { allowTrailingComma: false, disallowComments: true, allowEmptyContent: false });
  } catch {
    // Deeply nested input can overflow jsonc-parser's recursion; use V8's position.
  }
  const trailingComma = errors.find((e) => e.error === ParseErrorCode.PropertyNameExpected || e.error === ParseErrorCode.ValueExpected);
  const first = errors[0];
  if (first !== undefined) {
    let message = PARSE_MESSAGES[first.error] ?? 'invalid JSON';
    if (first.offset >= text.trimEnd().length) message = 'the line ends before the sample is complete (a missing `}` or `]`, or a sample split over several lines?)';
    else if (first === trailingComma && /,\s*$/.test(text.slice(0, first.offset))) message = 'trailing comma: remove it';
    else if (first.error === ParseErrorCode.InvalidSymbol && text[first.offset] === "'") message = 'strings and keys need double quotes, not single quotes';
    else if (/^[A-Za-z_$][\w$]*\s*:/.test(text.slice(first.offset))) message = 'keys need double quotes';
    else if (first.error === ParseErrorCode.InvalidSymbol && /^(True|False|None|NaN|Infinity|undefined)\b/.test(text.slice(first.offset))) message = `"${text.slice(first.offset, first.offset + first.length)}" is not JSON: use true, false or null`;
    const start = Math.min(first.offset, Math.max(0, text.length - 1));
    const end = Math.min(text.length, start + Math.max(1, first.length));
    return { start, end: Math.max(end, start + (text.length > 0 ? 1 : 0)), message: `invalid JSON: ${message}` };
  }
  const m = /position (\d+)/.exec(v8Message);
  const pos = m ? Math.min(Number(m[1]), Math.max(0, text.length - 1)) : 0;
  return { start: pos, end: Math.min(text.length, pos + 1), message: `invalid JSON: ${v8Message.replace(/^SyntaxError: /, '')}` };
}

/** Lazily built syntax tree of one valid JSON line, answering "where is this path?". */
export class Locator {
  private root: Node | undefined | null = null;

  constructor(private readonly text: string) {}

  private tree(): Node | undefined {
    if (this.root === null) {
      try {
        this.root = parseTree(this.text, [], { disallowComments: true }) ?? undefined;
      } catch {
        this.root = undefined; // nesting too deep for the tree: fall back to the whole line
      }
    }
    return this.root;
  }

  private whole(): Span {
    return { start: 0, end: this.text.length };
  }

  node(path: JsonPath): Node | undefined {
    const root = this.tree();
    return root ? findNodeAtLocation(root, path as (string | number)[]) : undefined;
  }

  /** The value at `path`; for an object or array that is a property, its key (short and exact). */
  valueOrKey(path: JsonPath): Span {
    const node = this.node(path);
    if (!node) return this.nearest(path);
    if ((node.type === 'object' || node.type === 'array') && node.parent?.type === 'property') {
      const key = node.parent.children?.[0];
      if (key) return { start: key.offset, end: key.offset + key.length };
    }
    if (node.parent === undefined) return this.firstKey();
    return { start: node.offset, end: node.offset + node.length };
  }

  /** The value itself, whatever its type. */
  value(path: JsonPath): Span {
    const node = this.node(path);
    if (!node) return this.nearest(path);
    return { start: node.offset, end: node.offset + node.length };
  }

  /** The key of the property at `path` (for top-level keys such as `contents`). */
  key(path: JsonPath): Span {
    const node = this.node(path);
    const key = node?.parent?.type === 'property' ? node.parent.children?.[0] : undefined;
    if (!key) return this.valueOrKey(path);
    return { start: key.offset, end: key.offset + key.length };
  }

  /** The first key of the top-level object, or the whole line. */
  firstKey(): Span {
    const key = this.tree()?.children?.[0]?.children?.[0];
    return key ? { start: key.offset, end: key.offset + key.length } : this.whole();
  }

  private nearest(path: JsonPath): Span {
    for (let n = path.length - 1; n > 0; n--) {
      if (this.node(path.slice(0, n))) return this.valueOrKey(path.slice(0, n));
    }
    return this.firstKey();
  }
}
