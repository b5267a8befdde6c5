/**
 * One fixture per target rule (test/fixtures/targets/README.md): for every rule
 * the registry marks as a target rule there must be at least one fixture; each
 * is linted for its target, and the test asserts the diagnostics, their ranges,
 * the target they name and the provider's error text they quote (or that they
 * quote none where the fixture says the text is not known).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import * as z from 'zod';
import { DatasetDocument } from '../../src/core/document';
import { resolveOptions } from '../../src/core/options';
import { RULES, TARGET_RULE_IDS, isRuleId } from '../../src/core/rules';
import { TARGET_IDS, findTarget } from '../../src/core/targets';
import { ROOT } from './helpers';

const DIR = path.join(ROOT, 'test', 'fixtures', 'targets');

const Expected = z.object({
  line: z.number().int().min(0),
  start: z.number().int().min(0),
  end: z.number().int().min(0),
  /** The text the range covers, so a reader sees what is flagged. */
  covers: z.string().min(1),
  /** The whole message, as the Problems panel shows it. */
  message: z.string().min(1),
  /** The service's own error text for this case, or null where it is not known. */
  providerError: z.string().min(1).nullable(),
});

const Sidecar = z.strictObject({
  target: z.string().refine((t) => TARGET_IDS.includes(t), 'a known target id'),
  /** The name the linter sees: it decides whether the file is a training or a validation file. */
  file: z.string().regex(/^[\w.-]+\.jsonl$/),
  /** Smaller limits in place of documented ones too large for a fixture (and why). */
  limits: z.strictObject({ maxFileBytes: z.number().int().positive().optional(), maxValidationExamples: z.number().int().positive().optional() }).optional(),
  limitsWhy: z.string().min(1).optional(),
  diagnostics: z.array(Expected).min(1),
  /** Where the quoted provider error texts come from; required when one is quoted. */
  providerErrorSource: z.string().min(1).optional(),
  /** Why no provider error text is quoted; required when none is. */
  providerErrorNote: z.string().min(1).optional(),
  /** Codes of format rules the fixture also sets off (e.g. `empty-turn` for an assistant message without content). */
  otherDiagnostics: z.array(z.string()).optional(),
})
  .refine((s) => (s.limits === undefined) === (s.limitsWhy === undefined), 'limits and limitsWhy go together')
  .refine((s) => s.diagnostics.every((d) => d.providerError === null) || s.providerErrorSource !== undefined, 'a quoted provider error needs providerErrorSource')
  .refine((s) => s.diagnostics.some((d) => d.providerError !== null) || s.providerErrorNote !== undefined, 'no quoted provider error: say why in providerErrorNote');

/** Fixture names per rule: `<rule-id>.jsonl` and `<rule-id>.<variant>.jsonl`. */
function fixturesByRule(): Map<string, string[]> {
  const byRule = new Map<string, string[]>();
  for (const f of readdirSync(DIR).filter((n) => n.endsWith('.jsonl')).sort()) {
    const name = f.slice(0, -'.jsonl'.length);
    const rule = name.split('.')[0] as string;
    byRule.set(rule, [...(byRule.get(rule) ?? []), name]);
  }
  return byRule;
}

const byRule = fixturesByRule();

test('every target rule has a fixture, and every fixture is of a target rule', () => {
  assert.ok(TARGET_RULE_IDS.length >= 11, 'the registry marks the target rules');
  assert.deepEqual(TARGET_RULE_IDS.filter((id) => !byRule.has(id)), [], 'target rules without a fixture in test/fixtures/targets');
  assert.deepEqual([...byRule.keys()].filter((r) => !isRuleId(r) || RULES[r].target !== true), [], 'fixtures named after no target rule');
});

describe('target rule fixtures', () => {
  for (const [rule, names] of byRule) {
    for (const name of names) {
      test(name, () => {
        const text = readFileSync(path.join(DIR, `${name}.jsonl`), 'utf8');
        const spec = Sidecar.parse(JSON.parse(readFileSync(path.join(DIR, `${name}.expect.json`), 'utf8')));
        const profile = findTarget(spec.target);
        assert.ok(profile !== undefined);
        const resolved = resolveOptions({ target: spec.target, duplicates: { enabled: false } }, `/w/${spec.file}`);
        assert.deepEqual(resolved.problems, []);
        const options = { ...resolved.options, targets: resolved.options.targets.map((t) => ({ ...t, ...spec.limits })) };
        const lines = text.split('\n');
        const all = new DatasetDocument(text, options).lint().diagnostics;
        const found = all.filter((d) => d.target !== undefined);
        assert.deepEqual(all.filter((d) => d.target === undefined).map((d) => d.code), spec.otherDiagnostics ?? [], 'no other rule fires');
        assert.deepEqual(
          found.map((d) => ({ code: d.code, target: d.target, line: d.line, start: d.column, end: d.endColumn, covers: lines[d.line]?.slice(d.column, d.endColumn) })),
          spec.diagnostics.map((e) => ({ code: rule, target: spec.target, line: e.line, start: e.start, end: e.end, covers: e.covers })),
        );
        found.forEach((d, i) => {
          const e = spec.diagnostics[i]!;
          assert.equal(d.message, e.message);
          assert.equal(d.endLine, d.line, 'a range within one line');
          assert.equal(d.severity, RULES[rule as keyof typeof RULES].defaultSeverity);
          assert.ok(d.message.includes(profile.label), `the message names the target (${profile.label}): ${d.message}`);
          if (e.providerError !== null) assert.ok(d.message.includes(`("${e.providerError}")`), `the message quotes the service's error text: ${d.message}`);
          else assert.ok(!d.message.includes('("'), `no error text is known, so none is quoted: ${d.message}`);
        });
      });
    }
  }
});

// A valid file per target giving no diagnostic: targets.test.ts, over every target of TARGETS.
