/**
 * Conversion between dataset formats through one neutral shape: a system
 * instruction and a list of turns. What the target format cannot hold is
 * reported, never dropped silently.
 */
import { FORMATS, FormatId, detectFormat, extractTurns } from './formats';

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

/** Read a sample of `format` into the neutral shape (from the same turns the rules read). */
export function toConversation(format: FormatId, value: Record<string, unknown>): Conversation {
  const lost: string[] = [];
  const turns: ConvTurn[] = [];
  let system: string | undefined;
  if (format === 'openai-chat' && Array.isArray(value.tools)) lost.push('the `tools` definitions');
  for (const t of extractTurns(format, value)) {
    const where = typeof t.turnPath[1] === 'number' ? `turn ${t.turnPath[1] + 1}` : `\`${String(t.turnPath[0])}\``;
    if (t.hasNonText) {
      const turn = t.implicit ? undefined : (value[FORMATS[format].turnsKey as string] as unknown[])[t.turnPath[1] as number];
      const toolCalls = isObject(turn) && Array.isArray(turn.tool_calls) && turn.tool_calls.length > 0;
      lost.push(`${where}: ${toolCalls ? 'tool calls' : 'content other than text (a file, a function call)'}`);
    }
    if (t.kind === 'system') system = system === undefined ? t.text : `${system}\n\n${t.text}`;
    else if (t.kind !== undefined) turns.push({ role: t.kind, text: t.text });
    else lost.push(`${where}: role ${JSON.stringify(t.role)}`);
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
