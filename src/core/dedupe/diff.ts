/**
 * The differing words of two near-duplicate texts, for a hover: a word-level
 * diff (CJK compared character by character), by longest common subsequence on
 * what lies between the common start and end, with the work capped for long
 * texts.
 */

export interface DiffOp {
  readonly op: 'equal' | 'delete' | 'insert';
  readonly tokens: readonly string[];
}

const TOKEN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]|[\p{L}\p{N}\p{M}_'’]+|[^\s\p{L}\p{N}\p{M}]/gu;
const CJK = /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]$/u;
const WORDISH = /^[\p{L}\p{N}\p{M}_]/u;

/** Words, single CJK characters and single punctuation marks; whitespace dropped. */
export function tokenize(text: string): string[] {
  return text.match(TOKEN) ?? [];
}

/** Tokens back to text: spaces between words, none around CJK characters or before punctuation. */
export function joinTokens(tokens: readonly string[]): string {
  let out = '';
  let prev = '';
  for (const t of tokens) {
    if (out !== '' && WORDISH.test(t) && !CJK.test(t) && !CJK.test(prev) && (WORDISH.test(prev) || /[,.;:!?)\]}]$/.test(prev))) out += ' ';
    out += t;
    prev = t;
  }
  return out;
}

function push(ops: { op: DiffOp['op']; tokens: string[] }[], op: DiffOp['op'], tokens: readonly string[]): void {
  if (tokens.length === 0) return;
  const last = ops[ops.length - 1];
  if (last !== undefined && last.op === op) last.tokens.push(...tokens);
  else ops.push({ op, tokens: [...tokens] });
}

/**
 * Edit script from `a` to `b` over tokens. When the differing middle parts
 * would need more than `maxCells` table cells, it is reported as one deletion
 * and one insertion.
 */
export function diffWords(a: string, b: string, maxCells = 1_000_000): DiffOp[] {
  const ta = tokenize(a);
  const tb = tokenize(b);
  let pre = 0;
  while (pre < ta.length && pre < tb.length && ta[pre] === tb[pre]) pre++;
  let suf = 0;
  while (suf < ta.length - pre && suf < tb.length - pre && ta[ta.length - 1 - suf] === tb[tb.length - 1 - suf]) suf++;
  const A = ta.slice(pre, ta.length - suf);
  const B = tb.slice(pre, tb.length - suf);
  const ops: { op: DiffOp['op']; tokens: string[] }[] = [];
  push(ops, 'equal', ta.slice(0, pre));
  const m = A.length;
  const n = B.length;
  if (m * n > maxCells) {
    push(ops, 'delete', A);
    push(ops, 'insert', B);
  } else if (m > 0 || n > 0) {
    // lcs[i][j]: length of the LCS of A[i…] and B[j…], row-major in one typed array.
    const w = n + 1;
    const lcs = new Uint32Array((m + 1) * w);
    for (let i = m - 1; i >= 0; i--) {
      for (let j = n - 1; j >= 0; j--) {
        lcs[i * w + j] = A[i] === B[j] ? (lcs[(i + 1) * w + j + 1] as number) + 1 : Math.max(lcs[(i + 1) * w + j] as number, lcs[i * w + j + 1] as number);
      }
    }
    let i = 0;
    let j = 0;
    while (i < m && j < n) {
      if (A[i] === B[j]) {
        push(ops, 'equal', [A[i] as string]);
        i++;
        j++;
      } else if ((lcs[(i + 1) * w + j] as number) >= (lcs[i * w + j + 1] as number)) {
        push(ops, 'delete', [A[i] as string]);
        i++;
      } else {
        push(ops, 'insert', [B[j] as string]);
        j++;
      }
    }
    push(ops, 'delete', A.slice(i));
    push(ops, 'insert', B.slice(j));
  }
  push(ops, 'equal', ta.slice(ta.length - suf));
  return ops;
}

export interface DiffSummary {
  /** Words of the first text that the second lacks, and words the second adds. */
  readonly removed: readonly string[];
  readonly added: readonly string[];
  /** A one-line view, git word-diff style: `… the [-router-]{+modem+} light …`. */
  readonly text: string;
}

/**
 * The changes of `ops` with `context` words around each, at most `maxChanges`
 * changes spelled out (the rest counted).
 */
export function summarizeDiff(ops: readonly DiffOp[], context = 3, maxChanges = 5): DiffSummary {
  const removed: string[] = [];
  const added: string[] = [];
  const parts: string[] = [];
  let changes = 0;
  let hidden = 0;
  ops.forEach((o, k) => {
    if (o.op === 'delete') removed.push(...o.tokens);
    if (o.op === 'insert') added.push(...o.tokens);
    if (o.op !== 'equal') {
      const startsChange = ops[k - 1]?.op !== 'delete';
      if (startsChange) changes++;
      if (changes > maxChanges) {
        if (startsChange) hidden++;
        return;
      }
      parts.push(o.op === 'delete' ? `[-${joinTokens(o.tokens)}-]` : `{+${joinTokens(o.tokens)}+}`);
      return;
    }
    if (changes > maxChanges) return;
    const first = k === 0;
    const last = k === ops.length - 1;
    const t = o.tokens;
    if (first && last) return;
    if (first) parts.push((t.length > context ? '… ' : '') + joinTokens(t.slice(-context)));
    else if (last) parts.push(joinTokens(t.slice(0, context)) + (t.length > context ? ' …' : ''));
    else if (t.length > 2 * context) parts.push(`${joinTokens(t.slice(0, context))} … ${joinTokens(t.slice(-context))}`);
    else parts.push(joinTokens(t));
  });
  let text = parts.join(' ');
  if (hidden > 0) text += ` (and ${hidden} more change${hidden === 1 ? '' : 's'})`;
  return { removed, added, text };
}
