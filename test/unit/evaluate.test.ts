// The evaluation of a base model end to end against the fake Google Cloud server (real HTTP on
// loopback): the exact generateContent requests, the scores of each answer, the run folder,
// retries on 429, the judge, a cancel, and `sft-studio evaluate` as a real process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { VertexBackend } from '../../src/backends/vertex/backend';
import { vertexGenerate } from '../../src/backends/vertex/generate';
import { JUDGE_RUBRIC, scoreAnswer } from '../../src/core/evalMetrics';
import { prepareEvaluation, runEvaluation } from '../../src/core/evaluate';
import { readRun, readRunEvents } from '../../src/core/runStore';
import type { SampleLossEvent } from '../../src/core/runs';
import { startFakeGoogleCloud, type FakeGoogleCloud, type RecordedRequest } from '../fakes/googleCloud';
import { BIN, cli, vertex } from './helpers';

const TOKEN = 'ya29.evaluate-test-token';
const PROJECT = 'eval-project';
const LOCATION = 'us-central1';
const MODEL_PATH = `/v1/projects/${PROJECT}/locations/${LOCATION}/publishers/google/models/gemini-2.5-flash:generateContent`;
const JUDGE_PATH = `/v1/projects/${PROJECT}/locations/${LOCATION}/publishers/google/models/gemini-2.5-pro:generateContent`;

/** The validation samples: the question, what the model is made to answer, and the reference. */
const CASES = [
  { q: 'Capital of France?', answer: 'Paris.', reference: 'Paris' },                 // right: exact match
  { q: 'Capital of Italy?', answer: 'Milan', reference: 'Rome' },                     // wrong
  { q: 'Describe the cat.', answer: 'the cat sat', reference: 'the cat sat on the mat' }, // ROUGE-L 2/3: right
  { q: '中国的首都?', answer: '上海', reference: '北京' },                               // wrong (CJK)
];
const answers = new Map(CASES.map((c) => [c.q, c.answer]));

const VALIDATION = [
  // Gemini with a system instruction and an earlier exchange: the prompt is everything before the last model turn.
  vertex([['user', 'Hi'], ['model', 'Hello!'], ['user', CASES[0]!.q], ['model', CASES[0]!.reference]], 'Answer in one word.'),
  JSON.stringify({ messages: [{ role: 'user', content: CASES[1]!.q }, { role: 'assistant', content: CASES[1]!.reference }] }),
  JSON.stringify({ conversations: [{ from: 'human', value: CASES[2]!.q }, { from: 'gpt', value: CASES[2]!.reference }] }),
  JSON.stringify({ prompt: CASES[3]!.q, completion: CASES[3]!.reference }),
  JSON.stringify({ prompt: 'no answer here' }),
].join('\n') + '\n';

const lastUserText = (body: unknown): string => {
  const contents = (body as { contents: { role?: string; parts: { text?: string }[] }[] }).contents;
  return [...contents].reverse().find((c) => c.role === 'user')!.parts.map((p) => p.text ?? '').join('');
};
const tag = (text: string, name: string): string => new RegExp(`<${name}>\\n([\\s\\S]*?)\\n</${name}>`).exec(text)?.[1] ?? '';

describe('evaluate a base model against the fake Vertex AI', () => {
  let fake: FakeGoogleCloud;
  let dir: string;
  let runsDir: string;
  const dirs: string[] = [];

  before(async () => {
    fake = await startFakeGoogleCloud({ staticTokens: [TOKEN] });
  });
  after(async () => {
    await fake.close();
  });
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'sft-eval-'));
    dirs.push(dir);
    runsDir = path.join(dir, '.sft-studio', 'runs');
    writeFileSync(path.join(dir, 'train.jsonl'), vertex([['user', 'train q'], ['model', 'train a']]) + '\n');
    writeFileSync(path.join(dir, 'validation.jsonl'), VALIDATION);
    fake.requests.length = 0;
    fake.respondWith((model, request) => {
      const last = lastUserText(request);
      if (model === 'gemini-2.5-pro') {
        // The judge: 5 when the candidate is the reference up to punctuation, else 2.
        const bare = (t: string) => t.replace(/[\p{P}\s]/gu, '');
        const same = bare(tag(last, 'reference_answer')) === bare(tag(last, 'candidate_answer'));
        return same ? '```json\n{"score": 5, "reason": "same answer"}\n```' : '{"score": 2, "reason": "a different answer"}';
      }
      return answers.get(last) ?? `unexpected prompt ${last}`;
    });
  });

  const generate = (onRetry?: (n: { attempt: number }) => void) =>
    vertexGenerate({ project: PROJECT, location: LOCATION, apiEndpoint: fake.url, accessToken: TOKEN }, { env: {}, retry: { baseDelayMs: 1, maxDelayMs: 5 }, ...(onRetry ? { onRetry } : {}) });

  test('sends each prompt as documented, scores each answer, keeps the run; a 429 is retried', async () => {
    fake.fail({ path: MODEL_PATH, method: 'POST', status: 429, times: 2 });
    const retries: number[] = [];
    const { generate: gen, resolved } = await generate((n) => retries.push(n.attempt));
    assert.deepEqual(resolved, { project: PROJECT, location: LOCATION, apiEndpoint: fake.url });
    const prep = prepareEvaluation({ file: path.join(dir, 'validation.jsonl'), trainFile: path.join(dir, 'train.jsonl'), runsDir, origin: 'cli', model: 'gemini-2.5-flash', concurrency: 2, ...resolved });
    const summary = await runEvaluation(prep, { generate: gen });

    // The requests: two 429s retried, then one answer per sample; the sample with no model turn is not sent.
    const sent = fake.requestsTo(MODEL_PATH, 'POST');
    assert.equal(sent.filter((r) => r.status === 429).length, 2);
    assert.equal(retries.length, 2);
    const ok = sent.filter((r) => r.status === 200);
    assert.equal(ok.length, 4);
    for (const r of sent) assert.equal(r.headers.authorization, `Bearer ${TOKEN}`);
    const byQuestion = new Map(ok.map((r: RecordedRequest) => [lastUserText(r.json), r.json as Record<string, unknown>]));
    const first = byQuestion.get(CASES[0]!.q)!;
    assert.deepEqual(first.contents, [
      { role: 'user', parts: [{ text: 'Hi' }] },
      { role: 'model', parts: [{ text: 'Hello!' }] },
      { role: 'user', parts: [{ text: CASES[0]!.q }] },
    ]);
    assert.deepEqual((first.systemInstruction as { parts: unknown }).parts, [{ text: 'Answer in one word.' }]);
    assert.deepEqual(first.generationConfig, { temperature: 0 });
    assert.deepEqual(byQuestion.get(CASES[3]!.q)!.contents, [{ role: 'user', parts: [{ text: CASES[3]!.q }] }]);
    assert.equal(byQuestion.get(CASES[3]!.q)!.systemInstruction, undefined);

    // The per-sample results, in events.jsonl.
    const events = readRunEvents(prep.dir);
    const results = events.filter((e): e is SampleLossEvent => e.event === 'sample_loss').sort((a, b) => a.line - b.line);
    assert.deepEqual(results.map((e) => [e.file, e.line, e.stage, e.evaluation?.prediction, e.evaluation?.reference, e.evaluation?.correct]), [
      ['validation', 1, 'evaluate', 'Paris.', 'Paris', true],
      ['validation', 2, 'evaluate', 'Milan', 'Rome', false],
      ['validation', 3, 'evaluate', 'the cat sat', 'the cat sat on the mat', true],
      ['validation', 4, 'evaluate', '上海', '北京', false],
    ]);
    for (const [i, e] of results.entries()) {
      const c = CASES[i]!;
      assert.deepEqual(e.evaluation?.scores, scoreAnswer(c.answer, c.reference));
      assert.equal(e.loss, 1 - e.evaluation!.scores.rouge_l);
      assert.equal(e.evaluation?.finish_reason, 'STOP');
    }
    assert.deepEqual(results[2]!.evaluation?.scores, { exact_match: 0, f1: 2 / 3, rouge_l: 2 / 3 });
    const skipped = events.find((e) => e.event === 'warning' && e.code === 'skipped-lines');
    assert.ok(skipped?.event === 'warning' && skipped.lines?.[0] === 5, JSON.stringify(skipped));

    // The summary and the run folder.
    assert.equal(summary.status, 'completed');
    assert.deepEqual(summary.evaluation, {
      metric: 'rouge_l', answered: 4, failed: 0, unscored: 0, correct: 2, wrong: 2,
      exact_match: 1 / 4, f1: (1 + 0 + 2 / 3 + 0) / 4, rouge_l: (1 + 0 + 2 / 3 + 0) / 4, judge: null,
    });
    const record = JSON.parse(readFileSync(path.join(prep.dir, 'run.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(record.mode, 'evaluate');
    assert.equal(record.backend, 'vertex');
    assert.equal(record.model, 'gemini-2.5-flash');
    const ds = record.dataset as { train: { path: string; sha256: string }; validation: { path: string; sha256: string; samples: number } };
    assert.equal(ds.train.path, path.join(dir, 'train.jsonl'));
    assert.equal(ds.validation.path, path.join(dir, 'validation.jsonl'));
    assert.match(ds.validation.sha256, /^[0-9a-f]{64}$/);
    assert.equal(ds.validation.samples, 4);
    const config = JSON.parse(readFileSync(path.join(prep.dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(config, { model: 'gemini-2.5-flash', judge_model: null, metric: 'rouge_l', threshold: 0.5, concurrency: 2, temperature: 0, project: PROJECT, location: LOCATION, api_endpoint: fake.url });
    assert.ok(!readFileSync(path.join(prep.dir, 'config.json'), 'utf8').includes(TOKEN), 'no credential in the run folder');
    assert.ok(!readFileSync(path.join(prep.dir, 'events.jsonl'), 'utf8').includes(TOKEN));
    assert.equal(readFileSync(path.join(prep.dir, 'data', 'validation.jsonl'), 'utf8').trim().split('\n').length, 4);
    assert.equal(existsSync(path.join(prep.dir, 'pid')), false, 'the pid file goes when it ends');
    const listed = readRun(prep.dir);
    assert.equal(listed?.status, 'completed');
    assert.equal(listed?.summary.evaluation?.wrong, 2);
  });

  test('with a judge: a second call per answer with the fixed rubric, JSON asked for, its score decides', async () => {
    const { generate: gen } = await generate();
    const prep = prepareEvaluation({ file: path.join(dir, 'validation.jsonl'), runsDir, origin: 'cli', model: 'gemini-2.5-flash', judgeModel: 'gemini-2.5-pro' });
    const summary = await runEvaluation(prep, { generate: gen });
    const judged = fake.requestsTo(JUDGE_PATH, 'POST');
    assert.equal(judged.length, 4);
    for (const r of judged) {
      const body = r.json as { systemInstruction: { parts: { text: string }[] }; generationConfig: unknown; contents: unknown[] };
      assert.equal(body.systemInstruction.parts[0]!.text, JUDGE_RUBRIC);
      assert.deepEqual(body.generationConfig, { temperature: 0, responseMimeType: 'application/json' });
      assert.equal(body.contents.length, 1);
    }
    const prompt = lastUserText(judged.find((r) => lastUserText(r.json).includes('Capital of Italy?'))!.json);
    assert.equal(tag(prompt, 'reference_answer'), 'Rome');
    assert.equal(tag(prompt, 'candidate_answer'), 'Milan');
    // Without a training file the evaluated file is the run's dataset, its samples `train`.
    const results = readRunEvents(prep.dir).filter((e): e is SampleLossEvent => e.event === 'sample_loss').sort((a, b) => a.line - b.line);
    assert.deepEqual(results.map((e) => [e.file, e.line, e.evaluation?.metric, e.evaluation?.scores.judge, e.evaluation?.judge_reason, e.evaluation?.correct, e.loss]), [
      ['train', 1, 'judge', 5, 'same answer', true, 0],
      ['train', 2, 'judge', 2, 'a different answer', false, 0.75],
      ['train', 3, 'judge', 2, 'a different answer', false, 0.75],
      ['train', 4, 'judge', 2, 'a different answer', false, 0.75],
    ]);
    assert.equal(summary.evaluation?.judge, (5 + 2 + 2 + 2) / 4);
    assert.equal(summary.evaluation?.wrong, 3);
  });

  test('a judge reply without a score leaves that answer unscored (not wrong), with the reason kept', async () => {
    fake.respondWith((model, request) => {
      const last = lastUserText(request);
      if (model !== 'gemini-2.5-pro') return answers.get(last) ?? '';
      return last.includes('Capital of Italy?') ? 'I would rather not grade this.' : '{"score": 5, "reason": "fine"}';
    });
    const { generate: gen } = await generate();
    const prep = prepareEvaluation({ file: path.join(dir, 'validation.jsonl'), runsDir, origin: 'cli', model: 'gemini-2.5-flash', judgeModel: 'gemini-2.5-pro' });
    const summary = await runEvaluation(prep, { generate: gen });
    const line2 = readRunEvents(prep.dir).find((e): e is SampleLossEvent => e.event === 'sample_loss' && e.line === 2)!;
    assert.equal(line2.loss, null);
    assert.equal(line2.evaluation?.scores.judge, null);
    assert.equal(line2.evaluation?.prediction, 'Milan');
    assert.match(line2.evaluation?.judge_problem ?? '', /the judge's reply has no score: "I would rather not grade this\."/);
    assert.equal(line2.skipped, line2.evaluation?.judge_problem);
    assert.deepEqual([summary.evaluation?.answered, summary.evaluation?.unscored, summary.evaluation?.correct, summary.evaluation?.wrong], [4, 1, 3, 0]);
  });

  test('a call that keeps failing is reported for its sample, the others go on', async () => {
    fake.fail({ path: MODEL_PATH, method: 'POST', status: 500, times: 3 });
    const { generate: gen } = await vertexGenerate({ project: PROJECT, location: LOCATION, apiEndpoint: fake.url, accessToken: TOKEN }, { env: {}, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
    const prep = prepareEvaluation({ file: path.join(dir, 'validation.jsonl'), runsDir, origin: 'cli', model: 'gemini-2.5-flash', concurrency: 1 });
    const summary = await runEvaluation(prep, { generate: gen });
    const results = readRunEvents(prep.dir).filter((e): e is SampleLossEvent => e.event === 'sample_loss').sort((a, b) => a.line - b.line);
    assert.equal(results[0]!.loss, null);
    assert.match(results[0]!.skipped ?? '', /^the model call failed: .*500/);
    assert.equal(results.filter((e) => e.evaluation !== undefined).length, 3);
    assert.equal(summary.status, 'completed');
    assert.equal(summary.evaluation?.failed, 1);
  });

  test('cancel: no new call starts, the run ends cancelled with the results so far', async () => {
    const { generate: gen } = await generate();
    const prep = prepareEvaluation({ file: path.join(dir, 'validation.jsonl'), runsDir, origin: 'cli', model: 'gemini-2.5-flash', concurrency: 1 });
    const abort = new AbortController();
    const summary = await runEvaluation(prep, { generate: gen, signal: abort.signal, onEvent: (e) => {
      if (e.event === 'sample_loss') abort.abort(new Error('cancelled'));
    } });
    assert.equal(summary.status, 'cancelled');
    assert.equal(summary.sampleLosses, 1);
    assert.equal(fake.requestsTo(MODEL_PATH, 'POST').length, 1);
    assert.equal(readRun(prep.dir)?.status, 'cancelled');
  });

  test('at most `concurrency` calls at a time', async () => {
    let inFlight = 0;
    let most = 0;
    const counting = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      most = Math.max(most, ++inFlight);
      try {
        return await fetch(input, init);
      } finally {
        inFlight--;
      }
    };
    const { generate: gen } = await vertexGenerate({ project: PROJECT, location: LOCATION, apiEndpoint: fake.url, accessToken: TOKEN }, { env: {}, fetch: counting });
    const prep = prepareEvaluation({ file: path.join(dir, 'validation.jsonl'), runsDir, origin: 'cli', model: 'gemini-2.5-flash', concurrency: 3 });
    const summary = await runEvaluation(prep, { generate: gen });
    assert.equal(summary.sampleLosses, 4);
    assert.equal(most, 3, 'three calls went out together, never a fourth');
  });

  test('a cancel aborts the calls in flight', async () => {
    // The first two calls are taken in but never answered.
    fake.fail({ path: MODEL_PATH, method: 'POST', hang: true, times: 2 });
    let arrived = 0;
    let bothArrived!: () => void;
    const both = new Promise<void>((resolve) => (bothArrived = resolve));
    fake.respondWith(() => {
      if (++arrived === 2) bothArrived();
      return 'Paris';
    });
    const { generate: gen } = await generate();
    const prep = prepareEvaluation({ file: path.join(dir, 'validation.jsonl'), runsDir, origin: 'cli', model: 'gemini-2.5-flash', concurrency: 2 });
    const abort = new AbortController();
    const running = runEvaluation(prep, { generate: gen, signal: abort.signal });
    await both;
    abort.abort(new Error('cancelled'));
    const summary = await running;
    assert.equal(summary.status, 'cancelled');
    assert.equal(summary.sampleLosses, 0);
    assert.equal(readRun(prep.dir)?.status, 'cancelled');
  });

  test('while it runs the run is listed running (its pid is alive); the Vertex backend does not take it for a tuning job', async () => {
    const { generate: gen } = await generate();
    const prep = prepareEvaluation({ file: path.join(dir, 'validation.jsonl'), runsDir, origin: 'extension', model: 'gemini-2.5-flash', concurrency: 1 });
    let during: ReturnType<typeof readRun>;
    let reattached: unknown = 'not asked';
    await runEvaluation(prep, { generate: gen, onEvent: (e) => {
      if (e.event === 'sample_loss' && during === undefined) {
        during = readRun(prep.dir);
        reattached = new VertexBackend({ env: {} }).reattach(prep.dir);
      }
    } });
    assert.equal(during?.status, 'running');
    assert.equal(reattached, undefined);
    assert.equal(readRun(prep.dir)?.status, 'completed');
  });

  test('a file with nothing to evaluate is refused before any call, and leaves no run', () => {
    writeFileSync(path.join(dir, 'empty.jsonl'), JSON.stringify({ prompt: 'question only' }) + '\n');
    assert.throws(() => prepareEvaluation({ file: path.join(dir, 'empty.jsonl'), runsDir, origin: 'cli', model: 'gemini-2.5-flash' }), /has no sample to evaluate on: line 1 no model turn/);
    assert.equal(existsSync(runsDir), false);
  });

  test('sft-studio evaluate: the paired validation file, mean scores and worst samples as JSON; exit 0', async () => {
    const run = await cli(['evaluate', path.join(dir, 'train.jsonl'), '--model', 'gemini-2.5-flash', '--project', PROJECT, '--location', LOCATION, '--api-endpoint', fake.url, '--access-token', TOKEN, '--runs-dir', runsDir, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout) as { file: string; status: string; summary: { wrong: number; exact_match: number }; samples: SampleLossEvent[] };
    assert.equal(out.file, path.join(dir, 'validation.jsonl'));
    assert.equal(out.status, 'completed');
    assert.equal(out.summary.wrong, 2);
    assert.equal(out.summary.exact_match, 0.25);
    assert.deepEqual(out.samples.map((s) => [s.line, s.evaluation?.correct]), [[1, true], [2, false], [3, true], [4, false]]);
    assert.ok(!run.stderr.includes(TOKEN) && !run.stdout.includes(TOKEN), 'the token is never printed');
    assert.equal(readdirSync(runsDir).length, 1);

    const text = await cli(['evaluate', path.join(dir, 'validation.jsonl'), '--model', 'gemini-2.5-flash', '--project', PROJECT, '--location', LOCATION, '--api-endpoint', fake.url, '--access-token', TOKEN, '--runs-dir', runsDir]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /4 answered, 2 wrong \(ROUGE-L < 0\.5\), 0 without an answer/);
    assert.match(text.stdout, /mean exact match 0\.250, F1 0\.417, ROUGE-L 0\.417/);
    assert.match(text.stdout, /validation\.jsonl:2: ROUGE-L 0, F1 0, exact match no\n  reference: Rome\n  answer:    Milan/);

    // No credentials at all: one message with the command that fixes it, before any call or run folder.
    const home = mkdtempSync(path.join(tmpdir(), 'sft-eval-home-'));
    dirs.push(home);
    const withoutCredentials = (args: string[]) => new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, CLOUDSDK_CONFIG: path.join(home, 'gcloud'), METADATA_SERVER_DETECTION: 'none' };
      const child = spawn(process.execPath, [BIN, 'evaluate', ...args, '--model', 'gemini-2.5-flash', '--project', PROJECT, '--location', LOCATION, '--api-endpoint', fake.url, '--runs-dir', path.join(dir, 'other-runs')], { env });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
    const noCreds = await withoutCredentials([path.join(dir, 'validation.jsonl')]);
    assert.equal(noCreds.code, 2, noCreds.stderr);
    assert.match(noCreds.stderr, /no Google Cloud credentials found: run `gcloud auth application-default login`/);
    assert.equal(existsSync(path.join(dir, 'other-runs')), false);
    // A file with nothing to evaluate is said so first, before the credentials are looked for.
    writeFileSync(path.join(dir, 'questions.jsonl'), JSON.stringify({ prompt: 'question only' }) + '\n');
    const empty = await withoutCredentials([path.join(dir, 'questions.jsonl')]);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /questions\.jsonl has no sample to evaluate on: line 1 no model turn to learn from/);
    assert.doesNotMatch(empty.stderr, /credentials/);

    const bad = await cli(['evaluate', path.join(dir, 'validation.jsonl'), '--project', PROJECT]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /give the base model with --model/);
  });

  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
});
