/**
 * Tuning jobs: created once (a create that may or may not have gone through is resolved by looking
 * the job up by its run label before trying again), watched until they end, cancelled, listed.
 */
import { randomBytes } from 'node:crypto';
import type { JobEvent } from '../../core/runs';
import type { CreateJobRequest, TuningJob, VertexClient } from './client';
import { AmbiguousRequestError, defaultSleep } from './transport';

/** Label keys our jobs carry (underscores: label keys allow them, and filters need no quoting). */
export const RUN_LABEL = 'sft_studio_run';
export const DATASET_LABEL = 'sft_studio_dataset';

/**
 * A label value by the TuningJob.labels rules (tuning_job.proto: at most 64 characters, lowercase
 * letters, digits, `_` and `-`); 63 also meets the general Google Cloud label limit.
 */
export function labelValue(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
}

/** The run label's value: the run id and a random tail, so two runs never share one. */
export function runLabelValue(runId: string): string {
  return `${labelValue(runId).slice(0, 54).replace(/-+$/, '')}-${randomBytes(4).toString('hex')}`;
}

export const TERMINAL_STATES: ReadonlySet<string> = new Set(['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED', 'JOB_STATE_EXPIRED', 'JOB_STATE_PARTIALLY_SUCCEEDED']);

export const isTerminal = (job: TuningJob): boolean => job.state !== undefined && TERMINAL_STATES.has(job.state);

/** The run status a finished job means. */
export function runStatusOf(job: TuningJob): 'completed' | 'cancelled' | 'failed' {
  if (job.state === 'JOB_STATE_SUCCEEDED') return 'completed';
  if (job.state === 'JOB_STATE_CANCELLED') return 'cancelled';
  return 'failed';
}

const int = (s: string | number | undefined): number | undefined => {
  if (s === undefined) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
};

/** The Cloud console page of a job. */
export function consoleUrl(name: string): string | undefined {
  const m = /^projects\/([^/]+)\/locations\/([^/]+)\/tuningJobs\/([^/]+)$/.exec(name);
  return m === null ? undefined : `https://console.cloud.google.com/vertex-ai/generative/language/locations/${m[2]}/tuning/tuningJob/${m[3]}?project=${m[1]}`;
}

/** A job as our `job` event (int64 counts arrive as strings). */
export function jobEvent(job: TuningJob, time = new Date().toISOString()): JobEvent {
  const name = job.name ?? '';
  const s = job.tuningDataStats?.supervisedTuningDataStats;
  const stats = s === undefined ? null : {
    ...(int(s.tuningDatasetExampleCount) !== undefined ? { examples: int(s.tuningDatasetExampleCount)! } : {}),
    ...(int(s.totalBillableTokenCount) !== undefined ? { billable_tokens: int(s.totalBillableTokenCount)! } : {}),
    ...(int(s.tuningStepCount) !== undefined ? { steps: int(s.tuningStepCount)! } : {}),
    ...(int(s.totalTruncatedExampleCount) !== undefined ? { truncated: int(s.totalTruncatedExampleCount)! } : {}),
  };
  const url = consoleUrl(name);
  return {
    event: 'job', time, backend: 'vertex', name, state: job.state ?? 'JOB_STATE_UNSPECIFIED',
    ...(url !== undefined ? { console_url: url } : {}),
    tuned_model: job.tunedModel ? { ...(job.tunedModel.model ? { model: job.tunedModel.model } : {}), ...(job.tunedModel.endpoint ? { endpoint: job.tunedModel.endpoint } : {}) } : null,
    data_stats: stats,
    error: job.error ? { ...(typeof job.error.code === 'number' ? { code: job.error.code } : {}), ...(job.error.message ? { message: job.error.message } : {}) } : null,
  };
}

/** What a `job` event says, for telling whether anything changed. */
export const jobFingerprint = (e: JobEvent): string => JSON.stringify([e.state, e.tuned_model, e.data_stats, e.error]);

/** Our job with this run label, if the service has one: a filtered list, every label checked here too. */
export async function findJobByLabel(client: VertexClient, key: string, value: string, signal?: AbortSignal): Promise<TuningJob | undefined> {
  const mine = (j: TuningJob) => j.labels?.[key] === value;
  let jobs: TuningJob[];
  try {
    jobs = await client.listTuningJobs({ filter: `labels.${key}="${value}"`, ...(signal ? { signal } : {}) });
  } catch (err) {
    // A service that refuses the filter: list the recent jobs and look ourselves.
    if ((err as { status?: number }).status !== 400) throw err;
    jobs = await client.listTuningJobs({ limit: 500, ...(signal ? { signal } : {}) });
  }
  return jobs.find(mine);
}

export interface CreateOptions {
  readonly signal?: AbortSignal;
  readonly attempts?: number;
  readonly baseDelayMs?: number;
  readonly random?: () => number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Told when a create call may have failed and the job is looked up (for the run's log). */
  readonly onNote?: (text: string) => void;
}

/**
 * Creates the job. When the call ends in a way that leaves open whether the job was made (a time-out,
 * a dropped connection, a 5xx), the job is looked up by its run label (`labels[RUN_LABEL]`, which
 * the request must carry) and only created again when it is not there, so there is never a second job.
 */
export async function createJobOnce(client: VertexClient, req: CreateJobRequest, opts: CreateOptions = {}): Promise<TuningJob> {
  const label = req.labels?.[RUN_LABEL];
  if (label === undefined) throw new Error(`a tuning job is created with its ${RUN_LABEL} label, so that it can be found again`);
  const attempts = opts.attempts ?? 4;
  const sleep = opts.sleep ?? defaultSleep;
  const random = opts.random ?? Math.random;
  const base = opts.baseDelayMs ?? 2000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.createTuningJob(req, opts.signal);
    } catch (err) {
      if (!(err instanceof AmbiguousRequestError) || opts.signal?.aborted) throw err;
      opts.onNote?.(`creating the tuning job may have failed (${err.message}); looking for it by its label ${RUN_LABEL}=${label}`);
      // Twice, a little apart: a job just made may take a moment to be listed.
      for (let look = 0; look < 2; look++) {
        const found = await findJobByLabel(client, RUN_LABEL, label, opts.signal);
        if (found !== undefined) {
          opts.onNote?.(`found the job ${found.name ?? ''}: it was created`);
          return found;
        }
        if (look === 0) await sleep(Math.floor(random() * base), opts.signal);
      }
      if (attempt >= attempts) throw new Error(`the tuning job could not be created after ${attempts} tries: ${err.message}`);
      opts.onNote?.('no such job: creating it again');
      await sleep(Math.floor(random() * base * 2 ** attempt), opts.signal);
    }
  }
}

/** Jobs of the project and region, for "open a job started elsewhere as a run". */
export function listJobs(client: VertexClient, opts: { limit?: number; signal?: AbortSignal } = {}): Promise<TuningJob[]> {
  return client.listTuningJobs({ limit: opts.limit ?? 100, ...(opts.signal ? { signal: opts.signal } : {}) });
}
