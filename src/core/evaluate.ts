/**
 * Evaluate a base model on the validation samples (the guides' first step: measure the baseline
 * before tuning). Each sample's prompt is its system instruction and every turn before its LAST
 * model turn; that model turn is the reference. The model answers each prompt (a few at a time,
 * cancellable), each answer is scored against the reference (core/evalMetrics.ts, optionally
 * with a judge model) and reported as a `sample_loss` event with `stage: 'evaluate'` and an
 * `evaluation` record, so the hard-sample marks of local runs show the wrong answers. Pure of
 * any client: the model is called through `Generate`.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  DEFAULT_THRESHOLDS, JUDGE_RUBRIC, judgePrompt, parseJudgeReply, scoreAnswer, unitScore, type Metric, type Scores,
} from './evalMetrics';
import type { FormatId } from './formats';
import { runId, summarizeEvents, type RunSummary, type SampleEvaluation, type SampleLossEvent, type TrainerEvent } from './runs';
import { writeFileAtomic, type StoredDataset, type StoredRun } from './runStore';
import { normalizeDataset, type LineNote, type TrainingSample } from './trainingData';

export interface Content {
  readonly role: 'user' | 'model';
  readonly text: string;
}

export interface GenerateRequest {
  /** The model id as the service names it: `gemini-2.5-flash`. */
  readonly model: string;
  readonly systemInstruction?: string;
  readonly contents: readonly Content[];
  readonly temperature?: number;
  /** Ask for a JSON reply (the judge). */
  readonly json?: boolean;
  readonly signal?: AbortSignal;
}

export interface GenerateResult {
  readonly text: string;
  /** The service's finish reason (STOP, MAX_TOKENS, SAFETY…), when it gave one. */
  readonly finishReason?: string;
}

/** One model call (generateContent); retries on 429/5xx are the transport's business. */
export type Generate = (request: GenerateRequest) => Promise<GenerateResult>;

/** A validation sample as the model is asked it. */
export interface EvalSample {
  /** 1-based line in the file. */
  readonly line: number;
  readonly systemInstruction?: string;
  /** Every turn before the last model turn (tool turns sent as user turns). */
  readonly contents: readonly Content[];
  /** The last model turn. */
  readonly reference: string;
}

export interface EvalSamples {
  readonly samples: EvalSample[];
  /** Lines that are no sample, or have no prompt before their last model turn. */
  readonly skipped: LineNote[];
  /** Normalized samples (core/trainingData), kept in the run folder to follow lines that move. */
  readonly normalized: string[];
}

/** The samples of a dataset file in any supported format, as prompts and references. */
export function evalSamples(text: string, pinned?: FormatId): EvalSamples {
  const data = normalizeDataset(text, pinned);
  const samples: EvalSample[] = [];
  const skipped: LineNote[] = [...data.skipped];
  for (const json of data.lines) {
    const s = JSON.parse(json) as TrainingSample;
    let last = -1;
    for (let i = s.turns.length - 1; i >= 0; i--) {
      if (s.turns[i]!.role === 'model') {
        last = i;
        break;
      }
    }
    const before = s.turns.slice(0, last);
    if (!before.some((t) => t.role !== 'model')) {
      skipped.push({ line: s.line, reason: 'no prompt before the last model turn' });
      continue;
    }
    samples.push({
      line: s.line,
      ...(s.system !== null && s.system !== '' ? { systemInstruction: s.system } : {}),
      contents: before.map((t) => ({ role: t.role === 'model' ? 'model' : 'user', text: t.text })),
      reference: s.turns[last]!.text,
    });
  }
  skipped.sort((a, b) => a.line - b.line);
  return { samples, skipped, normalized: data.lines };
}

export interface EvaluateOptions {
  readonly generate: Generate;
  readonly model: string;
  /** A second model that grades each answer 1–5 against the reference. */
  readonly judgeModel?: string;
  /** The score that decides right or wrong (default: the judge with a judge, else ROUGE-L). */
  readonly metric?: Metric;
  /** At or above it (in [0, 1]) an answer is right; default DEFAULT_THRESHOLDS[metric]. */
  readonly threshold?: number;
  /** Calls at a time (default 4). */
  readonly concurrency?: number;
  /** Default 0: the baseline is the model's most likely answer. */
  readonly temperature?: number;
  readonly signal?: AbortSignal;
  /** Which of the run's dataset files the samples are in. */
  readonly file?: SampleLossEvent['file'];
  /** Each sample's result, as it comes (in completion order). */
  readonly onResult?: (event: SampleLossEvent, done: number, total: number) => void;
  readonly now?: () => Date;
}

export function primaryMetric(options: Pick<EvaluateOptions, 'metric' | 'judgeModel'>): Metric {
  return options.metric ?? (options.judgeModel !== undefined ? 'judge' : 'rouge_l');
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Asks the model one sample, scores its answer; a failed call is a result too (loss null, `skipped`). */
export async function evaluateSample(sample: EvalSample, options: EvaluateOptions): Promise<SampleLossEvent> {
  const metric = primaryMetric(options);
  const threshold = options.threshold ?? DEFAULT_THRESHOLDS[metric];
  const time = () => (options.now?.() ?? new Date()).toISOString();
  const base = { event: 'sample_loss', file: options.file ?? 'validation', line: sample.line, stage: 'evaluate' } as const;
  let answer: GenerateResult;
  try {
    answer = await options.generate({
      model: options.model,
      ...(sample.systemInstruction !== undefined ? { systemInstruction: sample.systemInstruction } : {}),
      contents: sample.contents,
      temperature: options.temperature ?? 0,
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    });
  } catch (err) {
    if (options.signal?.aborted === true) throw err;
    return { ...base, time: time(), loss: null, skipped: `the model call failed: ${message(err)}` };
  }
  let scores: Scores = scoreAnswer(answer.text, sample.reference);
  let judgeReason: string | undefined;
  let judgeProblem: string | undefined;
  if (options.judgeModel !== undefined) {
    try {
      const reply = await options.generate({
        model: options.judgeModel,
        systemInstruction: JUDGE_RUBRIC,
        contents: [{ role: 'user', text: judgePrompt(sample.contents, sample.reference, answer.text, sample.systemInstruction) }],
        temperature: 0,
        json: true,
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
      });
      const verdict = parseJudgeReply(reply.text);
      if ('score' in verdict) {
        scores = { ...scores, judge: verdict.score };
        judgeReason = verdict.reason;
      } else {
        scores = { ...scores, judge: null };
        judgeProblem = verdict.problem;
      }
    } catch (err) {
      if (options.signal?.aborted === true) throw err;
      scores = { ...scores, judge: null };
      judgeProblem = `the judge call failed: ${message(err)}`;
    }
  }
  const score = unitScore(scores, metric);
  const evaluation: SampleEvaluation = {
    metric,
    correct: score !== null && score >= threshold,
    scores,
    prediction: answer.text,
    reference: sample.reference,
    ...(answer.finishReason !== undefined ? { finish_reason: answer.finishReason } : {}),
    ...(judgeReason !== undefined ? { judge_reason: judgeReason } : {}),
    ...(judgeProblem !== undefined ? { judge_problem: judgeProblem } : {}),
  };
  return {
    ...base, time: time(), loss: score === null ? null : 1 - score, evaluation,
    ...(score === null ? { skipped: judgeProblem ?? 'no score' } : {}),
  };
}

/**
 * Evaluates the samples, `concurrency` at a time; results come through `onResult` as they are
 * ready and are returned in line order. When `signal` aborts, no new call starts, the calls in
 * flight are aborted, and the promise rejects with the abort reason.
 */
export async function evaluateSamples(samples: readonly EvalSample[], options: EvaluateOptions): Promise<SampleLossEvent[]> {
  const limit = Math.max(1, Math.floor(options.concurrency ?? 4));
  const results: SampleLossEvent[] = [];
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < samples.length) {
      options.signal?.throwIfAborted();
      const sample = samples[next++]!;
      const result = await evaluateSample(sample, options);
      options.signal?.throwIfAborted();
      results.push(result);
      done++;
      options.onResult?.(result, done, samples.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, samples.length) }, worker));
  return results.sort((a, b) => a.line - b.line);
}

// ---------------------------------------------------------------------------------------------
// The run folder

/** What run.json of an evaluation holds. */
export interface EvaluationRecord extends StoredRun {
  readonly mode: 'evaluate';
  readonly backend: 'vertex';
  readonly origin: 'cli' | 'extension';
  readonly judge_model?: string;
  readonly dataset: { readonly train: StoredDataset; readonly validation?: StoredDataset };
}

export interface EvaluationConfig {
  readonly model: string;
  readonly judge_model: string | null;
  readonly metric: Metric;
  readonly threshold: number;
  readonly concurrency: number;
  readonly temperature: number;
  readonly project?: string;
  readonly location?: string;
  readonly api_endpoint?: string;
}

/** What an evaluation asks of the model (the same as the evaluation itself is run with). */
type AskedOf = Pick<EvaluateOptions, 'model' | 'judgeModel' | 'metric' | 'threshold' | 'concurrency' | 'temperature'>;

export interface EvaluationRunRequest extends AskedOf {
  /** The file whose samples are evaluated. */
  readonly file: string;
  /**
   * The training file it is the validation split of, when there is one: the run is then kept
   * under that dataset (train) and its samples are its validation file's. Without one, the
   * evaluated file is recorded as the run's dataset (train) and its samples as `train`.
   */
  readonly trainFile?: string;
  readonly pinnedFormat?: FormatId;
  readonly runsDir: string;
  readonly origin: 'cli' | 'extension';
  /** Where the model runs (kept in config.json; never credentials). */
  readonly project?: string;
  readonly location?: string;
  readonly apiEndpoint?: string;
}

export class EvaluationSetupError extends Error {}

function storedDataset(file: string, bytes: Buffer, samples: number): StoredDataset {
  return { path: file, sha256: createHash('sha256').update(bytes).digest('hex'), samples };
}

export interface PreparedEvaluation {
  readonly id: string;
  readonly dir: string;
  readonly record: EvaluationRecord;
  readonly config: EvaluationConfig;
  readonly samples: EvalSample[];
  readonly skipped: LineNote[];
  readonly file: SampleLossEvent['file'];
}

/** A dataset file read for an evaluation. */
export interface EvalInput {
  /** Absolute. */
  readonly file: string;
  readonly bytes: Buffer;
  readonly data: EvalSamples;
}

/** Reads a file's samples; throws EvaluationSetupError when it cannot be read or has none to evaluate on. */
export function readEvalInput(given: string, pinned?: FormatId): EvalInput {
  const file = path.resolve(given);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new EvaluationSetupError(`cannot read ${file}: ${message(err)}`);
  }
  const data = evalSamples(bytes.toString('utf8'), pinned);
  if (data.samples.length === 0) {
    const why = data.skipped.length > 0 ? `: ${data.skipped.slice(0, 3).map((s) => `line ${s.line} ${s.reason}`).join('; ')}` : ' (the file is empty)';
    throw new EvaluationSetupError(`${file} has no sample to evaluate on${why}`);
  }
  return { file, bytes, data };
}

/**
 * Creates `<runsDir>/<id>/` with run.json, config.json and data/ for the samples of `req.file`
 * (`input`: the file as readEvalInput read it, so it is checked before anything else is asked).
 */
export function prepareEvaluation(req: EvaluationRunRequest, now: Date = new Date(), input: EvalInput = readEvalInput(req.file, req.pinnedFormat)): PreparedEvaluation {
  const { file, bytes, data } = input;
  const metric = primaryMetric(req);
  if (metric === 'judge' && req.judgeModel === undefined) throw new EvaluationSetupError('the judge metric needs a judge model');
  const threshold = req.threshold ?? DEFAULT_THRESHOLDS[metric];
  if (!(threshold >= 0 && threshold <= 1)) throw new EvaluationSetupError(`the threshold must be between 0 and 1, not ${threshold}`);
  const concurrency = req.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new EvaluationSetupError(`the concurrency must be a whole number of 1 or more, not ${concurrency}`);
  const evaluated = storedDataset(file, bytes, data.samples.length);
  let train: StoredDataset = evaluated;
  let validation: StoredDataset | undefined;
  const trainFile = req.trainFile !== undefined ? path.resolve(req.trainFile) : undefined;
  if (trainFile !== undefined && trainFile !== file) {
    let trainBytes: Buffer;
    try {
      trainBytes = readFileSync(trainFile);
    } catch (err) {
      throw new EvaluationSetupError(`cannot read ${trainFile}: ${message(err)}`);
    }
    train = storedDataset(trainFile, trainBytes, normalizeDataset(trainBytes.toString('utf8'), req.pinnedFormat).lines.length);
    validation = evaluated;
  }
  const role: SampleLossEvent['file'] = validation !== undefined ? 'validation' : 'train';
  const runsDir = path.resolve(req.runsDir);
  const base = `${runId(now, req.model)}-eval`;
  let id = base;
  for (let n = 2; existsSync(path.join(runsDir, id)); n++) id = `${base}-${n}`;
  const dir = path.join(runsDir, id);
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  writeFileSync(path.join(dir, 'data', `${role}.jsonl`), data.normalized.join('\n') + '\n');
  const config: EvaluationConfig = {
    model: req.model, judge_model: req.judgeModel ?? null, metric, threshold, concurrency, temperature: req.temperature ?? 0,
    ...(req.project !== undefined ? { project: req.project } : {}),
    ...(req.location !== undefined ? { location: req.location } : {}),
    ...(req.apiEndpoint !== undefined ? { api_endpoint: req.apiEndpoint } : {}),
  };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  const record: EvaluationRecord = {
    id, created: now.toISOString(), backend: 'vertex', origin: req.origin, mode: 'evaluate', model: req.model,
    ...(req.judgeModel !== undefined ? { judge_model: req.judgeModel } : {}),
    dataset: { train, ...(validation !== undefined ? { validation } : {}) },
  };
  writeFileAtomic(path.join(dir, 'run.json'), JSON.stringify(record, null, 2) + '\n');
  return { id, dir, record, config, samples: data.samples, skipped: data.skipped, file: role };
}

export interface EvaluationRunOptions {
  readonly generate: Generate;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: TrainerEvent) => void;
  readonly now?: () => Date;
}

/**
 * Runs a prepared evaluation and keeps every event in its events.jsonl as it comes (started,
 * progress, one sample_loss per sample, warnings for skipped lines and failed calls, finished),
 * then summary.json. A cancel ends it `cancelled`, with the results so far kept.
 */
export async function runEvaluation(prep: PreparedEvaluation, options: EvaluationRunOptions): Promise<RunSummary> {
  const now = options.now ?? (() => new Date());
  const events: TrainerEvent[] = [];
  const log = path.join(prep.dir, 'events.jsonl');
  const emit = (e: TrainerEvent): void => {
    events.push(e);
    appendFileSync(log, JSON.stringify(e) + '\n');
    options.onEvent?.(e);
  };
  const total = prep.samples.length;
  // While it runs, the run folder names the process that runs it (a window closed mid-way leaves it interrupted).
  const pidFile = path.join(prep.dir, 'pid');
  writeFileSync(pidFile, String(process.pid));
  emit({ event: 'started', time: now().toISOString(), config: { ...prep.config }, device: 'vertex', model: prep.config.model, total_steps: total, samples: { train: prep.file === 'train' ? total : 0, validation: prep.file === 'validation' ? total : 0, too_long: 0 } });
  if (prep.skipped.length > 0) {
    emit({ event: 'warning', time: now().toISOString(), code: 'skipped-lines', text: `${prep.skipped.length} line${prep.skipped.length === 1 ? ' is' : 's are'} not evaluated: ${prep.skipped.slice(0, 3).map((s) => `line ${s.line} ${s.reason}`).join('; ')}${prep.skipped.length > 3 ? '…' : ''}`, lines: prep.skipped.map((s) => s.line) });
  }
  let status: 'completed' | 'cancelled' | 'failed' = 'completed';
  let reason: string | null = null;
  try {
    await evaluateSamples(prep.samples, {
      generate: options.generate, model: prep.config.model, metric: prep.config.metric, threshold: prep.config.threshold,
      concurrency: prep.config.concurrency, temperature: prep.config.temperature, file: prep.file, now,
      ...(prep.config.judge_model !== null ? { judgeModel: prep.config.judge_model } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      onResult: (e, done) => {
        emit(e);
        emit({ event: 'progress', time: now().toISOString(), step: done, total_steps: total, epoch: 0 });
      },
    });
  } catch (err) {
    if (options.signal?.aborted === true) {
      status = 'cancelled';
      reason = 'cancelled';
    } else {
      status = 'failed';
      reason = message(err);
      emit({ event: 'error', time: now().toISOString(), message: reason });
    }
  }
  const failed = events.filter((e): e is SampleLossEvent => e.event === 'sample_loss' && e.evaluation === undefined);
  if (failed.length > 0) {
    emit({ event: 'warning', time: now().toISOString(), code: 'failed-calls', text: `${failed.length} sample${failed.length === 1 ? '' : 's'} got no answer: ${failed[0]!.skipped ?? ''}`, lines: failed.map((e) => e.line) });
  }
  if (status === 'completed' && failed.length === total) {
    status = 'failed';
    reason = `no sample got an answer: ${failed[0]?.skipped ?? ''}`;
    emit({ event: 'error', time: now().toISOString(), message: reason });
  }
  emit({ event: 'finished', time: now().toISOString(), status, adapter: null, steps: events.filter((e) => e.event === 'sample_loss').length, reason });
  const summary = summarizeEvents(events);
  writeFileAtomic(path.join(prep.dir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  rmSync(pidFile, { force: true });
  return summary;
}
