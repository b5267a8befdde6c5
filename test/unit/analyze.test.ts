import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { covered, lint, openai, vertex } from './helpers';

const one = (line: string, settings = {}) => lint(line + '\n', settings);

describe('invalid-json', () => {
  test('points at the trailing comma', () => {
    const line = '{"prompt": "a", "completion": "b",}';
    const [d] = one(line);
    assert.equal(d?.code, 'invalid-json');
    assert.equal(d?.message, 'invalid JSON: trailing comma: remove it');
    assert.equal(d?.column, line.indexOf('}'));
  });
  test('single quotes', () => {
    const [d] = one("{'prompt': 'a'}");
    assert.equal(d?.message, 'invalid JSON: strings and keys need double quotes, not single quotes');
    assert.equal(d?.column, 1);
  });
  test('unquoted keys', () => {
    const [d] = one('{prompt: "a", completion: "b"}');
    assert.equal(d?.message, 'invalid JSON: keys need double quotes');
    assert.deepEqual([d?.column, d?.endColumn], [1, 7]);
  });
  test('a sample cut short at the end of the line', () => {
    const line = '{"contents": [{"role": "user", "parts": [{"text": "hi"}]}';
    const [d] = one(line);
    assert.match(d?.message ?? '', /the line ends before the sample is complete/);
    assert.equal(d?.column, line.length - 1);
  });
  test('two objects on one line', () => {
    const line = '{"prompt": "a", "completion": "b"} {"prompt": "c", "completion": "d"}';
    const [d] = one(line);
    assert.match(d?.message ?? '', /two objects on one line/);
    assert.equal(d?.column, line.indexOf(' {') + 1);
  });
  test('one bad line does not hide the problems of the others', () => {
    const diags = lint(['{"prompt": "a",', vertex([['user', 'q'], ['assistant', 'a']]), '{"prompt": ""'].join('\n'));
    assert.deepEqual(diags.map((d) => [d.line, d.code]), [[0, 'invalid-json'], [1, 'invalid-role'], [2, 'invalid-json']]);
  });
});

describe('not-an-object and unknown-format', () => {
  test('a list is not a sample', () => {
    const [d] = one('["user", "hi"]');
    assert.equal(d?.code, 'not-an-object');
    assert.equal(d?.message, 'a sample must be a JSON object, not a list');
  });
  test('unknown keys in a file of no known format', () => {
    const line = '{"question": "a", "answer": "b"}';
    const [d] = one(line);
    assert.equal(d?.code, 'unknown-format');
    assert.equal(covered(line, d!), '"question"');
  });
  test('a line of no format of its own is checked as the file format', () => {
    const diags = lint([vertex([['user', 'q'], ['model', 'a']]), '{"question": "x"}'].join('\n'));
    assert.deepEqual(diags.map((d) => [d.line, d.code, d.message]), [[1, 'schema', 'a Vertex AI Gemini sample needs `contents`, the list of turns']]);
  });
});

describe('schema', () => {
  test('parts given as a string: the message is a plain sentence on the key', () => {
    const line = '{"contents": [{"role": "user", "parts": "hello"}, {"role": "model", "parts": [{"text": "hi"}]}]}';
    const diags = one(line);
    assert.equal(diags.length, 1);
    assert.equal(diags[0]?.code, 'schema');
    assert.equal(diags[0]?.message, '`parts` must be a list of objects with `text`');
    assert.equal(covered(line, diags[0]!), '"hello"');
  });
  test('a turn without role', () => {
    const line = '{"contents": [{"parts": [{"text": "hello"}]}, {"role": "model", "parts": [{"text": "hi"}]}]}';
    const diags = one(line);
    assert.equal(diags[0]?.message, 'this turn needs a `role`: "user" or "model"');
    assert.equal(covered(line, diags[0]!), '{"parts": [{"text": "hello"}]}');
  });
  test('Alpaca without output', () => {
    const line = '{"instruction": "Translate", "input": "chat"}';
    const [d] = one(line);
    assert.equal(d?.message, 'an Alpaca sample needs `output`, the answer to learn');
    assert.equal(covered(line, d!), '"instruction"');
  });
  test('OpenAI content of the wrong type', () => {
    const line = '{"messages": [{"role": "user", "content": 42}, {"role": "assistant", "content": "x"}]}';
    const [d] = one(line);
    assert.equal(d?.code, 'schema');
    assert.match(d?.message ?? '', /^`content` must be a string/);
    assert.equal(covered(line, d!), '42');
  });
  test('valid samples of every format pass', () => {
    const lines = [
      vertex([['user', 'q'], ['model', 'a']], 'Be brief.'),
      openai([['system', 's'], ['user', 'q'], ['assistant', 'a']]),
      JSON.stringify({ conversations: [{ from: 'human', value: 'q' }, { from: 'gpt', value: 'a' }] }),
      JSON.stringify({ instruction: 'i', input: '', output: 'o' }),
      JSON.stringify({ prompt: 'p', completion: 'c' }),
      JSON.stringify({ conversation: [{ role: 'human', message: 'q' }, { role: 'assistant', message: 'a' }] }),
    ];
    for (const l of lines) assert.deepEqual(one(l), [], l);
  });
});

describe('invalid-role', () => {
  test('assistant in Vertex: use model', () => {
    const line = vertex([['user', 'q'], ['assistant', 'a']]);
    const [d] = one(line);
    assert.equal(d?.code, 'invalid-role');
    assert.equal(d?.message, '"assistant" is not a Vertex AI Gemini role: use "model" ("assistant" is OpenAI chat\'s)');
    assert.equal(covered(line, d!), '"assistant"');
  });
  test('model in OpenAI: use assistant', () => {
    const [d] = one(openai([['user', 'q'], ['model', 'a']]));
    assert.equal(d?.message, '"model" is not an OpenAI chat role: use "assistant" ("model" is Vertex AI Gemini\'s)');
  });
  test('case mistakes', () => {
    const [d] = one(vertex([['User', 'q'], ['model', 'a']]));
    assert.equal(d?.message, '"User" is not a Vertex AI Gemini role: role names are lowercase: use "user"');
  });
  test('an unknown role lists the known ones and does not also complain about order', () => {
    const diags = one(vertex([['user', 'q'], ['narrator', 'a']]));
    assert.deepEqual(diags.map((d) => d.message), ['"narrator" is not a Vertex AI Gemini role: Vertex AI Gemini roles are "user", "model"']);
  });
});

describe('role-order', () => {
  test('starts with the model', () => {
    const line = vertex([['model', 'a'], ['user', 'q'], ['model', 'b']]);
    const [d] = one(line);
    assert.equal(d?.message, 'the sample starts with a "model" turn: it must start with a "user" turn');
    assert.equal(d?.column, line.indexOf('"model"'));
  });
  test('two user turns in a row', () => {
    const line = openai([['user', 'q'], ['user', 'q2'], ['assistant', 'a']]);
    const [d] = one(line);
    assert.equal(d?.message, 'two "user" turns in a row: merge them, or put the "assistant" answer between them');
    assert.equal(d?.column, line.lastIndexOf('"user"'));
  });
  test('ends with the user', () => {
    const [d] = one(vertex([['user', 'q'], ['model', 'a'], ['user', 'again']]));
    assert.equal(d?.message, 'the sample ends with a "user" turn: the last turn must be the "model" answer, the text the model learns');
  });
  test('tool calls and results in OpenAI chat are in order', () => {
    const line = JSON.stringify({
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'w', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
        { role: 'assistant', content: 'Sunny.' },
      ],
    });
    assert.deepEqual(one(line), []);
  });
});

describe('empty-turn', () => {
  test('whitespace-only model text, squiggled on the text', () => {
    const line = vertex([['user', 'q'], ['model', '   ']]);
    const [d] = one(line);
    assert.equal(d?.code, 'empty-turn');
    assert.equal(d?.message, 'this "model" turn is only whitespace');
    assert.equal(covered(line, d!), '"   "');
  });
  test('empty Alpaca output', () => {
    const [d] = one('{"instruction": "Say hi", "output": ""}');
    assert.equal(d?.message, '`output` is empty');
  });
  test('empty system instruction', () => {
    const [d] = one(vertex([['user', 'q'], ['model', 'a']], ''));
    assert.equal(d?.message, 'the system instruction is empty');
  });
});

describe('system-turn', () => {
  test('a system turn in Vertex contents', () => {
    const line = vertex([['system', 'Be brief.'], ['user', 'q'], ['model', 'a']]);
    const diags = one(line);
    assert.deepEqual(diags.map((d) => d.code), ['system-turn']);
    assert.equal(diags[0]?.message, 'a "system" turn in `contents`: Vertex AI Gemini takes the system instruction in `systemInstruction`, not as a turn');
    assert.equal(covered(line, diags[0]!), '"system"');
  });
  test('an OpenAI system message after the first', () => {
    const [d] = one(openai([['user', 'q'], ['system', 's'], ['assistant', 'a']]));
    assert.equal(d?.code, 'system-turn');
    assert.equal(d?.message, 'a system message after the conversation has started: it must be the first message');
  });
});

describe('too-long', () => {
  test('uses the target model limit from settings', () => {
    const line = vertex([['user', 'x'.repeat(400)], ['model', 'y']]);
    assert.deepEqual(one(line), []);
    const [d] = one(line, { targetModel: 'tiny', tokenLimits: { tiny: 50 } });
    assert.equal(d?.code, 'too-long');
    assert.equal(d?.message, 'about 109 tokens (estimated), over the 50-token limit of tiny for one training example');
  });
  test('CJK text counts one token per character', () => {
    const [d] = one(vertex([['user', '你好'.repeat(40)], ['model', '好']]), { targetModel: 'tiny', tokenLimits: { tiny: 80 } });
    assert.match(d?.message ?? '', /^about 89 tokens/);
  });
});

describe('severity settings', () => {
  test('a rule can be turned off or raised', () => {
    const text = vertex([['user', 'q'], ['assistant', 'a']]) + '\n\n';
    assert.deepEqual(lint(text).map((d) => [d.code, d.severity]), [['invalid-role', 'error'], ['blank-line', 'warning']]);
    assert.deepEqual(lint(text, { rules: { 'invalid-role': 'off', 'blank-line': 'error' } }).map((d) => [d.code, d.severity]), [['blank-line', 'error']]);
  });
});
