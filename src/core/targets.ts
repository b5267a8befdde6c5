/**
 * Targets: the tuning service and model a dataset is for, and what that
 * service documents that it rejects. A target is "provider:model"
 * (`vertex:gemini-2.5-flash`, `openai:gpt-4.1-mini`, `local:gemma-3`).
 *
 * Every limit here comes from the provider's own documentation; the URL is
 * kept beside it and printed in docs/rules.md. Prices are not here: they are
 * data (data/prices.json, overridable by the `sftStudio.prices` setting).
 */
import type { FormatId, JsonPath, Turn } from './formats';
import type { Locator, Span } from './locate';
import type { RuleId } from './rules';

export type Provider = 'vertex' | 'openai' | 'local';

/** Which tokenizer counts a target's tokens exactly (`estimate`: none ships with its vocabulary). */
export type TokenizerId = 'o200k_base' | 'cl100k_base' | 'gemma3' | 'estimate';

export const SOURCES = {
  vertexLimits: 'https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-supervised-tuning',
  vertexFormat: 'https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-supervised-tuning-prepare',
  openaiSft: 'https://platform.openai.com/docs/guides/supervised-fine-tuning',
  openaiChatInput: 'https://platform.openai.com/docs/api-reference/fine-tuning/chat-input',
  openaiFiles: 'https://platform.openai.com/docs/api-reference/files/create',
  openaiFunctions: 'https://platform.openai.com/docs/guides/fine-tuning#fine-tuning-with-tools',
} as const;

export interface TargetProfile {
  /** "provider:model". */
  readonly id: string;
  readonly provider: Provider;
  readonly model: string;
  /** In the user's words: "Vertex AI gemini-2.5-flash". */
  readonly label: string;
  readonly tokenizer: TokenizerId;
  /** Input and output tokens of one training example. */
  readonly maxTokensPerExample: number;
  readonly minExamples?: number;
  readonly maxValidationExamples?: number;
  readonly maxFileBytes?: number;
  /** Dataset formats the service reads; undefined: any (a local trainer converts). */
  readonly formats?: readonly FormatId[];
  /** MIME type prefixes of files a Gemini model takes for tuning (Vertex), or OpenAI content part types. */
  readonly contentKinds?: readonly string[];
}

const VERTEX_KINDS = ['image/', 'audio/', 'video/', 'application/pdf', 'text/plain'];

const vertex = (model: string): TargetProfile => ({
  id: `vertex:${model}`, provider: 'vertex', model, label: `Vertex AI ${model}`, tokenizer: 'gemma3',
  // "Maximum input and output training tokens: 131,072", "Maximum validation dataset size: 5000 examples",
  // "Maximum training dataset file size: 1GB for JSONL" (SOURCES.vertexLimits).
  maxTokensPerExample: 131_072, maxValidationExamples: 5000, maxFileBytes: 1_000_000_000,
  formats: ['vertex-gemini'], contentKinds: VERTEX_KINDS,
});

const openai = (model: string, tokenizer: TokenizerId, maxTokens: number): TargetProfile => ({
  id: `openai:${model}`, provider: 'openai', model, label: `OpenAI ${model}`, tokenizer,
  // "The minimum number of examples you can provide for fine-tuning is 10" (SOURCES.openaiSft);
  // files up to 512 MB (SOURCES.openaiFiles); chat models take the chat format with text and image parts.
  maxTokensPerExample: maxTokens, minExamples: 10, maxFileBytes: 512 * 1024 * 1024,
  formats: ['openai-chat'], contentKinds: ['text', 'image_url'],
});

const local = (model: string, tokenizer: TokenizerId, maxTokens: number): TargetProfile => ({
  id: `local:${model}`, provider: 'local', model, label: `local ${model}`, tokenizer, maxTokensPerExample: maxTokens,
});

export const TARGETS: readonly TargetProfile[] = [
  vertex('gemini-2.5-pro'),
  vertex('gemini-2.5-flash'),
  vertex('gemini-2.5-flash-lite'),
  vertex('gemini-2.0-flash'),
  vertex('gemini-2.0-flash-lite'),
  openai('gpt-4.1', 'o200k_base', 65_536),
  openai('gpt-4.1-mini', 'o200k_base', 65_536),
  openai('gpt-4.1-nano', 'o200k_base', 65_536),
  openai('gpt-4o', 'o200k_base', 65_536),
  openai('gpt-4o-mini', 'o200k_base', 65_536),
  openai('gpt-3.5-turbo', 'cl100k_base', 16_385),
  local('gemma-3', 'gemma3', 32_768),
  local('gemma-2', 'estimate', 8192),
  local('llama-3', 'estimate', 131_072),
  local('qwen-2.5', 'estimate', 32_768),
  local('qwen-3', 'estimate', 32_768),
];

export const TARGET_IDS: readonly string[] = TARGETS.map((t) => t.id);

/**
 * The profile a target name means: an exact id, a provider with a dated or
 * prefixed model ("openai:gpt-4.1-mini-2025-04-14", "vertex:gemini-2.5-flash-001"),
 * or a bare model name (the old `sftStudio.targetModel`). Undefined when unknown.
 */
export function findTarget(name: string): TargetProfile | undefined {
  const wanted = name.trim().toLowerCase();
  const exact = TARGETS.find((t) => t.id === wanted);
  if (exact !== undefined) return exact;
  const colon = wanted.indexOf(':');
  const provider = colon > 0 ? wanted.slice(0, colon) : undefined;
  const model = colon > 0 ? wanted.slice(colon + 1) : wanted;
  return TARGETS
    .filter((t) => (provider === undefined || t.provider === provider) && model.includes(t.model))
    .sort((a, b) => b.model.length - a.model.length || a.provider.localeCompare(b.provider))[0];
}

/** A target with the user's settings applied: its limit, price and epochs. */
export interface ResolvedTarget extends TargetProfile {
  readonly tokenLimit: number;
  /** US dollars per million trained tokens, where known. */
  readonly usdPerMillion: number | undefined;
  readonly priceSource: string | undefined;
  /** False for a shipped price not yet checked against the provider's page (data/prices.json says which). */
  readonly priceVerified: boolean;
  readonly epochs: number;
}

/** Special tokens of tokenizers and chat templates: a service rejects them, or a template reads them as structure. */
export const SPECIAL_TOKENS: readonly string[] = [
  '<|endoftext|>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>', '<|fim_pad|>', '<|endofprompt|>',
  '<|im_start|>', '<|im_end|>', '<|im_sep|>',
  '<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>', '<|eom_id|>', '<|python_tag|>',
  '<start_of_turn>', '<end_of_turn>', '<start_of_image>', '<end_of_image>',
  '<|system|>', '<|user|>', '<|assistant|>', '<|end|>',
  '[INST]', '[/INST]', '<<SYS>>', '<</SYS>>',
];

const SPECIAL_RE = new RegExp(SPECIAL_TOKENS.map((t) => t.replace(/[|[\]/\\^$.*+?(){}]/g, '\\$&')).join('|'), 'g');

export interface TargetLineDiagnostic extends Span {
  readonly code: RuleId;
  readonly message: string;
  readonly target: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where `needle` is inside `span` of the line, or the span itself (the text may be written with escapes). */
function within(line: string, span: Span, needle: string): Span {
  const at = line.indexOf(needle, span.start);
  return at >= 0 && at + needle.length <= span.end ? { start: at, end: at + needle.length } : span;
}

/** The service's verdict, for messages: "OpenAI gpt-4.1-mini rejects the file". */
const rejects = (t: TargetProfile) => `${t.label} rejects the file`;

/**
 * Per-sample rules of the targets, on a parsed sample. `line` is the raw line
 * (its BOM, if any, replaced by a space so offsets hold).
 */
export function targetSampleDiagnostics(
  format: FormatId, value: Record<string, unknown>, turns: readonly Turn[], loc: Locator, line: string, targets: readonly ResolvedTarget[],
): TargetLineDiagnostic[] {
  const out: TargetLineDiagnostic[] = [];
  // Text-level problems, found once and reported for each target.
  const specials: { span: Span; token: string }[] = [];
  const nuls: Span[] = [];
  for (const turn of turns) {
    if (turn.text === '') continue;
    const path: JsonPath = turn.textPath ?? turn.turnPath;
    let span: Span | undefined;
    SPECIAL_RE.lastIndex = 0;
    const seen = new Set<string>();
    for (let m = SPECIAL_RE.exec(turn.text); m !== null; m = SPECIAL_RE.exec(turn.text)) {
      if (seen.has(m[0])) continue;
      seen.add(m[0]);
      span ??= loc.value(path);
      specials.push({ span: within(line, span, m[0]), token: m[0] });
    }
    if (turn.text.includes('\u0000')) {
      span ??= loc.value(path);
      const at = line.slice(span.start, span.end).search(/\\u0000/i);
      nuls.push(at >= 0 ? { start: span.start + at, end: span.start + at + 6 } : span);
    }
  }
  for (const t of targets) {
    for (const s of specials) {
      const why = t.provider === 'openai'
        ? `${rejects(t)} ("Example N message contains an invalid token: ${s.token}")`
        : t.provider === 'vertex'
          ? `${t.label} tunes on it as plain text, but a chat template built from it reads it as structure`
          : `the chat template of ${t.label} reads it as structure, not text`;
      out.push({ ...s.span, code: 'special-token', target: t.id, message: `the special token ${s.token} is inside the text: ${why}; remove it or write it another way` });
    }
    for (const span of nuls) {
      out.push({ ...span, code: 'nul-character', target: t.id, message: `a NUL character (\\u0000) in the text: ${t.provider === 'local' ? `tokenizers of ${t.label} treat it unpredictably` : `${rejects(t)} or truncates the text there`}; remove it` });
    }
    if (t.provider === 'openai' && format === 'openai-chat') openaiChecks(t, value, loc, out);
    if (t.provider === 'vertex' && format === 'vertex-gemini') vertexChecks(t, value, loc, out);
  }
  return out;
}

function openaiChecks(t: ResolvedTarget, value: Record<string, unknown>, loc: Locator, out: TargetLineDiagnostic[]): void {
  const messages = value.messages;
  if (!Array.isArray(messages)) return;
  const declared = new Set<string>();
  const tools = value.tools;
  if (Array.isArray(tools)) {
    for (const tool of tools) {
      if (isObject(tool) && isObject(tool.function) && typeof tool.function.name === 'string') declared.add(tool.function.name);
    }
  }
  if (Array.isArray(value.functions)) {
    for (const f of value.functions) if (isObject(f) && typeof f.name === 'string') declared.add(f.name);
  }
  const callIds = new Set<string>();
  messages.forEach((m, i) => {
    if (!isObject(m) || typeof m.role !== 'string') return;
    if ('weight' in m) {
      const w = m.weight;
      if (m.role !== 'assistant') {
        out.push({ ...loc.key(['messages', i, 'weight']), code: 'weight', target: t.id, message: `\`weight\` on a "${m.role}" message: ${t.label} takes \`weight\` only on assistant messages` });
      } else if (w !== 0 && w !== 1) {
        out.push({ ...loc.value(['messages', i, 'weight']), code: 'weight', target: t.id, message: `\`weight\` is ${JSON.stringify(w)}: ${t.label} takes only 0 (do not train on this message) or 1 (train on it)` });
      }
    }
    if (m.role === 'assistant') {
      const calls = Array.isArray(m.tool_calls) ? m.tool_calls : [];
      const hasContent = m.content !== undefined && m.content !== null;
      if (!hasContent && calls.length === 0 && m.function_call === undefined) {
        out.push({ ...loc.value(['messages', i, 'role']), code: 'missing-content', target: t.id, message: `an assistant message with neither \`content\` nor \`tool_calls\`: ${rejects(t)} ("At least one of content or function_call must be set.")` });
      }
      calls.forEach((call, k) => {
        if (!isObject(call)) return;
        if (typeof call.id === 'string') callIds.add(call.id);
        const fn = isObject(call.function) ? call.function : undefined;
        if (fn !== undefined && typeof fn.name === 'string' && !declared.has(fn.name)) {
          const known = declared.size > 0 ? `; \`tools\` declares ${[...declared].slice(0, 8).map((n) => `"${n}"`).join(', ')}` : '; the sample has no `tools`';
          out.push({ ...loc.value(['messages', i, 'tool_calls', k, 'function', 'name']), code: 'unknown-function', target: t.id, message: `the assistant calls "${fn.name}", which is not in this sample's \`tools\`${known}: ${t.label} trains on calls to declared functions only` });
        }
      });
    }
    if (m.role === 'tool') {
      const id = m.tool_call_id;
      if (typeof id !== 'string') {
        out.push({ ...loc.value(['messages', i, 'role']), code: 'tool-call-id', target: t.id, message: `a tool message without \`tool_call_id\`: ${t.label} needs it to match the result to the assistant's call` });
      } else if (!callIds.has(id)) {
        out.push({ ...loc.value(['messages', i, 'tool_call_id']), code: 'tool-call-id', target: t.id, message: `\`tool_call_id\` "${id}" matches no earlier assistant tool call${callIds.size > 0 ? ` (calls: ${[...callIds].slice(0, 8).map((c) => `"${c}"`).join(', ')})` : ''}: ${rejects(t)}` });
      }
    }
    // Content parts of kinds the model does not tune on.
    const kinds = t.contentKinds;
    if (Array.isArray(m.content) && kinds !== undefined) {
      m.content.forEach((part, k) => {
        if (isObject(part) && typeof part.type === 'string' && !kinds.includes(part.type)) {
          out.push({ ...loc.value(['messages', i, 'content', k, 'type']), code: 'content-kind', target: t.id, message: `a "${part.type}" content part: ${t.label} tunes on ${kinds.map((c) => `"${c}"`).join(' and ')} parts only` });
        }
      });
    }
  });
}

function vertexChecks(t: ResolvedTarget, value: Record<string, unknown>, loc: Locator, out: TargetLineDiagnostic[]): void {
  const kinds = t.contentKinds ?? [];
  const check = (parts: unknown, base: JsonPath) => {
    if (!Array.isArray(parts)) return;
    parts.forEach((part, k) => {
      if (!isObject(part)) return;
      for (const key of ['inlineData', 'fileData'] as const) {
        const data = part[key];
        if (!isObject(data)) continue;
        const mime = data.mimeType;
        if (typeof mime !== 'string') {
          out.push({ ...loc.key([...base, k, key]), code: 'content-kind', target: t.id, message: `\`${key}\` without \`mimeType\`: ${t.label} needs the file's type` });
        } else if (!kinds.some((p) => mime.toLowerCase().startsWith(p))) {
          out.push({ ...loc.value([...base, k, key, 'mimeType']), code: 'content-kind', target: t.id, message: `"${mime}" files: ${t.label} tunes on text, images, audio, video and PDF or plain-text documents only` });
        }
      }
    });
  };
  const si = value.systemInstruction;
  if (isObject(si)) check(si.parts, ['systemInstruction', 'parts']);
  const contents = value.contents;
  if (Array.isArray(contents)) contents.forEach((c, i) => isObject(c) && check(c.parts, ['contents', i, 'parts']));
}

/** What the dataset-level rules need to know about a file. */
export interface DatasetFacts {
  readonly samples: number;
  readonly bytes: number;
  readonly format: FormatId | undefined;
  readonly formatLabel: string;
  readonly split: 'training' | 'validation' | undefined;
}

const fmt = (n: number) => n.toLocaleString('en-US');

function size(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${fmt(bytes)} bytes`;
}

/** Dataset-level rules of the targets; reported on the first line. */
export function targetDatasetDiagnostics(facts: DatasetFacts, targets: readonly ResolvedTarget[], span: Span): TargetLineDiagnostic[] {
  const out: TargetLineDiagnostic[] = [];
  for (const t of targets) {
    if (t.formats !== undefined && facts.format !== undefined && !t.formats.includes(facts.format)) {
      out.push({ ...span, code: 'target-format', target: t.id, message: `this file is ${facts.formatLabel}, but ${t.label} reads ${t.formats.join(', ')} only: convert it (SFT Studio: Convert Dataset To…)` });
    }
    if (t.minExamples !== undefined && facts.samples < t.minExamples && facts.split !== 'validation') {
      out.push({ ...span, code: 'too-few-examples', target: t.id, message: `${fmt(facts.samples)} sample${facts.samples === 1 ? '' : 's'}, fewer than the ${t.minExamples} ${t.label} needs: it rejects the file ("Training file has ${facts.samples} example(s), but must have at least ${t.minExamples} examples")` });
    }
    if (t.maxValidationExamples !== undefined && facts.split === 'validation' && facts.samples > t.maxValidationExamples) {
      out.push({ ...span, code: 'too-many-validation-examples', target: t.id, message: `${fmt(facts.samples)} samples in this validation file, more than the ${fmt(t.maxValidationExamples)} ${t.label} allows: keep at most ${fmt(t.maxValidationExamples)}` });
    }
    if (t.maxFileBytes !== undefined && facts.bytes > t.maxFileBytes) {
      out.push({ ...span, code: 'file-too-large', target: t.id, message: `the file is ${size(facts.bytes)}, over the ${size(t.maxFileBytes)} ${t.label} accepts: split it` });
    }
  }
  return out;
}

export function tooLongMessage(tokens: number, exact: TokenizerId | undefined, t: ResolvedTarget): string {
  const how = exact !== undefined ? `counted with the ${exact === 'gemma3' ? 'Gemma 3 tokenizer (the closest public vocabulary to Gemini)' : `${exact} tokenizer`}` : 'estimated';
  return `${fmt(tokens)} tokens (${how}), over the ${fmt(t.tokenLimit)}-token limit of ${t.label} for one training example: the service rejects or truncates it`;
}

/**
 * Tokens the chat template adds around each turn, per tokenizer: OpenAI counts
 * 3 per message and 3 to prime the reply (OpenAI cookbook, "How to count tokens");
 * Gemma wraps each turn in `<start_of_turn>role\n … <end_of_turn>\n` (5 tokens).
 */
export function templateTokens(tokenizer: TokenizerId, turns: number): number {
  if (tokenizer === 'o200k_base' || tokenizer === 'cl100k_base') return 3 * turns + 3;
  if (tokenizer === 'gemma3') return 5 * turns;
  return 4 * turns;
}

/** Token-length distribution of a file's samples. */
export interface TokenDistribution {
  readonly min: number;
  readonly q1: number;
  readonly median: number;
  readonly q3: number;
  readonly max: number;
}

/** The k-th smallest value (0-based) of `a`, which it reorders (Hoare's selection, linear on average). */
function select(a: Uint32Array, k: number, lo = 0, hi = a.length - 1): number {
  while (hi > lo) {
    const pivot = a[(lo + hi) >>> 1] as number;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((a[i] as number) < pivot) i++;
      while ((a[j] as number) > pivot) j--;
      if (i <= j) {
        const t = a[i] as number;
        a[i] = a[j] as number;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k] as number;
  }
  return a[k] as number;
}

/**
 * Min, quartiles and max of token counts, in linear time (the editor recomputes
 * it on every lint of a file of any size; a sort would cost tens of milliseconds
 * at 100,000 samples): a histogram, or Hoare's selection when the values spread
 * too far for one. `values` may be reordered.
 */
export function distribution(values: Uint32Array): TokenDistribution | undefined {
  const n = values.length;
  if (n === 0) return undefined;
  let min = values[0] as number;
  let max = min;
  for (let i = 1; i < n; i++) {
    const v = values[i] as number;
    if (v < min) min = v;
    else if (v > max) max = v;
  }
  const at = (p: number) => Math.min(n - 1, Math.floor(p * (n - 1) + 0.5));
  const k1 = at(0.25), k2 = at(0.5), k3 = at(0.75);
  if (max - min <= 4 * n + 65_536) {
    // Token counts are small whole numbers: a histogram finds the quartiles in one pass.
    const hist = new Uint32Array(max - min + 1);
    for (let i = 0; i < n; i++) hist[(values[i] as number) - min]++;
    const found: number[] = [];
    const wanted = [k1, k2, k3];
    let seen = 0;
    for (let v = 0; v < hist.length && found.length < 3; v++) {
      seen += hist[v] as number;
      while (found.length < 3 && seen > (wanted[found.length] as number)) found.push(v + min);
    }
    return { min, q1: found[0] as number, median: found[1] as number, q3: found[2] as number, max };
  }
  // Selecting in increasing order keeps each later search inside the part above the previous one.
  const q1 = select(values, k1);
  const median = select(values, k2, k1);
  const q3 = select(values, k3, k2);
  return { min, q1, median, q3, max };
}

/** What a target's summary says: tokens, trained tokens, cost, how many samples are over the limit. */
export interface TargetSummary {
  readonly target: string;
  readonly label: string;
  readonly tokens: number;
  /** Whether every sample was counted with the target's tokenizer. */
  readonly exact: boolean;
  /**
   * How many samples were counted with it; the others' estimates are scaled by
   * the ratio of counted to estimated tokens of the counted ones.
   */
  readonly counted: number;
  readonly epochs: number;
  readonly trainedTokens: number;
  readonly costUsd: number | null;
  /** Where the price comes from, and whether it was checked there. */
  readonly priceSource: string | null;
  readonly priceVerified: boolean;
  /** null: no limit known (a local model without one in tokenLimits). */
  readonly tokenLimit: number | null;
  readonly overLimit: number;
  readonly distribution: TokenDistribution | null;
}

/** "about $12.40", or why there is no figure; an unchecked price says so and where to check it. */
export function costText(t: Pick<TargetSummary, 'costUsd' | 'priceSource' | 'priceVerified'>): string {
  if (t.costUsd === null) return 'no published price';
  const figure = t.costUsd < 0.01 ? 'under $0.01' : `about $${t.costUsd.toFixed(2)}`;
  return t.priceVerified ? figure : `${figure} (price not yet checked: confirm it at ${t.priceSource ?? "the provider's pricing page"})`;
}

export function costOf(trainedTokens: number, t: ResolvedTarget): number | null {
  return t.usdPerMillion !== undefined ? (trainedTokens / 1e6) * t.usdPerMillion : null;
}
