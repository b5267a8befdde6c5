import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as path from 'node:path';
import { DatasetDocument } from '../../src/core/document';
import { PartnerIndex, conventionalPartners, findPartner } from '../../src/core/leakage';
import { DEFAULT_OPTIONS } from '../../src/core/options';
import { vertex } from './helpers';

test('conventional names pair training and validation files both ways', () => {
  const p = (f: string) => conventionalPartners(path.join('/d', f)).map((x) => path.basename(x));
  assert.deepEqual(p('train.jsonl').slice(0, 3), ['validation.jsonl', 'valid.jsonl', 'val.jsonl']);
  assert.ok(p('gemini-train.jsonl').includes('gemini-val.jsonl'));
  assert.ok(p('validation.jsonl').includes('train.jsonl'));
  assert.ok(p('chat_eval.ndjson').includes('chat_train.ndjson'));
  assert.deepEqual(p('constraints.jsonl'), [], '"train" inside a word is not a split name');
});

test('findPartner: settings first, then the first conventional name that exists', () => {
  const exists = (f: string) => ['/w/data/val.jsonl', '/w/data/heldout.jsonl'].includes(f);
  assert.equal(findPartner('/w/data/train.jsonl', {}, '/w', exists), '/w/data/val.jsonl');
  assert.equal(findPartner('/w/data/sft.jsonl', { 'data/sft.jsonl': 'data/heldout.jsonl' }, '/w', exists), '/w/data/heldout.jsonl');
  assert.equal(findPartner('/w/data/heldout.jsonl', { 'data/sft.jsonl': 'data/heldout.jsonl' }, '/w', exists), '/w/data/sft.jsonl');
  assert.equal(findPartner('/w/data/other.jsonl', {}, '/w', exists), undefined);
});

test('a training sample found in the validation file is flagged and linked to it', () => {
  const q = (text: string) => vertex([['user', text], ['model', 'Hold the reset button for ten seconds until the light blinks.']]);
  const validation = [q('How do I reset my router to factory settings?'), q('Which cable goes into the blue port at the back?')];
  const doc = new DatasetDocument([q('Where is the serial number of the router printed?'), q('How do I reset my router to its factory settings?')].join('\n'), DEFAULT_OPTIONS);
  assert.deepEqual(doc.lint().diagnostics.map((d) => d.code), []);
  doc.setPartner(new PartnerIndex('/w/validation.jsonl', validation, DEFAULT_OPTIONS.dedupe));
  const [d] = doc.lint().diagnostics;
  assert.equal(d?.code, 'leakage');
  assert.equal(d?.line, 1);
  assert.match(d?.message ?? '', /^also in validation\.jsonl, line 1 \(a near copy, similarity 0\.\d\d\): a sample in both splits makes the validation score lie$/);
  assert.deepEqual(d?.related?.map((r) => [r.file, r.line]), [['/w/validation.jsonl', 0]]);
});
