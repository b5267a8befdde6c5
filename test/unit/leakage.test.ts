import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as path from 'node:path';
import fc from 'fast-check';
import { DatasetDocument, OpenDocumentPartner } from '../../src/core/document';
import { dedupeTextOfLine } from '../../src/core/dedupe';
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

test('the other split open in the editor: its unsaved edits count, and only the lines they concern are looked at again (property)', () => {
  const q = (text: string, answer = 'Hold the reset button for ten seconds until the light blinks.') => vertex([['user', text], ['model', answer]]);
  const pool = [
    q('How do I reset my router to factory settings?'), q('How do I reset my router to its factory settings?'),
    q('Which cable goes into the blue port at the back?'), q('Where is the serial number of the router printed?'),
    q('Where is the serial number of this router printed?', 'On the label underneath.'), q('What does the orange light mean?', 'A firmware update.'),
    '{bad json', '',
  ];
  const arbLines = fc.array(fc.constantFrom(...pool), { minLength: 1, maxLength: 10 });
  fc.assert(
    fc.property(arbLines, arbLines, fc.array(fc.tuple(fc.nat(), fc.nat(2), fc.array(fc.constantFrom(...pool), { maxLength: 2 })), { maxLength: 5 }), (train, initial, edits) => {
      const validation = new DatasetDocument(initial.join('\n'), DEFAULT_OPTIONS);
      validation.lint();
      const doc = new DatasetDocument(train.join('\n'), DEFAULT_OPTIONS);
      doc.setPartner(new OpenDocumentPartner('/w/validation.jsonl', validation));
      doc.lint();
      let lines = [...initial];
      for (const [at, span, insert] of edits) {
        const start = at % lines.length;
        const end = Math.min(lines.length - 1, start + span);
        const text = insert.join('\n');
        const before = lines.slice(start, end + 1).map((l) => dedupeTextOfLine(l)).filter((x) => x !== undefined);
        validation.applyEdit({ startLine: start, startCharacter: 0, endLine: end, endCharacter: (lines[end] as string).length, text });
        lines = [...lines.slice(0, start), ...text.split('\n'), ...lines.slice(end + 1)];
        const after = text.split('\n').map((l) => dedupeTextOfLine(l)).filter((x) => x !== undefined);
        doc.partnerChanged([...before, ...after]);
        if (at % 2 === 0) doc.lint();
      }
      // As if the saved file were read afresh.
      const fresh = new DatasetDocument(train.join('\n'), DEFAULT_OPTIONS);
      fresh.setPartner(new PartnerIndex('/w/validation.jsonl', lines, DEFAULT_OPTIONS.dedupe));
      assert.deepEqual(doc.lint().diagnostics, fresh.lint().diagnostics);
    }),
    { numRuns: 300 },
  );
});
