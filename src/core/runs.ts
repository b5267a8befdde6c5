/**
 * Local tuning runs: the run config the trainer reads, the events it writes (both checked against
 * the JSON Schemas in schemas/), the advice that fills in hyper-parameters, and the summary of a
 * finished run. The run folder is `.sft-studio/runs/<id>/` with config.json, run.json (what was
 * trained on, with content hashes), data/, events.jsonl, trainer.log, summary.json, adapter/ and
 * checkpoints/.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import runConfigSchema from '../../schemas/run-config.schema.json';
import trainerEventSchema from '../../schemas/trainer-event.schema.json';

export interface LoraConfig {
  rank?: number;
  alpha?: number;
  dropout?: number;
  target_modules?: 'all-linear' | string[];
}

/** schemas/run-config.schema.json as a type; the schema is the contract with the trainer. */
export interface RunConfig {
  mode?: 'train' | 'score';
  model: string;
  train_file: string;
  validation_file?: string | null;
  validation_split?: number;
  method?: 'lora' | 'qlora' | 'full';
  lora?: LoraConfig;
  epochs?: number;
  max_steps?: number;
  learning_rate?: number;
  batch_size?: number;
  gradient_accumulation?: number;
  warmup_ratio?: number;
  weight_decay?: number;
  max_grad_norm?: number;
  seed?: number;
  max_length?: number;
  packing?: boolean;
  group_by_length?: boolean;
  gradient_checkpointing?: boolean;
  eval_steps?: number;
  early_stopping_patience?: number;
  logging_steps?: number;
  save_steps?: number;
  save_total_limit?: number;
  resume_from?: string | null;
  output_dir?: string | null;
  score_after?: boolean;
  ifd?: boolean;
  adapter?: string | null;
  precision?: 'auto' | 'bf16' | 'fp32';
  device?: 'auto' | 'cpu' | 'cuda' | 'mps';
}

interface EventBase {
  readonly time: string;
}
export interface StartedEvent extends EventBase {
  readonly event: 'started';
  readonly config: Record<string, unknown>;
  readonly device: string;
  readonly model: string;
  readonly total_steps: number;
  readonly method?: string;
  readonly parameters?: { trainable: number; total: number };
  readonly samples?: { train: number; validation: number; too_long: number };
}
export interface ProgressEvent extends EventBase {
  readonly event: 'progress';
  readonly step: number;
  readonly total_steps: number;
  readonly epoch: number;
  readonly eta_seconds?: number | null;
}
export interface MetricsEvent extends EventBase {
  readonly event: 'metrics';
  readonly step: number;
  readonly epoch?: number;
  readonly split: 'train' | 'eval';
  readonly loss: number | null;
  readonly accuracy: number | null;
  readonly learning_rate?: number;
  readonly grad_norm?: number | null;
  readonly tokens_per_second?: number | null;
  readonly peak_memory_mb?: number;
}
export interface SampleLossEvent extends EventBase {
  readonly event: 'sample_loss';
  readonly file: 'train' | 'validation';
  readonly line: number;
  readonly loss: number | null;
  readonly tokens?: number;
  readonly turns?: readonly { turn: number; loss: number | null; tokens?: number }[];
  readonly ifd?: number | null;
  /** `evaluate`: a base model's answer scored against the reference (loss = 1 − the score that decides). */
  readonly stage?: 'score' | 'after_training' | 'evaluate';
  readonly skipped?: string;
  /** With `stage: 'evaluate'`: the answer and its scores. */
  readonly evaluation?: SampleEvaluation;
}

/** How a model's answer to one sample compares with the sample's last model turn (an evaluation). */
export interface SampleEvaluation {
  /** The score that decides right or wrong (and the loss: 1 − it). */
  readonly metric: 'exact_match' | 'f1' | 'rouge_l' | 'judge';
  readonly correct: boolean;
  readonly scores: {
    readonly exact_match: 0 | 1;
    readonly f1: number;
    readonly rouge_l: number;
    /** 1–5; null when the judge's reply had no score; absent without a judge. */
    readonly judge?: number | null;
  };
  readonly prediction: string;
  readonly reference: string;
  readonly finish_reason?: string;
  readonly judge_reason?: string;
  readonly judge_problem?: string;
}

/** The means of an evaluation's scores over the samples that got an answer. */
export interface EvaluationSummary {
  readonly metric: SampleEvaluation['metric'];
  /** Samples with an answer. */
  readonly answered: number;
  /** Samples whose call failed. */
  readonly failed: number;
  /** Answered samples without the deciding score (the judge gave none): neither right nor wrong. */
  readonly unscored: number;
  readonly correct: number;
  readonly wrong: number;
  readonly exact_match: number | null;
  readonly f1: number | null;
  readonly rouge_l: number | null;
  /** Mean judge score (1–5) over the samples it scored; null without a judge. */
  readonly judge: number | null;
}
export interface CheckpointEvent extends EventBase {
  readonly event: 'checkpoint';
  readonly path: string;
  readonly step: number;
}
export interface WarningEvent extends EventBase {
  readonly event: 'warning';
  readonly text: string;
  readonly code?: string;
  readonly lines?: readonly number[];
}
export interface FinishedEvent extends EventBase {
  readonly event: 'finished';
  readonly status: RunStatus;
  readonly adapter: string | null;
  readonly best_eval_loss?: number | null;
  readonly steps?: number;
  readonly stopped_early?: boolean;
  readonly reason?: string | null;
}
export interface ErrorEvent extends EventBase {
  readonly event: 'error';
  readonly message: string;
  readonly hint?: string | null;
  readonly kind?: string;
}
/** A remote job's state (Vertex AI), written each time it changes. */
export interface JobEvent extends EventBase {
  readonly event: 'job';
  readonly backend: 'vertex';
  /** The job's resource name: projects/P/locations/L/tuningJobs/J. */
  readonly name: string;
  /** The service's own state: JOB_STATE_PENDING, JOB_STATE_RUNNING, JOB_STATE_SUCCEEDED... */
  readonly state: string;
  readonly console_url?: string;
  readonly tuned_model?: { readonly model?: string; readonly endpoint?: string } | null;
  readonly data_stats?: { readonly examples?: number; readonly billable_tokens?: number; readonly steps?: number; readonly truncated?: number } | null;
  readonly error?: { readonly code?: number; readonly message?: string } | null;
}
export type TrainerEvent = StartedEvent | ProgressEvent | MetricsEvent | SampleLossEvent | CheckpointEvent | WarningEvent | FinishedEvent | ErrorEvent | JobEvent;
export type RunStatus = 'completed' | 'cancelled' | 'failed';

let compiled: { config: ValidateFunction; event: ValidateFunction } | undefined;
function validators(): { config: ValidateFunction; event: ValidateFunction } {
  if (compiled === undefined) {
    const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
    compiled = { config: ajv.compile(runConfigSchema), event: ajv.compile(trainerEventSchema) };
  }
  return compiled;
}

function describe(errors: readonly ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const where = e.instancePath === '' ? 'the config' : e.instancePath.slice(1).replace(/\//g, '.');
    if (e.keyword === 'additionalProperties') return `${where}: unknown setting "${String(e.params.additionalProperty)}"`;
    if (e.keyword === 'enum') return `${where} must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    return `${where} ${e.message ?? 'is not valid'}`;
  });
}

/** Plain-sentence problems with a run config; empty when it is valid. */
export function runConfigProblems(config: unknown): string[] {
  const v = validators().config;
  return v(config) ? [] : describe(v.errors);
}

/** An event from the trainer, or why the value is not one. */
export function parseTrainerEvent(value: unknown): { event: TrainerEvent } | { problem: string } {
  const v = validators().event;
  if (v(value)) return { event: value as TrainerEvent };
  return { problem: describe(v.errors).join('; ') };
}

export interface RunSummary {
  readonly status: RunStatus | 'running';
  readonly steps: number;
  readonly totalSteps: number;
  readonly lastTrainLoss: number | null;
  readonly lastEvalLoss: number | null;
  readonly bestEvalLoss: number | null;
  readonly accuracy: number | null;
  readonly adapter: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly durationSeconds: number | null;
  readonly error: { message: string; hint?: string | null } | null;
  readonly warnings: number;
  readonly sampleLosses: number;
  /** A remote run's job as last reported (absent for local runs). */
  readonly job?: Omit<JobEvent, 'event' | 'time'>;
  /** An evaluation's mean scores (absent for tuning runs). */
  readonly evaluation?: EvaluationSummary;
}

/** The mean scores of the evaluated samples among the events (the last event of a line counts), or undefined. */
export function summarizeEvaluation(events: readonly TrainerEvent[]): EvaluationSummary | undefined {
  const last = new Map<string, SampleLossEvent>();
  for (const e of events) if (e.event === 'sample_loss' && e.stage === 'evaluate') last.set(`${e.file}:${e.line}`, e);
  if (last.size === 0) return undefined;
  let metric: SampleEvaluation['metric'] = 'rouge_l';
  let answered = 0, failed = 0, unscored = 0, correct = 0, em = 0, f1 = 0, rouge = 0, judge = 0, judged = 0;
  for (const e of last.values()) {
    const ev = e.evaluation;
    if (ev === undefined) {
      failed++;
      continue;
    }
    metric = ev.metric;
    answered++;
    if (e.loss === null) unscored++;
    else if (ev.correct) correct++;
    em += ev.scores.exact_match;
    f1 += ev.scores.f1;
    rouge += ev.scores.rouge_l;
    if (typeof ev.scores.judge === 'number') {
      judge += ev.scores.judge;
      judged++;
    }
  }
  const mean = (sum: number, n: number): number | null => (n === 0 ? null : sum / n);
  return { metric, answered, failed, unscored, correct, wrong: answered - unscored - correct, exact_match: mean(em, answered), f1: mean(f1, answered), rouge_l: mean(rouge, answered), judge: mean(judge, judged) };
}

/** What a run's events add up to (a run without `finished` is still running, or was cut off). */
export function summarizeEvents(events: readonly TrainerEvent[]): RunSummary {
  let status: RunSummary['status'] = 'running';
  let steps = 0, totalSteps = 0, warnings = 0, sampleLosses = 0;
  let lastTrainLoss: number | null = null, lastEvalLoss: number | null = null, bestEvalLoss: number | null = null, accuracy: number | null = null;
  let adapter: string | null = null;
  let error: RunSummary['error'] = null;
  let job: RunSummary['job'];
  for (const e of events) {
    switch (e.event) {
      case 'started':
        totalSteps = e.total_steps;
        break;
      case 'progress':
        steps = e.step;
        totalSteps = e.total_steps;
        break;
      case 'metrics':
        if (e.split === 'train') lastTrainLoss = e.loss;
        else {
          lastEvalLoss = e.loss;
          accuracy = e.accuracy;
          if (e.loss !== null && (bestEvalLoss === null || e.loss < bestEvalLoss)) bestEvalLoss = e.loss;
        }
        break;
      case 'sample_loss':
        sampleLosses++;
        break;
      case 'warning':
        warnings++;
        break;
      case 'error':
        error = { message: e.message, hint: e.hint };
        break;
      case 'finished':
        status = e.status;
        adapter = e.adapter;
        if (e.steps !== undefined) steps = e.steps;
        break;
      case 'job': {
        const { event: _e, time: _t, ...rest } = e;
        job = rest;
        break;
      }
      case 'checkpoint':
        break;
    }
  }
  const startedAt = events[0]?.time ?? null;
  const finishedAt = status === 'running' ? null : (events[events.length - 1]?.time ?? null);
  const durationSeconds = startedAt !== null && finishedAt !== null ? (Date.parse(finishedAt) - Date.parse(startedAt)) / 1000 : null;
  const evaluation = summarizeEvaluation(events);
  return {
    status, steps, totalSteps, lastTrainLoss, lastEvalLoss, bestEvalLoss, accuracy, adapter, startedAt, finishedAt, durationSeconds, error, warnings, sampleLosses,
    ...(job !== undefined ? { job } : {}), ...(evaluation !== undefined ? { evaluation } : {}),
  };
}

/** A run id that sorts by time and says which model: `20261123-171502-gemma-2-2b-it`. */
export function runId(date: Date, model: string): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
  const slug = model.replace(/[\\/]+$/, '').replace(/^.*[\\/]/, '').replace(/^builtin:/, '').toLowerCase().replace(/[^a-z0-9.]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40);
  return `${stamp}-${slug || 'model'}`;
}
