/**
 * The dataset formats SFT Studio understands: how to recognise a line of each,
 * and how to read its turns in one common shape for the convention rules,
 * hovers, token estimates and (later) conversion.
 */

export type FormatId =
  | 'vertex-gemini'
  | 'openai-chat'
  | 'sharegpt'
  | 'alpaca'
  | 'prompt-completion'
  | 'conversation';

/** The part a turn plays, whatever the format calls it. */
export type TurnKind = 'system' | 'user' | 'model' | 'tool';

export type JsonPath = readonly (string | number)[];

export interface Turn {
  /** The role as written in the sample (for Alpaca and prompt/completion: the key). */
  readonly role: string;
  /** What the role means in this format, or undefined when the format does not know it. */
  readonly kind: TurnKind | undefined;
  /** All text of the turn joined; '' when the turn has no text. */
  readonly text: string;
  /** Whether the turn carries something else than text (a file, a tool call), or text in a shape the schema rejects. */
  readonly hasNonText: boolean;
  /** Path of the role value (or of the key for key-based formats). */
  readonly rolePath: JsonPath;
  /** Path of the turn object (or of the text value for key-based formats). */
  readonly turnPath: JsonPath;
  /** Path of the text value when there is a single one. */
  readonly textPath: JsonPath | undefined;
  /** True when the role comes from a key (Alpaca, prompt/completion), not a role field. */
  readonly implicit: boolean;
}

export interface FormatInfo {
  readonly id: FormatId;
  readonly label: string;
  /** Top-level key that marks a line of this format (first match wins, in FORMAT_ORDER). */
  readonly markerKeys: readonly string[];
  /** Role names this format accepts, with their meaning. Empty for key-based formats. */
  readonly roles: Readonly<Record<string, TurnKind>>;
  /** The name this format gives to each kind of turn. */
  readonly roleNames: Readonly<Partial<Record<TurnKind, string>>>;
  /** Key of the turn list, for role-based formats. */
  readonly turnsKey: string | undefined;
  /** In each turn of the list: the key of its role and of its text (`parts` for Vertex). */
  readonly roleKey: string | undefined;
  readonly textKey: string | undefined;
}

export const FORMATS: Readonly<Record<FormatId, FormatInfo>> = {
  'vertex-gemini': {
    id: 'vertex-gemini',
    label: 'Vertex AI Gemini',
    markerKeys: ['contents'],
    roles: { user: 'user', model: 'model' },
    roleNames: { user: 'user', model: 'model', system: 'systemInstruction' },
    turnsKey: 'contents',
    roleKey: 'role',
    textKey: 'parts',
  },
  'openai-chat': {
    id: 'openai-chat',
    label: 'OpenAI chat',
    markerKeys: ['messages'],
    roles: { system: 'system', developer: 'system', user: 'user', assistant: 'model', tool: 'tool', function: 'tool' },
    roleNames: { system: 'system', user: 'user', model: 'assistant', tool: 'tool' },
    turnsKey: 'messages',
    roleKey: 'role',
    textKey: 'content',
  },
  sharegpt: {
    id: 'sharegpt',
    label: 'ShareGPT',
    markerKeys: ['conversations'],
    roles: { system: 'system', human: 'user', gpt: 'model', function_call: 'model', observation: 'tool' },
    roleNames: { system: 'system', user: 'human', model: 'gpt', tool: 'observation' },
    turnsKey: 'conversations',
    roleKey: 'from',
    textKey: 'value',
  },
  alpaca: {
    id: 'alpaca',
    label: 'Alpaca',
    markerKeys: ['instruction'],
    roles: {},
    roleNames: { system: 'system', user: 'instruction', model: 'output' },
    turnsKey: undefined,
    roleKey: undefined,
    textKey: undefined,
  },
  'prompt-completion': {
    id: 'prompt-completion',
    label: 'Prompt/completion',
    markerKeys: ['prompt', 'completion'],
    roles: {},
    roleNames: { user: 'prompt', model: 'completion' },
    turnsKey: undefined,
    roleKey: undefined,
    textKey: undefined,
  },
  conversation: {
    id: 'conversation',
    label: 'Conversation (role/message)',
    markerKeys: ['conversation'],
    roles: { system: 'system', human: 'user', user: 'user', assistant: 'model' },
    roleNames: { system: 'system', user: 'human', model: 'assistant' },
    turnsKey: 'conversation',
    roleKey: 'role',
    textKey: 'message',
  },
};

/** Detection order: the first format whose marker key the line has wins. */
export const FORMAT_ORDER: readonly FormatId[] = [
  'vertex-gemini',
  'openai-chat',
  'sharegpt',
  'conversation',
  'alpaca',
  'prompt-completion',
];

export const FORMAT_IDS: readonly FormatId[] = FORMAT_ORDER;

export function isFormatId(value: unknown): value is FormatId {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(FORMATS, value);
}

/** The format a parsed line says it is, from its top-level keys; undefined when none. */
export function detectFormat(value: Record<string, unknown>): FormatId | undefined {
  for (const id of FORMAT_ORDER) {
    for (const key of FORMATS[id].markerKeys) {
      if (Object.prototype.hasOwnProperty.call(value, key)) return id;
    }
  }
  if ('systemInstruction' in value) return 'vertex-gemini';
  return undefined;
}

/** The key whose presence made `detectFormat` choose `format` (for squiggles). */
export function markerKeyOf(value: Record<string, unknown>, format: FormatId): string | undefined {
  for (const key of FORMATS[format].markerKeys) {
    if (Object.prototype.hasOwnProperty.call(value, key)) return key;
  }
  if (format === 'vertex-gemini' && 'systemInstruction' in value) return 'systemInstruction';
  return undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function partsText(parts: unknown): { text: string; hasNonText: boolean; single: boolean } {
  // Not a list: the schema rule reports it; do not call the turn empty as well.
  if (!Array.isArray(parts)) return { text: '', hasNonText: parts !== undefined, single: false };
  let text = '';
  let hasNonText = false;
  let texts = 0;
  for (const part of parts) {
    if (!isObject(part)) {
      hasNonText = true;
      continue;
    }
    if (typeof part.text === 'string') {
      text += texts > 0 ? '\n' + part.text : part.text;
      texts++;
    }
    for (const key of Object.keys(part)) if (key !== 'text' && key !== 'thought') hasNonText = true;
  }
  return { text, hasNonText, single: texts === 1 && parts.length === 1 };
}

function contentText(content: unknown): { text: string; hasNonText: boolean } {
  if (typeof content === 'string') return { text: content, hasNonText: false };
  if (Array.isArray(content)) {
    let text = '';
    let hasNonText = false;
    for (const part of content) {
      if (isObject(part) && typeof part.text === 'string') text += (text ? '\n' : '') + part.text;
      else hasNonText = true;
    }
    return { text, hasNonText };
  }
  return { text: '', hasNonText: content !== undefined && content !== null };
}

/**
 * The turns of a sample, in order, the system instruction first when there is one.
 * Tolerant: whatever is malformed is skipped (the schema rule reports it).
 */
export function extractTurns(format: FormatId, value: Record<string, unknown>): Turn[] {
  const info = FORMATS[format];
  const turns: Turn[] = [];
  const kindOf = (role: string): TurnKind | undefined =>
    Object.prototype.hasOwnProperty.call(info.roles, role) ? info.roles[role] : undefined;
  switch (format) {
    case 'vertex-gemini': {
      const si = value.systemInstruction;
      if (isObject(si)) {
        const { text, hasNonText, single } = partsText(si.parts);
        turns.push({
          role: 'systemInstruction', kind: 'system', text, hasNonText,
          rolePath: ['systemInstruction'], turnPath: ['systemInstruction'],
          textPath: single ? ['systemInstruction', 'parts', 0, 'text'] : undefined, implicit: true,
        });
      }
      const contents = value.contents;
      if (Array.isArray(contents)) {
        contents.forEach((turn, i) => {
          if (!isObject(turn) || typeof turn.role !== 'string') return;
          const { text, hasNonText, single } = partsText(turn.parts);
          turns.push({
            role: turn.role, kind: kindOf(turn.role), text, hasNonText,
            rolePath: ['contents', i, 'role'], turnPath: ['contents', i],
            textPath: single ? ['contents', i, 'parts', 0, 'text'] : undefined, implicit: false,
          });
        });
      }
      break;
    }
    case 'openai-chat':
    case 'sharegpt':
    case 'conversation': {
      const roleKey = info.roleKey as string;
      const textKey = info.textKey as string;
      const listKey = info.turnsKey as string;
      if (format === 'sharegpt' && typeof value.system === 'string') {
        turns.push({
          role: 'system', kind: 'system', text: value.system, hasNonText: false,
          rolePath: ['system'], turnPath: ['system'], textPath: ['system'], implicit: true,
        });
      }
      const list = value[listKey];
      if (Array.isArray(list)) {
        list.forEach((turn, i) => {
          if (!isObject(turn) || typeof turn[roleKey] !== 'string') return;
          const role = turn[roleKey] as string;
          const { text, hasNonText } = contentText(turn[textKey]);
          const toolCalls = format === 'openai-chat' && Array.isArray(turn.tool_calls) && turn.tool_calls.length > 0;
          turns.push({
            role, kind: kindOf(role), text, hasNonText: hasNonText || toolCalls,
            rolePath: [listKey, i, roleKey], turnPath: [listKey, i],
            textPath: typeof turn[textKey] === 'string' ? [listKey, i, textKey] : undefined, implicit: false,
          });
        });
      }
      break;
    }
    case 'alpaca': {
      const str = (k: string) => (typeof value[k] === 'string' ? (value[k] as string) : undefined);
      const system = str('system');
      if (system !== undefined) {
        turns.push({ role: 'system', kind: 'system', text: system, hasNonText: false, rolePath: ['system'], turnPath: ['system'], textPath: ['system'], implicit: true });
      }
      const history = value.history;
      if (Array.isArray(history)) {
        history.forEach((pair, i) => {
          if (!Array.isArray(pair)) return;
          if (typeof pair[0] === 'string') turns.push({ role: 'history', kind: 'user', text: pair[0], hasNonText: false, rolePath: ['history', i], turnPath: ['history', i, 0], textPath: ['history', i, 0], implicit: true });
          if (typeof pair[1] === 'string') turns.push({ role: 'history', kind: 'model', text: pair[1], hasNonText: false, rolePath: ['history', i], turnPath: ['history', i, 1], textPath: ['history', i, 1], implicit: true });
        });
      }
      const instruction = str('instruction');
      const input = str('input');
      if (instruction !== undefined) {
        const text = input ? `${instruction}\n${input}` : instruction;
        turns.push({ role: 'instruction', kind: 'user', text, hasNonText: false, rolePath: ['instruction'], turnPath: ['instruction'], textPath: ['instruction'], implicit: true });
      }
      const output = str('output');
      if (output !== undefined) {
        turns.push({ role: 'output', kind: 'model', text: output, hasNonText: false, rolePath: ['output'], turnPath: ['output'], textPath: ['output'], implicit: true });
      }
      break;
    }
    case 'prompt-completion': {
      if (typeof value.prompt === 'string') {
        turns.push({ role: 'prompt', kind: 'user', text: value.prompt, hasNonText: false, rolePath: ['prompt'], turnPath: ['prompt'], textPath: ['prompt'], implicit: true });
      }
      if (typeof value.completion === 'string') {
        turns.push({ role: 'completion', kind: 'model', text: value.completion, hasNonText: false, rolePath: ['completion'], turnPath: ['completion'], textPath: ['completion'], implicit: true });
      }
      break;
    }
  }
  return turns;
}

/** What people mean by role names of any format, and common stand-ins ("bot", "ai"). */
export const ROLE_ALIASES: Readonly<Record<string, TurnKind>> = {
  bot: 'model', ai: 'model', chatbot: 'model', gpt: 'model', assistant: 'model', model: 'model', response: 'model',
  human: 'user', user: 'user', customer: 'user', question: 'user',
  system: 'system', developer: 'system', tool: 'tool', function: 'tool', observation: 'tool',
};

/** The kind of turn a role name of any format most likely means. */
export function guessKind(role: string): TurnKind | undefined {
  const lower = role.trim().toLowerCase();
  return Object.prototype.hasOwnProperty.call(ROLE_ALIASES, lower) ? ROLE_ALIASES[lower] : undefined;
}

/** The name this format gives the role someone meant by `role`, if it can tell. */
export function intendedRole(format: FormatId, role: string): string | undefined {
  const info = FORMATS[format];
  const lower = role.trim().toLowerCase();
  if (Object.prototype.hasOwnProperty.call(info.roles, lower)) return lower;
  const kind = guessKind(role);
  if (kind === undefined || (format === 'vertex-gemini' && kind === 'system')) return undefined;
  return info.roleNames[kind];
}

/** Which format a role name belongs to, to explain a wrong one ("`assistant` is OpenAI's"). */
export function formatsUsingRole(role: string): FormatId[] {
  return FORMAT_ORDER.filter((id) => Object.prototype.hasOwnProperty.call(FORMATS[id].roles, role));
}
