import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import {
  CodeAction, CodeActionRequest, DidChangeConfigurationNotification, TextDocumentEdit, TextEdit, DidChangeTextDocumentNotification, DidOpenTextDocumentNotification, HoverRequest, MarkupContent, PublishDiagnosticsParams,
} from 'vscode-languageserver-protocol/node';
import { vertex } from './helpers';
import { lspClient } from './lspClient';


describe('language server over stdio', () => {
  let settings: Record<string, unknown> = {};
  const lsp = lspClient(() => settings);
  const { published, summaries, waitFor } = lsp;

  before(() => lsp.start({ rulesDocUri: 'file:///ext/docs/rules.md' }));
  after(() => lsp.stop());

  const uri = 'file:///nowhere/train.jsonl';
  const lines = [vertex([['user', 'q'], ['model', 'a']]), vertex([['user', 'q2'], ['assistant', 'a2']])];

  test('publishes diagnostics with code, link and exact range on open', async () => {
    await lsp.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'jsonl', version: 1, text: lines.join('\n') + '\n' } });
    const p = await waitFor(published, (x) => x.uri === uri && x.version === 1);
    assert.equal(p.diagnostics.length, 1);
    const d = p.diagnostics[0]!;
    assert.equal(d.code, 'invalid-role');
    assert.equal(d.source, 'sft-studio');
    assert.equal(d.codeDescription?.href, 'file:///ext/docs/rules.md#invalid-role');
    const col = lines[1]!.indexOf('"assistant"');
    assert.deepEqual(d.range, { start: { line: 1, character: col }, end: { line: 1, character: col + 11 } });
    const s = await waitFor(summaries, (x) => x.uri === uri && x.version === 1);
    assert.deepEqual([s.format, s.samples, s.errors], ['vertex-gemini', 2, 1]);
  });

  test('an incremental edit re-publishes for the new version', async () => {
    const col = lines[1]!.indexOf('"assistant"') + 1;
    await lsp.conn.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri, version: 2 },
      contentChanges: [{ range: { start: { line: 1, character: col }, end: { line: 1, character: col + 9 } }, text: 'model' }],
    });
    const p = await waitFor(published, (x) => x.uri === uri && x.version === 2);
    assert.deepEqual(p.diagnostics, []);
  });

  test('hover shows format, turns, size, tokens and problems', async () => {
    await lsp.conn.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri, version: 3 },
      contentChanges: [{ range: { start: { line: 2, character: 0 }, end: { line: 2, character: 0 } }, text: vertex([['model', 'oops'], ['user', '<b>x</b>']]) }],
    });
    await waitFor(published, (x) => x.uri === uri && x.version === 3);
    const hover = await lsp.conn.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 2, character: 3 } });
    const md = (hover?.contents as MarkupContent).value;
    assert.match(md, /\*\*Sample 3\*\* · Vertex AI Gemini/);
    assert.match(md, /2 turns · \d+ characters · ~\d+ tokens \(estimated; limit 131,072 for `gemini-2\.5-flash`\)/);
    assert.match(md, /\\<b\\>x\\<\/b\\>/, 'dataset text is escaped, never markup');
    assert.match(md, /\*\*2 problems\*\*/);
    assert.match(md, /error `role-order`: the sample starts with a "model" turn/);
  });

  test('quick fixes and fix-all name the document version they were made for', async () => {
    const fixUri = 'file:///nowhere/fix.jsonl';
    const text = [vertex([['user', 'q'], ['assistant', 'a']]), '', vertex([['user', 'q'], ['model', 'a']])].join('\n') + '\n';
    await lsp.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: fixUri, languageId: 'jsonl', version: 7, text } });
    const p = await waitFor(published, (x) => x.uri === fixUri && x.version === 7);
    const role = p.diagnostics.find((d) => d.code === 'invalid-role')!;
    const actions = (await lsp.conn.sendRequest(CodeActionRequest.type, { textDocument: { uri: fixUri }, range: role.range, context: { diagnostics: [role] } })) as CodeAction[];
    assert.deepEqual(actions.map((a) => [a.title, a.isPreferred ?? false]), [['Rename role "assistant" to "model"', true], ['Fix all SFT Studio problems that have a safe fix (2)', false]]);
    const change = actions[0]!.edit!.documentChanges![0] as TextDocumentEdit;
    assert.deepEqual(change.textDocument, { uri: fixUri, version: 7 });
    assert.equal((change.edits[0] as TextEdit).newText, vertex([['user', 'q'], ['model', 'a']]));
    const all = (await lsp.conn.sendRequest(CodeActionRequest.type, { textDocument: { uri: fixUri }, range: role.range, context: { diagnostics: [], only: ['source.fixAll'] } })) as CodeAction[];
    assert.equal(all[0]?.kind, 'source.fixAll.sftStudio');
    const edits = (all[0]!.edit!.documentChanges![0] as TextDocumentEdit).edits as TextEdit[];
    assert.deepEqual(edits.map((e) => [e.range.start.line, e.range.end.line, e.newText === '' ? 'delete' : 'replace']), [[0, 0, 'replace'], [1, 2, 'delete']]);
  });

  test('duplicates: linked diagnostics, a hover with the cluster and the differing words, delete and keep-first fixes', async () => {
    const dupUri = 'file:///nowhere/dups.jsonl';
    const a = vertex([['user', 'How do I reset the router to factory settings?'], ['model', 'Hold the reset button for ten seconds.']]);
    const b = vertex([['user', 'How do I reset the modem to factory settings?'], ['model', 'Hold the reset button for ten seconds.']]);
    const other = vertex([['user', 'Which port is for the modem cable?'], ['model', 'The blue one on the back.']]);
    await lsp.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: dupUri, languageId: 'jsonl', version: 1, text: [a, other, b, a].join('\n') + '\n' } });
    const p = await waitFor(published, (x) => x.uri === dupUri && x.version === 1);
    assert.deepEqual(p.diagnostics.map((d) => [d.range.start.line, d.code, d.message]), [
      [0, 'duplicate', 'duplicate of line 4'],
      [2, 'near-duplicate', p.diagnostics[1]!.message as string],
      [3, 'duplicate', 'duplicate of line 1'],
    ]);
    assert.match(p.diagnostics[1]!.message as string, /^near duplicate of line 1 \(similarity 0\.\d\d\); 3 samples in its cluster$/);
    assert.deepEqual(p.diagnostics[0]!.relatedInformation?.map((r) => [r.location.uri, r.location.range.start.line]), [[dupUri, 3], [dupUri, 2]]);
    const hover = await lsp.conn.sendRequest(HoverRequest.type, { textDocument: { uri: dupUri }, position: { line: 2, character: 1 } });
    const md = (hover?.contents as MarkupContent).value;
    assert.match(md, /\*\*Duplicate cluster\*\* · 3 samples: lines 1, \*\*3\*\*, 4/);
    assert.match(md, /Closest twin: line 1, similarity 0\.\d\d: this sample has `modem`; line 1 has `router`/);
    const actions = (await lsp.conn.sendRequest(CodeActionRequest.type, { textDocument: { uri: dupUri }, range: p.diagnostics[2]!.range, context: { diagnostics: [p.diagnostics[2]!] } })) as CodeAction[];
    assert.deepEqual(actions.map((x) => x.title), ['Delete this duplicate (line 4)', 'Keep the first of each duplicate cluster in this file (delete 2 samples)']);
    const keep = (actions[1]!.edit!.documentChanges![0] as TextDocumentEdit).edits as TextEdit[];
    assert.deepEqual(keep.map((e) => [e.range.start.line, e.range.end.line, e.newText]), [[2, 3, ''], [3, 4, '']]);
  });

  test('a large dataset gets its rule diagnostics first, then its duplicates', async () => {
    const bigUri = 'file:///nowhere/big.jsonl';
    const filler = 'lorem ipsum dolor sit amet '.repeat(40);
    const lines = Array.from({ length: 9000 }, (_, i) => vertex([['user', `${i} ${filler} ${i * 7919}`], ['model', `answer ${i} ${(i * 104729).toString(36)}`]]));
    lines[8999] = lines[0] as string; // an exact duplicate
    lines[5] = vertex([['user', 'q'], ['assistant', 'a']]); // a rule problem
    const text = lines.join('\n') + '\n';
    assert.ok(text.length > 8 * 1024 * 1024);
    const before = published.length;
    await lsp.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: bigUri, languageId: 'jsonl', version: 1, text } });
    const first = await waitFor(published, (x) => x.uri === bigUri && published.indexOf(x) >= before);
    assert.deepEqual(first.diagnostics.map((d) => d.code), ['invalid-role'], 'rules first, no waiting for duplicates');
    const later = await waitFor(published, (x) => x.uri === bigUri && x.diagnostics.some((d) => d.code === 'duplicate'));
    assert.deepEqual(later.diagnostics.map((d) => [d.range.start.line, d.code]), [[0, 'duplicate'], [5, 'invalid-role'], [8999, 'duplicate']]);
  });

  test('an edit while a large dataset is indexed for duplicates is published at once, then the duplicates follow', async () => {
    const bigUri = 'file:///nowhere/big-edited.jsonl';
    const filler = 'lorem ipsum dolor sit amet '.repeat(40);
    const lines = Array.from({ length: 9000 }, (_, i) => vertex([['user', `${i} ${filler} ${i * 7919}`], ['model', `answer ${i} ${(i * 104729).toString(36)}`]]));
    lines[8999] = lines[0] as string; // an exact duplicate, found only once indexing reaches the end
    const text = lines.join('\n') + '\n';
    assert.ok(text.length > 8 * 1024 * 1024);
    const before = published.length;
    const mine = (x: PublishDiagnosticsParams) => x.uri === bigUri && published.indexOf(x) >= before;
    await lsp.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: bigUri, languageId: 'jsonl', version: 1, text } });
    const first = await waitFor(published, mine);
    assert.deepEqual(first.diagnostics, []);
    // Break line 3's role: a rule problem, published without waiting for the duplicate index.
    const col = (lines[3] as string).indexOf('"model"') + 1;
    await lsp.conn.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri: bigUri, version: 2 }, contentChanges: [{ range: { start: { line: 3, character: col }, end: { line: 3, character: col + 5 } }, text: 'assistant' }],
    });
    const edited = await waitFor(published, (x) => mine(x) && x.version === 2);
    assert.deepEqual(edited.diagnostics.map((d) => [d.range.start.line, d.code]), [[3, 'invalid-role']]);
    const withDuplicates = await waitFor(published, (x) => mine(x) && x.diagnostics.some((d) => d.code === 'duplicate'));
    assert.ok(published.indexOf(withDuplicates) > published.indexOf(edited), 'the edit did not wait for the duplicates');
    assert.deepEqual(withDuplicates.diagnostics.map((d) => [d.range.start.line, d.code]), [[0, 'duplicate'], [3, 'invalid-role'], [8999, 'duplicate']]);
    assert.equal(withDuplicates.version, 2);
  });

  test('leakage follows unsaved edits of the other split when it is open in the editor', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sft-studio-leak-'));
    const q = (text: string) => vertex([['user', text], ['model', 'Hold the reset button for ten seconds until the light blinks.']]);
    const train = [q('Where is the serial number of the router printed?'), q('How do I reset my router to its factory settings?')].join('\n') + '\n';
    const validation = [q('Which cable goes into the blue port at the back?')].join('\n') + '\n';
    writeFileSync(path.join(dir, 'train.jsonl'), train);
    writeFileSync(path.join(dir, 'validation.jsonl'), validation);
    const trainUri = pathToFileURL(path.join(dir, 'train.jsonl')).toString();
    const valUri = pathToFileURL(path.join(dir, 'validation.jsonl')).toString();
    try {
      const before = published.length;
      const mine = (uri: string) => (x: PublishDiagnosticsParams) => x.uri === uri && published.indexOf(x) >= before;
      await lsp.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: trainUri, languageId: 'jsonl', version: 1, text: train } });
      await lsp.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: valUri, languageId: 'jsonl', version: 1, text: validation } });
      await waitFor(published, mine(valUri));
      // Type a near copy of training line 2 into the validation file, without saving it.
      await lsp.conn.sendNotification(DidChangeTextDocumentNotification.type, {
        textDocument: { uri: valUri, version: 2 }, contentChanges: [{ range: { start: { line: 1, character: 0 }, end: { line: 1, character: 0 } }, text: q('How do I reset my router to factory settings?') }],
      });
      const leak = await waitFor(published, (x) => mine(trainUri)(x) && x.diagnostics.some((d) => d.code === 'leakage'));
      assert.deepEqual(leak.diagnostics.map((d) => [d.range.start.line, d.code]), [[1, 'leakage']]);
      assert.deepEqual(leak.diagnostics[0]?.relatedInformation?.map((r) => [r.location.uri, r.location.range.start.line]), [[valUri, 1]]);
      // Delete it again: the finding goes.
      const at = published.length;
      await lsp.conn.sendNotification(DidChangeTextDocumentNotification.type, {
        textDocument: { uri: valUri, version: 3 }, contentChanges: [{ range: { start: { line: 1, character: 0 }, end: { line: 1, character: q('How do I reset my router to factory settings?').length } }, text: '' }],
      });
      await waitFor(published, (x) => x.uri === trainUri && published.indexOf(x) >= at && x.diagnostics.length === 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('settings change severities and pin formats', async () => {
    settings = { rules: { 'role-order': 'off' }, formats: { '**/train.jsonl': 'openai-chat' } };
    await lsp.conn.sendNotification(DidChangeConfigurationNotification.type, { settings: null });
    const p = await waitFor(published, (x) => x.uri === uri && x.diagnostics.some((d) => d.code === 'mixed-format'));
    assert.ok(p.diagnostics.every((d) => d.code === 'mixed-format'));
    assert.equal(p.diagnostics.length, 3);
  });
});
