/**
 * The JSON Schemas of schemas/, compiled with ajv once per process, and their
 * errors in plain sentences placed on the key or value at fault.
 */
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import ajvErrors from 'ajv-errors';
import type { FormatId, JsonPath } from './formats';
import alpaca from '../../schemas/alpaca.schema.json';
import conversation from '../../schemas/conversation.schema.json';
import openaiChat from '../../schemas/openai-chat.schema.json';
import promptCompletion from '../../schemas/prompt-completion.schema.json';
import sharegpt from '../../schemas/sharegpt.schema.json';
import vertexGemini from '../../schemas/vertex-gemini.schema.json';

export const SCHEMAS: Readonly<Record<FormatId, object>> = {
  'vertex-gemini': vertexGemini,
  'openai-chat': openaiChat,
  sharegpt,
  alpaca,
  'prompt-completion': promptCompletion,
  conversation,
};

export interface SchemaProblem {
  /** The value at fault, or the object that lacks a key. */
  readonly path: JsonPath;
  readonly message: string;
}

let validators: Map<FormatId, ValidateFunction> | undefined;

function compileAll(): Map<FormatId, ValidateFunction> {
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  ajvErrors(ajv);
  const map = new Map<FormatId, ValidateFunction>();
  for (const [id, schema] of Object.entries(SCHEMAS) as [FormatId, object][]) map.set(id, ajv.compile(schema));
  return map;
}

/** The compiled validator of a format; compiled on first use, once for all formats. */
export function validatorFor(format: FormatId): ValidateFunction {
  validators ??= compileAll();
  return validators.get(format) as ValidateFunction;
}

function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9]\d*)$/.test(s) ? Number(s) : s));
}

const describeType = (t: unknown): string => {
  const names: Record<string, string> = { object: 'an object', array: 'a list', string: 'a string', number: 'a number', integer: 'a whole number', boolean: 'true or false', null: 'null' };
  return Array.isArray(t) ? t.map((x) => names[String(x)] ?? String(x)).join(' or ') : names[String(t)] ?? String(t);
};

function lastKey(path: (string | number)[]): string {
  for (let i = path.length - 1; i >= 0; i--) if (typeof path[i] === 'string') return `\`${String(path[i])}\``;
  return 'the sample';
}

/** A plain sentence for an ajv error the schema gave no message of its own. */
function plain(e: ErrorObject, path: (string | number)[]): string {
  const what = typeof path[path.length - 1] === 'number' ? `item ${Number(path[path.length - 1]) + 1} of ${lastKey(path)}` : lastKey(path);
  switch (e.keyword) {
    case 'required': return `${what} needs \`${String((e.params as { missingProperty: string }).missingProperty)}\``;
    case 'type': return `${what} must be ${describeType((e.params as { type: unknown }).type)}`;
    case 'minItems': return `${what} needs at least ${String((e.params as { limit: number }).limit)} item(s)`;
    case 'maxItems': return `${what} takes at most ${String((e.params as { limit: number }).limit)} item(s)`;
    case 'enum': return `${what} must be one of ${((e.params as { allowedValues: unknown[] }).allowedValues).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'additionalProperties': return `unexpected key \`${String((e.params as { additionalProperty: string }).additionalProperty)}\` in ${what}`;
    case 'minProperties': return `${what} is empty`;
    default: return `${what} ${e.message ?? 'is invalid'}`;
  }
}

/** Validate a parsed sample against its format's schema; problems deduplicated, at most `limit`. */
export function schemaProblems(format: FormatId, value: unknown, limit = 10): SchemaProblem[] {
  const validate = validatorFor(format);
  if (validate(value)) return [];
  const out: SchemaProblem[] = [];
  const seen = new Set<string>();
  for (const e of validate.errors ?? []) {
    if (e.keyword === 'if' || e.keyword === 'anyOf' || e.keyword === 'oneOf') continue;
    const path = pointerToPath(e.instancePath);
    const message = e.keyword === 'errorMessage' ? e.message ?? 'invalid' : plain(e, path);
    const key = `${e.instancePath}|${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path, message });
    if (out.length >= limit) break;
  }
  return out;
}
