import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { FORMAT_IDS } from '../../src/core/formats';
import { RULES, RULE_IDS, ruleAnchor } from '../../src/core/rules';
import { TARGET_IDS } from '../../src/core/targets';

const ROOT = path.resolve(__dirname, '../../..');

test('docs/rules.md has a section for every rule, opening with its declared title', () => {
  const doc = readFileSync(path.join(ROOT, 'docs', 'rules.md'), 'utf8');
  const sections = [...doc.matchAll(/^## `([a-z0-9-]+)`\n\n(.+)$/gm)].map((m) => [m[1], m[2]]);
  assert.deepEqual(sections.map((s) => s[0]), RULE_IDS, 'same rules, same order');
  for (const [id, title] of sections) assert.equal(title, RULES[id as keyof typeof RULES].title, id);
  for (const id of RULE_IDS) assert.equal(ruleAnchor(id), id, 'the GitHub-style anchor of a heading `id` is the id');
});

test('docs/rules.md says "Target rule" for exactly the rules the registry marks as target rules', () => {
  const doc = readFileSync(path.join(ROOT, 'docs', 'rules.md'), 'utf8');
  for (const id of RULE_IDS) {
    const start = doc.indexOf(`## \`${id}\``);
    const section = doc.slice(start, doc.indexOf('\n## ', start + 1));
    assert.equal(/\bTarget rule\b/.test(section), RULES[id].target === true, id);
  }
});

test('package.json settings list every rule and format', () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    contributes: { configuration: { properties: Record<string, { properties?: Record<string, unknown>; additionalProperties?: { enum?: string[] } }> } };
  };
  const props = pkg.contributes.configuration.properties;
  assert.deepEqual(Object.keys(props['sftStudio.rules']?.properties ?? {}), RULE_IDS);
  assert.deepEqual([...(props['sftStudio.formats']?.additionalProperties?.enum ?? [])].sort(), [...FORMAT_IDS].sort());
});

test('package.json and docs/rules.md list every target', () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    contributes: { configuration: { properties: Record<string, { examples?: string[] }> } };
  };
  assert.deepEqual(pkg.contributes.configuration.properties['sftStudio.target']?.examples, TARGET_IDS);
  const doc = readFileSync(path.join(ROOT, 'docs', 'rules.md'), 'utf8');
  const targets = doc.slice(doc.indexOf('## Targets'));
  for (const id of TARGET_IDS) assert.ok(targets.includes(`\`${id}\``), id);
});
