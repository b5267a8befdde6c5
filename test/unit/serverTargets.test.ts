import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CodeAction, CodeActionRequest, CreateFile, DidOpenTextDocumentNotification, TextDocumentEdit, TextEdit,
} from 'vscode-languageserver-protocol/node';
import { openai } from './helpers';
import { lspClient } from './lspClient';


describe('language server with a target', () => {
  const settings = { target: 'openai:gpt-4.1-mini', tokenLimits: { 'openai:gpt-4.1-mini': 60 }, rules: { 'near-duplicate': 'off' } };
  const lsp = lspClient(() => settings);
  const { published, summaries, waitFor } = lsp;

  before(() => lsp.start());
  after(() => lsp.stop());

  const ten = Array.from({ length: 10 }, (_, i) => openai([['user', `question ${i}`], ['assistant', `answer ${i}`]]));

  test('the estimate shows first; the exact count from the token worker corrects it', async () => {
    const uri = 'file:///nowhere/exact.jsonl';
    // 300 × "a": estimated 84 tokens, over the limit of 60; o200k_base counts 48.
    const long = openai([['user', 'a'.repeat(300)], ['assistant', 'ok']]);
    await lsp.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'jsonl', version: 1, text: [...ten, long].join('\n') + '\n' } });
    const first = await waitFor(published, (x) => x.uri === uri);
    assert.deepEqual(first.diagnostics.map((d) => [d.range.start.line, d.code, d.message, d.data]), [
      [10, 'too-long', '84 tokens (estimated), over the 60-token limit of OpenAI gpt-4.1-mini for one training example: the service rejects or truncates it', { target: 'openai:gpt-4.1-mini' }],
    ]);
    const corrected = await waitFor(published, (x) => x.uri === uri && x.diagnostics.length === 0);
    assert.equal(corrected.version, 1);
    const s = await waitFor(summaries, (x) => x.uri === uri && x.targets[0]?.exact === true);
    assert.deepEqual([s.targets[0]?.target, s.targets[0]?.overLimit, s.targets[0]?.tokenLimit], ['openai:gpt-4.1-mini', 0, 60]);
    assert.equal(s.distribution?.max, 48);
  });

  test('a sample over the limit by exact count: moved whole to NAME.too-long.jsonl by the quick fix', async () => {
    const uri = 'file:///nowhere/move.jsonl';
    const long = openai([['user', 'word '.repeat(100)], ['assistant', 'ok']]);
    const text = [ten[0], long, ...ten.slice(1)].join('\n') + '\n';
    await lsp.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'jsonl', version: 3, text } });
    const p = await waitFor(published, (x) => x.uri === uri && x.diagnostics.some((d) => String(d.message).startsWith('111 tokens (counted with the o200k_base tokenizer)')));
    const d = p.diagnostics.find((x) => x.code === 'too-long')!;
    const actions = (await lsp.conn.sendRequest(CodeActionRequest.type, { textDocument: { uri }, range: d.range, context: { diagnostics: [d] } })) as CodeAction[];
    const move = actions.find((a) => a.title === 'Move the sample over the token limit to move.too-long.jsonl')!;
    const [create, append, remove] = move.edit!.documentChanges! as [CreateFile, TextDocumentEdit, TextDocumentEdit];
    assert.deepEqual(create, { kind: 'create', uri: 'file:///nowhere/move.too-long.jsonl', options: { ignoreIfExists: true } });
    assert.deepEqual(append.textDocument, { uri: 'file:///nowhere/move.too-long.jsonl', version: null });
    assert.equal((append.edits[0] as TextEdit).newText, long + '\n', 'the sample, whole');
    assert.deepEqual(remove.textDocument, { uri, version: 3 });
    assert.deepEqual((remove.edits as TextEdit[]).map((e) => [e.range.start.line, e.range.end.line, e.newText]), [[1, 2, '']]);
  });
});
