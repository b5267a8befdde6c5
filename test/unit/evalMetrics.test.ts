import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  answerTokens, exactMatch, judgePrompt, normalizeAnswer, parseJudgeReply, rougeL, rougeTokens, scoreAnswer, tokenF1, tokenize, unitScore,
} from '../../src/core/evalMetrics';
import { evalSamples } from '../../src/core/evaluate';
import { hardSampleHover, hardSampleMessage, isHard, rankSampleLosses, scoresText } from '../../src/core/hardSamples';
import { parseTrainerEvent, summarizeEvents, type SampleEvaluation, type SampleLossEvent, type TrainerEvent } from '../../src/core/runs';
import { openai, vertex } from './helpers';

const close = (actual: number, expected: number, what?: string) => assert.ok(Math.abs(actual - expected) < 1e-9, `${what ?? ''} ${actual} ≠ ${expected}`);

describe('normalisation and tokens', () => {
  test('SQuAD normalisation: case, punctuation (Unicode too), English articles, whitespace', () => {
    assert.equal(normalizeAnswer('  The  Eiffel Tower!! '), 'eiffel tower');
    assert.equal(normalizeAnswer('A cat, an apple; THE end.'), 'cat apple end');
    assert.equal(normalizeAnswer('theory of an atheist'), 'theory of atheist', 'articles only as whole words');
    assert.equal(normalizeAnswer('北京，中国。'), '北京 中国');
    assert.equal(normalizeAnswer('Ｅｉｆｆｅｌ'), 'eiffel', 'NFKC folds full-width letters');
  });

  test('CJK characters are tokens of their own; other scripts split on spaces', () => {
    assert.deepEqual(tokenize('北京是首都'), ['北', '京', '是', '首', '都']);
    assert.deepEqual(tokenize('gpt 4 模型 コンピュータ ok'), ['gpt', '4', '模', '型', 'コ', 'ン', 'ピ', 'ュ', 'ー', 'タ', 'ok']);
    assert.deepEqual(tokenize('서울은 수도 입니다'), ['서울은', '수도', '입니다'], 'Hangul is written with spaces');
    assert.deepEqual(answerTokens('GPT-4模型'), ['gpt', '4', '模', '型']);
    assert.deepEqual(rougeTokens('The cat.'), ['the', 'cat'], 'ROUGE keeps articles');
  });
});

describe('exact match and token F1 (SQuAD)', () => {
  test('exact match compares normalised answers', () => {
    assert.equal(exactMatch('The Eiffel Tower!', 'eiffel   tower'), 1);
    assert.equal(exactMatch('Eiffel Tower in Paris', 'Eiffel Tower'), 0);
    assert.equal(exactMatch('', '  '), 1);
  });

  test('F1 of the bag of tokens: SQuAD examples worked by hand', () => {
    // prediction [eiffel, tower], reference [eiffel, tower, in, paris]: P = 1, R = 1/2, F1 = 2/3
    close(tokenF1('the Eiffel Tower', 'Eiffel Tower in Paris'), 2 / 3);
    // shared tokens count as often as in both: [a→removed] "cat cat dog" vs "cat dog dog": same = 2, P = R = 2/3
    close(tokenF1('cat cat dog', 'cat dog dog'), 2 / 3);
    assert.equal(tokenF1('Denver Broncos', 'Carolina Panthers'), 0);
    assert.equal(tokenF1('', ''), 1);
    assert.equal(tokenF1('the', 'Paris'), 0, 'an answer of only articles is empty');
  });

  test('CJK: the same characters in another order are F1 1 but no exact match', () => {
    assert.equal(tokenF1('北京是中国的首都。', '中国的首都是北京'), 1);
    assert.equal(exactMatch('北京是中国的首都。', '中国的首都是北京'), 0);
    // prediction 北京 (2 tokens), reference 北京市 (3): P = 1, R = 2/3, F1 = 0.8
    close(tokenF1('北京', '北京市'), 0.8);
  });
});

describe('ROUGE-L', () => {
  test("Lin (2004)'s examples: reference 'police killed the gunman'", () => {
    // S2 "police kill the gunman": LCS "police the gunman" = 3, P = R = 3/4
    close(rougeL('police kill the gunman', 'police killed the gunman'), 0.75);
    // S3 "the gunman kill police": LCS "the gunman" = 2, P = R = 1/2
    close(rougeL('the gunman kill police', 'police killed the gunman'), 0.5);
  });

  test('a word left out: LCS 5, P = 5/5, R = 5/6, F = 10/11; punctuation and case do not count', () => {
    close(rougeL('The cat on the mat.', 'the cat sat on the mat'), 10 / 11);
    assert.equal(rougeL('Same answer!', 'same answer'), 1);
    assert.equal(rougeL('nothing alike', 'completely different'), 0);
    assert.equal(rougeL('', 'something'), 0);
    assert.equal(rougeL('...', '!!'), 1, 'two answers with no token are equal');
  });

  test('CJK is scored character by character: 北京是中国的首都 vs 中国的首都是北京 share 中国的首都 (5 of 8)', () => {
    close(rougeL('北京是中国的首都', '中国的首都是北京'), 5 / 8);
  });

  test('a repeated token is matched once per occurrence (LCS, not bag)', () => {
    // candidate "a b a b" vs reference "b a": tokens are kept (ROUGE keeps articles): LCS 2, P = 2/4, R = 2/2, F = 2/3
    close(rougeL('a b a b', 'b a'), 2 / 3);
  });
});

describe('scores', () => {
  test('scoreAnswer has every reference metric; unitScore maps the judge 1–5 to 0–1', () => {
    assert.deepEqual(scoreAnswer('Paris', 'paris.'), { exact_match: 1, f1: 1, rouge_l: 1 });
    assert.equal(unitScore({ exact_match: 0, f1: 0.5, rouge_l: 0.25, judge: 4 }, 'judge'), 0.75);
    assert.equal(unitScore({ exact_match: 0, f1: 0.5, rouge_l: 0.25 }, 'judge'), null);
    assert.equal(unitScore({ exact_match: 0, f1: 0.5, rouge_l: 0.25, judge: null }, 'judge'), null);
    assert.equal(unitScore({ exact_match: 0, f1: 0.5, rouge_l: 0.25 }, 'f1'), 0.5);
  });
});

describe('the judge', () => {
  test('reads {score, reason} as JSON, in a code fence, among text, with a numeric string', () => {
    assert.deepEqual(parseJudgeReply('{"score": 4, "reason": "minor omission"}'), { score: 4, reason: 'minor omission' });
    assert.deepEqual(parseJudgeReply('```json\n{"score": 2, "reason": "wrong city"}\n```'), { score: 2, reason: 'wrong city' });
    assert.deepEqual(parseJudgeReply('Here is my grade: {"reason": "has {braces} inside", "score": "5"} Thanks.'), { score: 5, reason: 'has {braces} inside' });
    assert.deepEqual(parseJudgeReply('Score: 3 - partly right'), { score: 3, reason: '' });
  });

  test('a score out of 1–5 or no score is a problem, not a guess', () => {
    const out = parseJudgeReply('{"score": 7, "reason": "great"}');
    assert.ok('problem' in out && /1 to 5/.test(out.problem), JSON.stringify(out));
    const fraction = parseJudgeReply('{"score": 3.5}');
    assert.ok('problem' in fraction);
    const none = parseJudgeReply('I think it is fine.');
    assert.ok('problem' in none && /no score/.test(none.problem));
    assert.ok('problem' in parseJudgeReply('score: 10'), 'a two-digit score is not read as its first digit');
  });

  test('the prompt carries the conversation, the reference and the answer, each in its own tags', () => {
    const p = judgePrompt([{ role: 'user', text: 'Capital of France?' }], 'Paris', 'Lyon', 'Answer briefly.');
    assert.match(p, /<system_instruction>\nAnswer briefly\.\n<\/system_instruction>/);
    assert.match(p, /<conversation>\n\[user\]\nCapital of France\?\n<\/conversation>/);
    assert.match(p, /<reference_answer>\nParis\n<\/reference_answer>/);
    assert.match(p, /<candidate_answer>\nLyon\n<\/candidate_answer>/);
  });
});

describe('prompts and references from any format', () => {
  test('Gemini: the prompt is every turn before the LAST model turn, the system instruction apart', () => {
    const text = [
      vertex([['user', 'Hi'], ['model', 'Hello!'], ['user', 'Capital of France?'], ['model', 'Paris.']], 'Be brief.'),
      vertex([['user', 'only a question']]),
      '{broken',
    ].join('\n');
    const { samples, skipped } = evalSamples(text);
    assert.deepEqual(samples, [{
      line: 1, systemInstruction: 'Be brief.',
      contents: [{ role: 'user', text: 'Hi' }, { role: 'model', text: 'Hello!' }, { role: 'user', text: 'Capital of France?' }],
      reference: 'Paris.',
    }]);
    assert.deepEqual(skipped.map((s) => [s.line, s.reason]), [[2, 'no model turn to learn from'], [3, 'not valid JSON']]);
  });

  test('OpenAI chat, ShareGPT, Alpaca, prompt/completion', () => {
    const text = [
      JSON.stringify({ messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: 'q1' }, { role: 'assistant', content: 'a1' }] }),
      JSON.stringify({ conversations: [{ from: 'human', value: 'q2' }, { from: 'gpt', value: 'a2' }] }),
      JSON.stringify({ instruction: 'Translate', input: 'chat', output: 'cat' }),
      JSON.stringify({ prompt: 'p4', completion: 'c4' }),
      openai([['assistant', 'a model turn with nothing before it']]),
    ].join('\n');
    const { samples, skipped } = evalSamples(text);
    assert.deepEqual(samples.map((s) => [s.line, s.systemInstruction, s.contents.map((c) => `${c.role}:${c.text}`), s.reference]), [
      [1, 'sys', ['user:q1'], 'a1'],
      [2, undefined, ['user:q2'], 'a2'],
      [3, undefined, ['user:Translate\nchat'], 'cat'],
      [4, undefined, ['user:p4'], 'c4'],
    ]);
    assert.deepEqual(skipped, [{ line: 5, reason: 'no prompt before the last model turn' }]);
  });
});

describe('evaluated samples as hard samples', () => {
  const T = '2026-11-23T17:00:00.000Z';
  const evaluated = (line: number, prediction: string, reference: string, extra: Partial<SampleEvaluation> = {}): SampleLossEvent => {
    const scores = scoreAnswer(prediction, reference);
    return {
      event: 'sample_loss', time: T, file: 'validation', line, loss: 1 - scores.rouge_l, stage: 'evaluate',
      evaluation: { metric: 'rouge_l', correct: scores.rouge_l >= 0.5, scores, prediction, reference, ...extra },
    };
  };

  test('the events pass the protocol schema; a wrong answer is hard whatever its rank, a right one never', () => {
    const events: TrainerEvent[] = [
      evaluated(1, 'Paris', 'Paris'),
      evaluated(2, 'Lyon is the capital', 'Paris'),
      evaluated(3, 'the cat sat', 'the cat sat on the mat'),
      evaluated(4, 'no idea at all here', 'the cat sat on the mat'),
      { event: 'sample_loss', time: T, file: 'validation', line: 5, loss: null, stage: 'evaluate', skipped: 'the model call failed: HTTP 500' },
    ];
    for (const e of events) assert.ok('event' in parseTrainerEvent(JSON.parse(JSON.stringify(e))), JSON.stringify(parseTrainerEvent(e)));
    const ranking = rankSampleLosses(events, 'validation');
    assert.deepEqual(ranking.samples.map((s) => [s.line, isHard(s, 1)]), [[2, true], [4, true], [3, false], [1, false]]);
    assert.deepEqual(ranking.skipped, [{ line: 5, reason: 'the model call failed: HTTP 500' }]);
    // Line 3: ROUGE-L LCS 3 of 3 and 6 tokens, P = 1, R = 1/2, F = 2/3; F1 without articles [cat sat] of [cat sat on mat], also 2/3
    assert.equal(hardSampleMessage(ranking.samples.find((s) => s.line === 3)!), 'right answer by the base model: ROUGE-L 0.67, F1 0.67, exact match no');
    assert.equal(hardSampleMessage(ranking.samples.find((s) => s.line === 2)!), 'wrong answer by the base model: ROUGE-L 0, F1 0, exact match no');
  });

  test('the deciding score comes first; the judge is shown out of 5', () => {
    const ev: SampleEvaluation = { metric: 'judge', correct: false, scores: { exact_match: 0, f1: 0.25, rouge_l: 0.5, judge: 2 }, prediction: 'x', reference: 'y' };
    assert.equal(scoresText(ev), 'judge 2/5, ROUGE-L 0.50, F1 0.25, exact match no');
    assert.equal(scoresText({ ...ev, scores: { ...ev.scores, judge: null } }), 'judge no score, ROUGE-L 0.50, F1 0.25, exact match no');
  });

  test('the hover shows the reference and the answer as text: Markdown and HTML in them are escaped', () => {
    const e = evaluated(1, '<img src=x onerror=alert(1)> **bold**\nsecond line', 'Paris [link](http://x)', { judge_reason: 'names <b>Lyon</b>', finish_reason: 'MAX_TOKENS' });
    const sample = rankSampleLosses([e], 'validation').samples[0]!;
    const hover = hardSampleHover({ sample, total: 1, run: 'gemini-2.5-flash, today (r1)', lineText: '' });
    // ROUGE-L: only "x" in common, 1 of 9 and of 4 tokens: F = 2 / 13
    assert.match(hover, /^\*\*Wrong answer\*\* by the base model: ROUGE-L 0\.15, F1 0\.15, exact match no\n/);
    assert.ok(hover.includes('> Paris \\[link\\]\\(http\\:\\/\\/x\\)'), hover);
    assert.ok(hover.includes('> \\<img src\\=x onerror\\=alert\\(1\\)\\> \\*\\*bold\\*\\*\n> second line'), hover);
    assert.ok(hover.includes("**Model's answer** (finish reason MAX\\_TOKENS):"), hover);
    assert.ok(hover.includes('Judge: names \\<b\\>Lyon\\<\\/b\\>'), hover);
    assert.ok(!/(^|[^\\])<(img|b>)/.test(hover), 'no unescaped tag');
  });

  test('summarizeEvents adds the mean scores over the answered samples', () => {
    const events: TrainerEvent[] = [
      evaluated(1, 'Paris', 'Paris'),
      evaluated(2, 'Lyon', 'Paris'),
      { event: 'sample_loss', time: T, file: 'validation', line: 3, loss: null, stage: 'evaluate', skipped: 'the model call failed' },
      { event: 'finished', time: T, status: 'completed', adapter: null },
    ];
    assert.deepEqual(summarizeEvents(events).evaluation, { metric: 'rouge_l', answered: 2, failed: 1, unscored: 0, correct: 1, wrong: 1, exact_match: 0.5, f1: 0.5, rouge_l: 0.5, judge: null });
    assert.equal(summarizeEvents([{ event: 'finished', time: T, status: 'completed', adapter: null }]).evaluation, undefined);
  });
});
