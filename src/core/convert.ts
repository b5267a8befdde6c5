/**
 * Conversion between dataset formats through one neutral shape: a system
 * instruction and a list of turns. What the target format cannot hold is
 * reported, never dropped silently.
 */
import { FORMATS, FormatId, detectFormat } from './formats';

export type ConvRole = 'user' | 'model' | 'tool';

export interface ConvTurn {
  readonly role: ConvRole;
  readonly text: string;
}

export interface Conversation {
  readonly system: string | undefined;
  readonly turns: readonly ConvTurn[];
  /** What the source held that the neutral shape does not (files, tool calls…). */
  readonly lost: readonly string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function partsToText(parts: unknown, lost: string[], where: string): string {
  if (!Array.isArray(parts)) return '';
  const texts: string[] = [];
  for (const p of parts) {
    if (isObject(p) && typeof p.text === 'string') texts.push(p.text);
    else if (isObject(p)) lost.push(`${where}: a ${Object.keys(p)[0] ?? 'non-text'} part`);
  }
  return texts.join('\n');
}

function contentToText(content: unknown, lost: string[], where: string): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    const texts: string[] = [];
    for (const p of content) {
      if (isObject(p) && typeof p.text === 'string') texts.push(p.text);
      else lost.push(`${where}: a non-text content part`);
    }
    return texts.join('\n');
  }
  return '';
}

/** Read a sample of `format` into the neutral shape. */
export function toConversation(format: FormatId, value: Record<string, unknown>): Conversation {
  const lost: string[] = [];
  const turns: ConvTurn[] = [];
  let system: string | undefined;
  const addSystem = (t: string) => {
    system = system === undefined ? t : `${system}\n\n${t}`;
  };
  const info = FORMATS[format];
  switch (format) {
    case 'vertex-gemini': {
      if (isObject(value.systemInstruction)) addSystem(partsToText(value.systemInstruction.parts, lost, 'systemInstruction'));
      (Array.isArray(value.contents) ? value.contents : []).forEach((t, i) => {
        if (!isObject(t)) return;
        const kind = typeof t.role === 'string' ? info.roles[t.role] : undefined;
        const text = partsToText(t.parts, lost, `turn ${i + 1}`);
        if (kind === 'user' || kind === 'model') turns.push({ role: kind, text });
        else lost.push(`turn ${i + 1}: role ${JSON.stringify(t.role)}`);
      });
      break;
    }
    case 'openai-chat':
    case 'sharegpt':
    case 'conversation': {
      const roleKey = info.roleKey as string;
      const textKey = info.textKey as string;
      if (format === 'sharegpt' && typeof value.system === 'string') addSystem(value.system);
      if (format === 'openai-chat' && Array.isArray(value.tools)) lost.push('the `tools` definitions');
      const list = value[info.turnsKey as string];
      (Array.isArray(list) ? list : []).forEach((t, i) => {
        if (!isObject(t)) return;
        const role = typeof t[roleKey] === 'string' ? (t[roleKey] as string) : '';
        const kind = Object.prototype.hasOwnProperty.call(info.roles, role) ? info.roles[role] : undefined;
        const text = contentToText(t[textKey], lost, `turn ${i + 1}`);
        if (format === 'openai-chat' && Array.isArray(t.tool_calls) && t.tool_calls.length > 0) lost.push(`turn ${i + 1}: tool calls`);
        if (kind === 'system') addSystem(text);
        else if (kind !== undefined) turns.push({ role: kind, text });
        else lost.push(`turn ${i + 1}: role ${JSON.stringify(role)}`);
      });
      break;
    }
    case 'alpaca': {
      if (typeof value.system === 'string') addSystem(value.system);
      (Array.isArray(value.history) ? value.history : []).forEach((pair) => {
        if (Array.isArray(pair) && typeof pair[0] === 'string' && typeof pair[1] === 'string') {
          turns.push({ role: 'user', text: pair[0] }, { role: 'model', text: pair[1] });
        }
      });
      const instruction = str(value.instruction) ?? '';
      const input = str(value.input) ?? '';
      turns.push({ role: 'user', text: input ? `${instruction}\n\n${input}` : instruction });
      turns.push({ role: 'model', text: str(value.output) ?? '' });
      break;
    }
    case 'prompt-completion':
      turns.push({ role: 'user', text: str(value.prompt) ?? '' }, { role: 'model', text: str(value.completion) ?? '' });
      break;
  }
  return { system, turns, lost };
}

export interface Converted {
  /** The sample in the target format, or undefined when it cannot be expressed there at all. */
  readonly value: Record<string, unknown> | undefined;
  readonly lost: readonly string[];
}

/** Write the neutral shape as a sample of `format`. */
export function fromConversation(format: FormatId, conv: Conversation): Converted {
  const lost = [...conv.lost];
  const info = FORMATS[format];
  const name = (r: ConvRole) => info.roleNames[r] as string;
  const tools = conv.turns.filter((t) => t.role === 'tool');
  switch (format) {
    case 'vertex-gemini': {
      if (tools.length > 0) lost.push(`${tools.length} tool result turn(s)`);
      const out: Record<string, unknown> = {};
      if (conv.system !== undefined) out.systemInstruction = { parts: [{ text: conv.system }] };
      out.contents = conv.turns.filter((t) => t.role !== 'tool').map((t) => ({ role: t.role, parts: [{ text: t.text }] }));
      return { value: out, lost };
    }
    case 'openai-chat': {
      const messages: Record<string, unknown>[] = [];
      if (conv.system !== undefined) messages.push({ role: 'system', content: conv.system });
      for (const t of conv.turns) {
        if (t.role === 'tool') lost.push('a tool result (OpenAI needs the tool call it answers)');
        else messages.push({ role: name(t.role), content: t.text });
      }
      return { value: { messages }, lost };
    }
    case 'sharegpt':
    case 'conversation': {
      const roleKey = info.roleKey as string;
      const textKey = info.textKey as string;
      const list: Record<string, unknown>[] = [];
      if (conv.system !== undefined) list.push({ [roleKey]: 'system', [textKey]: conv.system });
      for (const t of conv.turns) {
        const role = info.roleNames[t.role];
        if (role === undefined) lost.push(`a ${t.role} turn`);
        else list.push({ [roleKey]: role, [textKey]: t.text });
      }
      return { value: { [info.turnsKey as string]: list }, lost };
    }
    case 'alpaca': {
      const turns = conv.turns.filter((t) => t.role !== 'tool');
      if (tools.length > 0) lost.push(`${tools.length} tool result turn(s)`);
      const paired = turns.length >= 2 && turns.length % 2 === 0 && turns.every((t, i) => t.role === (i % 2 === 0 ? 'user' : 'model'));
      if (!paired) return { value: undefined, lost: [...lost, 'turns that do not alternate user/model pairs ending with the model'] };
      const last = turns.slice(-2);
      const out: Record<string, unknown> = {};
      if (conv.system !== undefined) out.system = conv.system;
      out.instruction = last[0]?.text ?? '';
      out.input = '';
      out.output = last[1]?.text ?? '';
      if (turns.length > 2) {
        const history: [string, string][] = [];
        for (let i = 0; i + 1 < turns.length - 2; i += 2) history.push([turns[i]?.text ?? '', turns[i + 1]?.text ?? '']);
        out.history = history;
      }
      return { value: out, lost };
    }
    case 'prompt-completion': {
      const turns = conv.turns.filter((t) => t.role !== 'tool');
      if (conv.system !== undefined) lost.push('the system instruction');
      if (turns.length !== 2 || turns[0]?.role !== 'user' || turns[1]?.role !== 'model') {
        return { value: undefined, lost: [...lost, 'more than one user turn and one model turn'] };
      }
      return { value: { prompt: turns[0].text, completion: turns[1].text }, lost };
    }
  }
}

/** Convert one parsed sample; `from` is detected when not given. */
export function convertSample(value: Record<string, unknown>, to: FormatId, from?: FormatId): Converted {
  const source = from ?? detectFormat(value);
  if (source === undefined) return { value: undefined, lost: ['the sample is in no known format'] };
  if (source === to) return { value, lost: [] };
  return fromConversation(to, toConversation(source, value));
}

export interface LineConversion {
  readonly line: number;
  readonly text: string | undefined;
  readonly lost: readonly string[];
}

/** Convert a whole file's lines; lines that are not samples are kept as they are and reported. */
export function convertLines(lines: readonly string[], to: FormatId, serialize: (original: string, v: unknown) => string): { lines: string[]; problems: LineConversion[]; converted: number } {
  const out: string[] = [];
  const problems: LineConversion[] = [];
  let converted = 0;
  lines.forEach((line, i) => {
    if (line.trim() === '') {
      if (i < lines.length - 1 || line !== '') out.push(line);
      else out.push('');
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      out.push(line);
      problems.push({ line: i, text: undefined, lost: ['not valid JSON: copied as it is'] });
      return;
    }
    const r = isObject(value) ? convertSample(value, to) : { value: undefined, lost: ['not an object'] };
    if (r.value === undefined) {
      out.push(line);
      problems.push({ line: i, text: undefined, lost: [...r.lost, 'copied as it is'] });
      return;
    }
    const text = serialize(line, r.value);
    out.push(text);
    converted++;
    if (r.lost.length > 0) problems.push({ line: i, text, lost: r.lost });
  });
  return { lines: out, problems, converted };
}
