/**
 * The one registry of lint rules. The server, the CLI, the settings schema in
 * package.json (checked by a unit test) and docs/rules.md all read from here.
 */

export type Severity = 'error' | 'warning' | 'information' | 'hint';
export type SeveritySetting = Severity | 'off';

export interface RuleInfo {
  /** Stable code shown in the Problems panel and the CLI. Never rename. */
  readonly id: string;
  readonly defaultSeverity: Severity;
  /** One line: what the rule checks, in the user's words. */
  readonly title: string;
  /**
   * A rule of the target services: checked only when a target is chosen, and
   * each diagnostic names the target it is for (docs/rules.md says "Target rule").
   */
  readonly target?: true;
}

const defineRules = <const T extends Record<string, Omit<RuleInfo, 'id'>>>(rules: T) => {
  const out = {} as { [K in keyof T]: RuleInfo & { id: K } };
  for (const id of Object.keys(rules) as (keyof T & string)[]) {
    out[id] = { id, ...rules[id] } as RuleInfo & { id: typeof id };
  }
  return out;
};

export const RULES = defineRules({
  'invalid-json': { defaultSeverity: 'error', title: 'The line is not valid JSON.' },
  'not-an-object': { defaultSeverity: 'error', title: 'The line is valid JSON but not an object, so it cannot be a sample.' },
  'line-too-large': { defaultSeverity: 'error', title: 'The line is too large to be checked (over the size limit for one line).' },
  'unknown-format': { defaultSeverity: 'error', title: 'The sample matches none of the supported dataset formats.' },
  'mixed-format': { defaultSeverity: 'warning', title: 'The sample is in another format than the rest of the file (or than the format pinned in settings).' },
  'schema': { defaultSeverity: 'error', title: "The sample does not follow its format's JSON Schema (a missing key, a wrong type)." },
  'invalid-role': { defaultSeverity: 'error', title: "A turn's role is not one the format knows (e.g. `assistant` in a Vertex AI file)." },
  'role-order': { defaultSeverity: 'error', title: "Turns are out of order: a sample starts with the user, alternates, and ends with the model's turn." },
  'empty-turn': { defaultSeverity: 'error', title: 'A turn is empty or only whitespace.' },
  'system-turn': { defaultSeverity: 'error', title: 'A system instruction is in the wrong place (a `system` turn in Vertex AI `contents`, or a system message after the first).' },
  'inconsistent-system-instruction': { defaultSeverity: 'information', title: 'The system instruction differs from the one most samples of the file use.' },
  'too-long': { defaultSeverity: 'warning', title: "The sample's token count is over the target model's limit for one training example." },
  'bom': { defaultSeverity: 'warning', title: 'The file starts with a UTF-8 byte-order mark, which some loaders read as part of the first key.' },
  'crlf': { defaultSeverity: 'information', title: 'Lines end with CRLF (Windows) instead of LF.' },
  'blank-line': { defaultSeverity: 'warning', title: 'A blank line between samples; many loaders fail on it.' },
  'invalid-utf8': { defaultSeverity: 'error', title: 'The line holds bytes that are not valid UTF-8.' },
  'duplicate': { defaultSeverity: 'warning', title: 'The sample is an exact copy of another one (after normalising whitespace, case, role names and key order).' },
  'near-duplicate': { defaultSeverity: 'information', title: 'The sample is nearly the same as another one (MinHash over character n-grams, confirmed by exact Jaccard similarity).' },
  'leakage': { defaultSeverity: 'warning', title: 'The sample is also, exactly or nearly, in the other split of the dataset (training and validation).' },
  'special-token': { defaultSeverity: 'error', target: true, title: 'A special token of a tokenizer or chat template (`<|endoftext|>`, `<|im_start|>`, `[INST]`…) is inside the text.' },
  'nul-character': { defaultSeverity: 'error', target: true, title: 'The text holds a NUL character (`\\u0000`).' },
  'weight': { defaultSeverity: 'error', target: true, title: 'An OpenAI `weight` other than 0 or 1, or on a message that is not the assistant\'s.' },
  'missing-content': { defaultSeverity: 'error', target: true, title: 'An OpenAI assistant message with neither `content` nor `tool_calls`.' },
  'tool-call-id': { defaultSeverity: 'error', target: true, title: 'An OpenAI tool message whose `tool_call_id` matches no earlier tool call.' },
  'unknown-function': { defaultSeverity: 'error', target: true, title: "An OpenAI assistant message calls a function that is not in the sample's `tools`." },
  'content-kind': { defaultSeverity: 'error', target: true, title: 'A file or content part of a kind the target model does not take for tuning.' },
  'target-format': { defaultSeverity: 'error', target: true, title: 'The file is in a format the target service does not read.' },
  'too-few-examples': { defaultSeverity: 'error', target: true, title: 'The file has fewer samples than the target service needs.' },
  'too-many-validation-examples': { defaultSeverity: 'error', target: true, title: 'The validation file has more samples than the target service allows.' },
  'file-too-large': { defaultSeverity: 'error', target: true, title: 'The file is larger than the target service accepts.' },
});

export type RuleId = keyof typeof RULES;

export const RULE_IDS = Object.keys(RULES) as RuleId[];

/** The rules of the target services (see RuleInfo.target). */
export const TARGET_RULE_IDS = RULE_IDS.filter((id) => RULES[id].target === true);

export function isRuleId(value: string): value is RuleId {
  return Object.prototype.hasOwnProperty.call(RULES, value);
}

export const SEVERITY_SETTINGS: readonly SeveritySetting[] = ['error', 'warning', 'information', 'hint', 'off'];

/** Anchor of the rule's section in docs/rules.md (GitHub-style slug of the heading `` `id` ``). */
export function ruleAnchor(id: RuleId): string {
  return id.replace(/[^a-z0-9-]/g, '');
}
