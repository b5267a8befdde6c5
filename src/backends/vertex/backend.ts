/**
 * The Vertex AI backend: the same run folder as a local run (run.json, config.json, data/,
 * events.jsonl, summary.json, plus vertex.log), with the events written by this host as it watches
 * the remote job: `started`, `job` (each change of the job), `progress`, `metrics` (from TensorBoard),
 * `warning`, `error`, `finished`. The job goes on without us: after a window reload `reattach`
 * replays events.jsonl and goes on polling the job named in run.json.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { runId, summarizeEvents, type JobEvent, type RunSummary, type TrainerEvent } from '../../core/runs';
import { listRuns, pidAlive, pidIn, readRun, readRunEvents, writeFileAtomic, type RunListItem } from '../../core/runStore';
import { RunSetupError } from '../local/runner';
import { followEvents } from '../follow';
import { Replay, type RunHandle, type StartRequest, type TuningBackend } from '../types';
import { CredentialsError, loadCredentials, type Credentials } from './auth';
import { ADAPTER_SIZES, VertexClient, type TuningJob } from './client';
import { copyJobData } from './jobData';
import { prepareVertexDataset, vertexTarget, type PrepareOptions, type VertexDatasetRecord } from './dataset';
import { createJobOnce, DATASET_LABEL, findJobByLabel, isTerminal, jobEvent, jobFingerprint, labelValue, RUN_LABEL, runLabelValue, runStatusOf, type CreateOptions } from './jobs';
import { JobMetricsReader, newMetricsEvents } from './metrics';
import { resolveVertexSettings, VertexSetupError, type ResolvedVertexSettings, type VertexSettings, type VertexStartOptions } from './settings';
import { uploadDataset } from './storage';
import { defaultSleep, describeError, HttpError, type Fetch, type RetryNote, type RetryOptions } from './transport';

export const DEFAULT_POLL_SECONDS = 30;
/** Looks at TensorBoard after a job ended while its last steps' metrics are not there yet. */
const FINAL_METRIC_LOOKS = 3;

/** run.json of a Vertex AI run. */
export interface VertexRunRecord {
  readonly id: string;
  readonly created: string;
  readonly backend: 'vertex';
  readonly origin: 'cli' | 'extension';
  readonly mode: 'train';
  readonly model: string;
  readonly vertex: {
    readonly project: string;
    readonly location: string;
    readonly bucket: string;
    readonly api_endpoint: string;
    readonly storage_endpoint: string;
    readonly token_endpoint?: string;
    readonly poll_interval_seconds: number;
    readonly tuned_model_display_name: string;
    readonly hyper_parameters: { readonly epoch_count: number | null; readonly learning_rate_multiplier: number | null; readonly adapter_size: number | null };
    readonly labels: Readonly<Record<string, string>>;
    /** The job's resource name, as soon as it is known. */
    readonly job: string | null;
  };
  readonly dataset: { readonly train: VertexDatasetRecord; readonly validation?: VertexDatasetRecord };
}

/** config.json of a Vertex AI run: what was asked for (no credentials). */
export interface VertexRunConfig {
  readonly backend: 'vertex';
  readonly model: string;
  readonly train_file: string;
  readonly validation_file: string | null;
  readonly epoch_count: number | null;
  readonly learning_rate_multiplier: number | null;
  readonly adapter_size: number | null;
  readonly tuned_model_display_name: string;
  readonly project: string;
  readonly location: string;
  readonly bucket: string;
}

export interface VertexBackendOptions {
  readonly origin?: 'cli' | 'extension';
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Settings that are not kept in run.json, for reattach: the access token and token endpoint of now
   * (the extension's settings, the CLI's flags).
   */
  readonly settings?: () => Partial<VertexSettings>;
  /** Credentials for these settings (default: loadCredentials). */
  readonly credentials?: (settings: VertexSettings) => Promise<Credentials>;
  readonly retry?: RetryOptions;
  readonly onRetry?: (note: RetryNote) => void;
  readonly create?: Omit<CreateOptions, 'signal' | 'onNote'>;
  readonly upload?: { readonly resumableThreshold?: number; readonly chunkBytes?: number };
  /** Longest wait between two polls while nothing changes (default: 10 × the interval, at most 10 minutes). */
  readonly maxPollSeconds?: number;
  /**
   * Whether the run folders may be acted on (the editor: the workspace is trusted). Where it says
   * no, reattach watches nothing: a run.json could name any endpoint to send credentials to.
   */
  readonly trusted?: () => boolean;
  /** Waits between polls (tests). */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly fetch?: Fetch;
  readonly prepare?: PrepareOptions;
}

const now = () => new Date().toISOString();

/** The run of `runsDir` that follows this job, if one does. */
export function runOfJob(runsDir: string, jobName: string): RunListItem | undefined {
  return listRuns(path.resolve(runsDir)).find((r) => r.record.backend === 'vertex' && (r.record as unknown as Partial<VertexRunRecord>).vertex?.job === jobName);
}

/** Writes config.json and run.json of a Vertex AI run (what was asked; where, how and on what). */
function writeRunFiles(dir: string, r: {
  id: string; created: Date; origin: 'cli' | 'extension'; settings: ResolvedVertexSettings; config: VertexRunConfig;
  labels: Readonly<Record<string, string>>; job: string | null; dataset: VertexRunRecord['dataset'];
}): VertexRunRecord {
  const { settings: s, config: c } = r;
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(c, null, 2) + '\n');
  const record: VertexRunRecord = {
    id: r.id, created: r.created.toISOString(), backend: 'vertex', origin: r.origin, mode: 'train', model: c.model,
    vertex: {
      project: s.project, location: s.location, bucket: s.bucket, api_endpoint: s.apiEndpoint, storage_endpoint: s.storageEndpoint,
      ...(s.tokenEndpoint ? { token_endpoint: s.tokenEndpoint } : {}),
      poll_interval_seconds: s.pollIntervalSeconds ?? DEFAULT_POLL_SECONDS,
      tuned_model_display_name: c.tuned_model_display_name,
      hyper_parameters: { epoch_count: c.epoch_count, learning_rate_multiplier: c.learning_rate_multiplier, adapter_size: c.adapter_size },
      labels: r.labels,
      job: r.job,
    },
    dataset: r.dataset,
  };
  writeFileAtomic(path.join(dir, 'run.json'), JSON.stringify(record, null, 2) + '\n');
  return record;
}

/** Writes a run's events and log as they come, and hands them to readers. */
class RunSink {
  readonly events = new Replay<TrainerEvent>();
  readonly logs = new Replay<string>();
  constructor(readonly dir: string) {}

  emit(e: TrainerEvent): void {
    appendFileSync(path.join(this.dir, 'events.jsonl'), JSON.stringify(e) + '\n');
    this.events.push(e);
  }

  /** Replayed from an earlier host (reattach): shown, not written again. */
  replay(e: TrainerEvent): void {
    this.events.push(e);
  }

  log(line: string): void {
    appendFileSync(path.join(this.dir, 'vertex.log'), `${now()} ${line}\n`);
    this.logs.push(line);
  }

  close(): RunSummary {
    const summary = summarizeEvents(this.events.all);
    writeFileAtomic(path.join(this.dir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    this.events.close();
    this.logs.close();
    return summary;
  }
}

/** Where a job's watch stands, carried over from events.jsonl on reattach. */
interface WatchState {
  lastJob: string | undefined;
  reported: Set<string>;
  maxStep: number;
  totalSteps: number;
}

function stateFromEvents(events: readonly TrainerEvent[]): WatchState {
  const s: WatchState = { lastJob: undefined, reported: new Set(), maxStep: 0, totalSteps: 0 };
  for (const e of events) {
    if (e.event === 'job') {
      s.lastJob = jobFingerprint(e);
      if (e.data_stats?.steps !== undefined) s.totalSteps = e.data_stats.steps;
    } else if (e.event === 'metrics') s.reported.add(`${e.split}:${e.step}`);
    else if (e.event === 'progress') s.maxStep = Math.max(s.maxStep, e.step);
  }
  return s;
}

export class VertexBackend implements TuningBackend {
  readonly id = 'vertex' as const;

  constructor(private readonly opts: VertexBackendOptions = {}) {}

  private credentials(settings: VertexSettings): Promise<Credentials> {
    return this.opts.credentials ? this.opts.credentials(settings) : loadCredentials(settings, this.opts.env ? { env: this.opts.env } : {});
  }

  private client(settings: ResolvedVertexSettings, log: (line: string) => void): Promise<VertexClient> {
    return this.credentials(settings).then((credentials) => VertexClient.create({
      settings, credentials,
      ...(this.opts.retry ? { retry: this.opts.retry } : {}),
      ...(this.opts.fetch ? { fetch: this.opts.fetch } : {}),
      onRetry: (n) => {
        log(`retrying ${n.method} ${n.url} in ${(n.delayMs / 1000).toFixed(1)} s (${n.reason}, try ${n.attempt})`);
        this.opts.onRetry?.(n);
      },
    }));
  }

  /** Prepares the run folder (throws RunSetupError with a sentence for the user) and starts watching in the background. */
  start(request: StartRequest): RunHandle {
    const v: VertexStartOptions | undefined = request.vertex;
    if (v === undefined) throw new RunSetupError('a Vertex AI run needs its settings (project, region, bucket, model)');
    const model = v.model || request.config.model;
    let settings: ResolvedVertexSettings;
    let train, validation;
    try {
      settings = resolveVertexSettings(v, this.opts.env ?? process.env);
      if (v.adapterSize !== undefined && ADAPTER_SIZES[v.adapterSize] === undefined) {
        const sizes = Object.keys(ADAPTER_SIZES);
        throw new VertexSetupError(`the adapter size must be ${sizes.slice(0, -1).join(', ')} or ${sizes.at(-1)!}, not ${v.adapterSize}`);
      }
      if (v.epochs !== undefined && !(Number.isInteger(v.epochs) && v.epochs > 0)) throw new VertexSetupError(`the epoch count must be a whole number above 0, not ${v.epochs}`);
      if (v.learningRateMultiplier !== undefined && !(v.learningRateMultiplier > 0)) throw new VertexSetupError(`the learning-rate multiplier must be above 0, not ${v.learningRateMultiplier}`);
      train = prepareVertexDataset(path.resolve(request.trainFile), 'training', model, { ...this.opts.prepare, ...(request.pinnedFormat ? { pinnedFormat: request.pinnedFormat } : {}) });
      validation = request.validationFile !== undefined
        ? prepareVertexDataset(path.resolve(request.validationFile), 'validation', model, { ...this.opts.prepare, ...(request.pinnedFormat ? { pinnedFormat: request.pinnedFormat } : {}) })
        : undefined;
    } catch (err) {
      if (err instanceof VertexSetupError) throw new RunSetupError(err.message);
      throw err;
    }
    const created = new Date();
    const runsDir = path.resolve(request.runsDir);
    const base = runId(created, model);
    let id = base;
    for (let n = 2; existsSync(path.join(runsDir, id)); n++) id = `${base}-${n}`;
    const dir = path.join(runsDir, id);
    mkdirSync(path.join(dir, 'data'), { recursive: true });
    writeFileSync(path.join(dir, 'data', 'train.jsonl'), train.data);
    if (validation) writeFileSync(path.join(dir, 'data', 'validation.jsonl'), validation.data);
    const displayName = (v.tunedModelDisplayName ?? `sft-studio ${id}`).slice(0, 128);
    const config: VertexRunConfig = {
      backend: 'vertex', model, train_file: 'data/train.jsonl', validation_file: validation ? 'data/validation.jsonl' : null,
      epoch_count: v.epochs ?? null, learning_rate_multiplier: v.learningRateMultiplier ?? null, adapter_size: v.adapterSize ?? null,
      tuned_model_display_name: displayName, project: settings.project, location: settings.location, bucket: settings.bucket,
    };
    // The run label is written before the job is created, so a job whose creation we did not hear back about is found again.
    const labels = { [RUN_LABEL]: runLabelValue(id), [DATASET_LABEL]: labelValue(train.record.upload_sha256) };
    const record = writeRunFiles(dir, { id, created, origin: this.opts.origin ?? 'extension', settings, config, labels, job: null, dataset: { train: train.record, ...(validation ? { validation: validation.record } : {}) } });
    const sink = new RunSink(dir);
    const watch = new RunWatch(this, sink, record, settings, this.opts);
    const done = watch.guard(watch.run({ train: train.data, ...(validation ? { validation: validation.data } : {}) }));
    return { id, dir, events: () => sink.events, logs: () => sink.logs, cancel: () => watch.cancel(), done };
  }

  /** A handle on a Vertex AI run that has not ended: replays its events and goes on watching its job. */
  reattach(dir: string): RunHandle | undefined {
    const item = readRun(dir);
    // An evaluation (mode 'evaluate', core/evaluate.ts) is no tuning job: nothing to re-attach to.
    if (item === undefined || item.record.backend !== 'vertex' || item.record.mode === 'evaluate' || item.status !== 'running') return undefined;
    let record: VertexRunRecord;
    try {
      record = JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')) as VertexRunRecord;
    } catch {
      return undefined;
    }
    // run.json is workspace content: its endpoints are used only where the workspace is trusted,
    // and a refresh token is only ever sent to the token endpoint of the settings of now.
    if (this.opts.trusted !== undefined && !this.opts.trusted()) return undefined;
    const now = this.opts.settings?.() ?? {};
    const v = record.vertex;
    const resolve = () => resolveVertexSettings({
      project: v.project, location: v.location, bucket: v.bucket, apiEndpoint: v.api_endpoint, storageEndpoint: v.storage_endpoint,
      pollIntervalSeconds: v.poll_interval_seconds,
      ...(now.tokenEndpoint ? { tokenEndpoint: now.tokenEndpoint } : {}),
      ...(now.accessToken ? { accessToken: now.accessToken } : {}),
    }, this.opts.env ?? process.env, { bucket: 'optional' }); // a watch uploads nothing (and a job opened from elsewhere has no bucket of ours)
    const other = pidIn(path.join(dir, 'watcher'));
    if (other !== undefined && other !== process.pid && pidAlive(other)) return this.followOther(dir, record, other, resolve);
    const settings = resolve();
    const sink = new RunSink(dir);
    const past = readRunEvents(dir);
    for (const e of past) sink.replay(e);
    try {
      for (const l of readFileSync(path.join(dir, 'vertex.log'), 'utf8').split('\n').slice(-50)) if (l !== '') sink.logs.push(l.replace(/^\S+ /, ''));
    } catch {
      // no log yet
    }
    const watch = new RunWatch(this, sink, record, settings, this.opts, stateFromEvents(past));
    const done = watch.guard(watch.resume());
    return { id: record.id, dir, events: () => sink.events, logs: () => sink.logs, cancel: () => watch.cancel(), done };
  }

  /**
   * A job started elsewhere (the console, another machine), as a run of `runsDir`: a run folder with
   * its name, model, data URIs and hyper-parameters, then watched like ours (a job already over gets
   * its events and ends at once). A job that already has a run there is reattached, or replayed.
   */
  async openJob(jobName: string, runsDir: string, settings: Omit<VertexSettings, 'bucket'> & { bucket?: string }): Promise<RunHandle> {
    const existing = runOfJob(runsDir, jobName);
    if (existing !== undefined) return this.reattach(existing.dir) ?? replayHandle(existing.dir);
    const m = /^projects\/([^/]+)\/locations\/([^/]+)\/tuningJobs\/[^/]+$/.exec(jobName);
    if (m === null) throw new RunSetupError(`"${jobName}" is not a tuning job's name (projects/P/locations/L/tuningJobs/ID)`);
    const resolved = resolveVertexSettings({ ...settings, bucket: settings.bucket ?? '', location: m[2]!, project: settings.project ?? m[1]! }, this.opts.env ?? process.env, { bucket: 'optional' });
    // Until the run folder exists, the log waits here.
    let sink: RunSink | undefined;
    const early: string[] = [];
    const client = await this.client(resolved, (line) => (sink ? sink.log(line) : early.push(line)));
    const job = await client.getTuningJob(jobName);
    const model = job.baseModel ?? 'unknown-model';
    const created = job.createTime ? new Date(job.createTime) : new Date();
    const base = runId(created, model);
    let id = base;
    for (let k = 2; existsSync(path.join(runsDir, id)); k++) id = `${base}-${k}`;
    const dir = path.join(path.resolve(runsDir), id);
    mkdirSync(dir, { recursive: true });
    const spec = job.supervisedTuningSpec ?? {};
    const hp = spec.hyperParameters ?? {};
    const adapter = Object.entries(ADAPTER_SIZES).find(([, v]) => v === hp.adapterSize)?.[0];
    // The job's data, copied beside the run when it can be read (else named by its URI only).
    mkdirSync(path.join(dir, 'data'), { recursive: true });
    const notes: string[] = [];
    const copy = async (uri: string | undefined, file: string): Promise<VertexDatasetRecord | undefined> => {
      if (!uri) return undefined;
      const got = await copyJobData(client, uri, path.join(dir, 'data', file));
      if (got.note !== undefined) notes.push(got.note);
      return got.record;
    };
    const stats = job.tuningDataStats?.supervisedTuningDataStats;
    const copied = await copy(spec.trainingDatasetUri, 'train.jsonl');
    const train: VertexDatasetRecord = copied !== undefined && copied.sha256 !== ''
      ? copied
      : { path: spec.trainingDatasetUri ?? '', sha256: '', bytes: 0, samples: Number(stats?.tuningDatasetExampleCount ?? 0) || 0, formats: [], converted: false, lossy: [], upload_sha256: '', upload_bytes: 0, ...(spec.trainingDatasetUri ? { uri: spec.trainingDatasetUri } : {}) };
    const validation = await copy(spec.validationDatasetUri, 'validation.jsonl');
    const displayName = job.tunedModelDisplayName ?? '';
    const config: VertexRunConfig = {
      backend: 'vertex', model, train_file: train.path, validation_file: validation?.path ?? null,
      epoch_count: hp.epochCount !== undefined ? Number(hp.epochCount) : null, learning_rate_multiplier: hp.learningRateMultiplier ?? null,
      adapter_size: adapter !== undefined ? Number(adapter) : null, tuned_model_display_name: displayName, project: resolved.project, location: resolved.location, bucket: resolved.bucket,
    };
    const record = writeRunFiles(dir, { id, created, origin: this.opts.origin ?? 'extension', settings: resolved, config, labels: { ...(job.labels ?? {}) }, job: jobName, dataset: { train, ...(validation !== undefined ? { validation } : {}) } });
    sink = new RunSink(dir);
    for (const line of early) sink.log(line);
    sink.emit({
      event: 'started', time: job.startTime ?? job.createTime ?? new Date().toISOString(), model, device: `Vertex AI (${resolved.project}, ${resolved.location})`, total_steps: 0,
      config: config as unknown as Record<string, unknown>,
    });
    sink.log(`opened the tuning job ${jobName}, started elsewhere`);
    for (const text of notes) sink.emit({ event: 'warning', time: new Date().toISOString(), text, code: 'data' });
    const watch = new RunWatch(this, sink, record, resolved, this.opts);
    const done = watch.guard(watch.follow(client, job));
    return { id, dir, events: () => sink.events, logs: () => sink.logs, cancel: () => watch.cancel(), done };
  }

  /**
   * A run another live process watches: its events as that process writes them. Cancel asks Vertex
   * AI directly (the watcher sees the job end); if the watcher goes away first, this one takes over.
   */
  private followOther(dir: string, record: VertexRunRecord, pid: number, resolve: () => ResolvedVertexSettings): RunHandle {
    const sink = new RunSink(dir);
    let takenOver: RunWatch | undefined;
    let cancelled = false;
    const done = followEvents(dir, (e) => sink.replay(e), () => pidAlive(pid)).then((how): Promise<RunSummary> | RunSummary => {
      if (how === 'finished') {
        sink.events.close();
        sink.logs.close();
        return summarizeEvents(sink.events.all);
      }
      sink.log(`the process that watched this run (pid ${pid}) is gone: watching the job from here`);
      takenOver = new RunWatch(this, sink, JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')) as VertexRunRecord, resolve(), this.opts, stateFromEvents(sink.events.all));
      if (cancelled) takenOver.cancel();
      return takenOver.guard(takenOver.resume());
    });
    const cancel = () => {
      cancelled = true;
      if (takenOver !== undefined) return takenOver.cancel();
      const name = record.vertex.job;
      if (name === null) return;
      void this.client(resolve(), (line) => sink.log(line))
        .then((c) => c.cancelTuningJob(name))
        .then(() => sink.log(`asked Vertex AI to cancel ${name}`), (err: unknown) => sink.log(`cancelling ${name} failed: ${describeError(err)}`));
    };
    return { id: record.id, dir, events: () => sink.events, logs: () => sink.logs, cancel, done };
  }

  /** @internal */
  makeClient(settings: ResolvedVertexSettings, sink: RunSink): Promise<VertexClient> {
    return this.client(settings, (line) => sink.log(line));
  }
}

/** One host's watch over one run: upload, create, poll, cancel. */
class RunWatch {
  private cancelRequested = false;
  private cancelSent = false;
  private wake: AbortController | undefined;
  private readonly aborter = new AbortController();
  private record: VertexRunRecord;

  constructor(
    private readonly backend: VertexBackend,
    private readonly sink: RunSink,
    record: VertexRunRecord,
    private readonly settings: ResolvedVertexSettings,
    private readonly opts: VertexBackendOptions,
    private readonly state: WatchState = { lastJob: undefined, reported: new Set(), maxStep: 0, totalSteps: 0 },
  ) {
    this.record = record;
  }

  /** A failure nobody expected (the run folder deleted under us, say) still ends the handle. */
  guard(p: Promise<RunSummary>): Promise<RunSummary> {
    // This process watches the job: another window (or the CLI) that opens the run follows the
    // events it writes instead of polling the job a second time.
    const watcher = path.join(this.sink.dir, 'watcher');
    writeFileSync(watcher, String(process.pid));
    const release = () => {
      if (pidIn(watcher) === process.pid) rmSync(watcher, { force: true });
    };
    return p.finally(release).catch((err: unknown) => {
      try {
        return this.fail(`the watch of this run broke: ${err instanceof Error ? err.message : String(err)}`, null, 'host');
      } catch {
        this.sink.events.close();
        this.sink.logs.close();
        return summarizeEvents(this.sink.events.all);
      }
    });
  }

  cancel(): void {
    if (this.cancelRequested) return;
    this.cancelRequested = true;
    this.sink.log('cancel requested');
    // Before the job exists, stop the upload; once it does, the poll loop sends tuningJobs.cancel.
    if (this.record.vertex.job === null) this.aborter.abort(new Error('cancelled'));
    this.wake?.abort();
  }

  private save(): void {
    writeFileAtomic(path.join(this.sink.dir, 'run.json'), JSON.stringify(this.record, null, 2) + '\n');
  }

  private setJob(name: string): void {
    this.record = { ...this.record, vertex: { ...this.record.vertex, job: name } };
    this.save();
  }

  private fail(message: string, hint: string | null, kind: string): RunSummary {
    this.sink.emit({ event: 'error', time: now(), message, hint, kind });
    this.sink.emit({ event: 'finished', time: now(), status: 'failed', adapter: null, steps: this.state.maxStep });
    return this.sink.close();
  }

  private cancelled(): RunSummary {
    this.sink.emit({ event: 'finished', time: now(), status: 'cancelled', adapter: null, reason: 'cancelled', steps: this.state.maxStep });
    return this.sink.close();
  }

  /** A failure of our own side (credentials, network): said once; the run stays open when a job is out there. */
  private trouble(err: unknown): RunSummary {
    const message = describeError(err);
    const hint = err instanceof CredentialsError ? null : `see ${path.join(this.sink.dir, 'vertex.log')}`;
    if (this.record.vertex.job !== null && !(err instanceof HttpError && (err.status === 404 || err.status === 403))) {
      // The job goes on at Google: the run is not over. Reopening it (or a reload) resumes the watch.
      const text = `stopped watching the job ${this.record.vertex.job}: ${message}; it goes on at Vertex AI, and the run resumes when reopened`;
      // Said once, not again on every reload that meets the same trouble.
      const last = this.sink.events.all.at(-1);
      if (!(last?.event === 'warning' && last.text === text)) this.sink.emit({ event: 'warning', time: now(), text, code: 'watch' });
      this.sink.log(`stopped watching: ${message}`);
      const summary = summarizeEvents(this.sink.events.all);
      this.sink.events.close();
      this.sink.logs.close();
      return summary;
    }
    return this.fail(message, hint, err instanceof CredentialsError ? 'credentials' : 'vertex');
  }

  async run(data: { train: Buffer; validation?: Buffer }): Promise<RunSummary> {
    const r = this.record;
    this.sink.emit({
      event: 'started', time: now(), model: r.model, device: `Vertex AI (${r.vertex.project}, ${r.vertex.location})`, total_steps: 0,
      config: JSON.parse(readFileSync(path.join(this.sink.dir, 'config.json'), 'utf8')) as Record<string, unknown>,
      samples: { train: r.dataset.train.samples, validation: r.dataset.validation?.samples ?? 0, too_long: 0 },
    });
    if (vertexTarget(r.model) === undefined) {
      this.sink.emit({ event: 'warning', time: now(), text: `SFT Studio knows no documented limits for ${r.model} (tokens per example, validation examples, file size): the data was not checked against them; Vertex AI will check it after the upload`, code: 'limits' });
    }
    for (const [label, d] of [['training', r.dataset.train], ['validation', r.dataset.validation]] as const) {
      if (d?.converted) this.sink.emit({ event: 'warning', time: now(), text: `the ${label} file is ${d.formats.join(', ')}: converted to Vertex's Gemini format for this run (data/)`, code: 'converted' });
      if (d?.skipped !== undefined && d.skipped.length > 0) {
        this.sink.emit({ event: 'warning', time: now(), text: `${d.skipped.length} ${label} line(s) left out, they cannot be tuned on: ${d.skipped.slice(0, 3).map((l) => `line ${l.line} ${l.reason}`).join('; ')}`, code: 'skipped', lines: d.skipped.map((l) => l.line) });
      }
      if (d !== undefined && d.lossy.length > 0) {
        this.sink.emit({ event: 'warning', time: now(), text: `${d.lossy.length} ${label} sample(s) lost something in the conversion: ${d.lossy.slice(0, 3).map((l) => `line ${l.line}: ${l.reason}`).join('; ')}`, code: 'lossy', lines: d.lossy.map((l) => l.line) });
      }
    }
    let client: VertexClient;
    let job: TuningJob;
    try {
      client = await this.backend.makeClient(this.settings, this.sink);
      const uris: { train?: string; validation?: string } = {};
      for (const split of ['train', 'validation'] as const) {
        const bytes = data[split];
        if (bytes === undefined) continue;
        const name = split === 'train' ? 'training' : 'validation';
        let lastTenth = -1;
        const up = await uploadDataset(client.transport, bytes, {
          storageEndpoint: this.settings.storageEndpoint, bucket: this.settings.bucketName, prefix: this.settings.prefix, signal: this.aborter.signal,
          ...(this.opts.upload?.resumableThreshold !== undefined ? { resumableThreshold: this.opts.upload.resumableThreshold } : {}),
          ...(this.opts.upload?.chunkBytes !== undefined ? { chunkBytes: this.opts.upload.chunkBytes } : {}),
          onProgress: (sent, total) => {
            const tenth = Math.floor((10 * sent) / Math.max(1, total));
            if (tenth !== lastTenth) {
              lastTenth = tenth;
              this.sink.log(`uploading the ${name} data: ${Math.round((100 * sent) / Math.max(1, total))} % of ${total.toLocaleString('en-US')} bytes`);
            }
          },
        });
        this.sink.log(up.uploaded ? `uploaded the ${name} data to ${up.uri} (${up.method})` : `the ${name} data is already in ${up.uri}: not uploaded again`);
        uris[split] = up.uri;
        const d = this.record.dataset;
        this.record = { ...this.record, dataset: split === 'train' ? { ...d, train: { ...d.train, uri: up.uri } } : { ...d, validation: { ...d.validation!, uri: up.uri } } };
        this.save();
      }
      if (this.cancelRequested) return this.cancelled();
      const v = this.record.vertex;
      const h = v.hyper_parameters;
      job = await createJobOnce(client, {
        baseModel: this.record.model, trainingDatasetUri: uris.train!, ...(uris.validation ? { validationDatasetUri: uris.validation } : {}),
        ...(h.epoch_count !== null ? { epochCount: h.epoch_count } : {}),
        ...(h.learning_rate_multiplier !== null ? { learningRateMultiplier: h.learning_rate_multiplier } : {}),
        ...(h.adapter_size !== null ? { adapterSize: h.adapter_size } : {}),
        tunedModelDisplayName: v.tuned_model_display_name, labels: v.labels,
      }, { ...this.opts.create, onNote: (t) => this.sink.log(t) });
    } catch (err) {
      if (this.cancelRequested && this.record.vertex.job === null && this.aborter.signal.aborted) return this.cancelled();
      return this.trouble(err);
    }
    if (job.name === undefined) return this.fail('Vertex AI created a tuning job but gave no name for it', null, 'vertex');
    this.setJob(job.name);
    this.sink.log(`created the tuning job ${job.name}`);
    return this.watch(client, job);
  }

  /** Watches a job already read (openJob). */
  follow(client: VertexClient, job: TuningJob): Promise<RunSummary> {
    return this.watch(client, job);
  }

  async resume(): Promise<RunSummary> {
    let client: VertexClient;
    let job: TuningJob | undefined;
    try {
      client = await this.backend.makeClient(this.settings, this.sink);
      const name = this.record.vertex.job;
      if (name !== null) job = await client.getTuningJob(name);
      else {
        // The host went away while creating the job: it may exist.
        const label = this.record.vertex.labels[RUN_LABEL];
        job = label !== undefined ? await findJobByLabel(client, RUN_LABEL, label) : undefined;
        if (job?.name === undefined) return this.fail('this run stopped before its tuning job was created', 'start it again', 'vertex');
        this.setJob(job.name);
      }
    } catch (err) {
      return this.trouble(err);
    }
    this.sink.log(`watching the tuning job ${job.name ?? ''} again`);
    return this.watch(client, job);
  }

  private async watch(client: VertexClient, first: TuningJob): Promise<RunSummary> {
    const base = (this.settings.pollIntervalSeconds ?? DEFAULT_POLL_SECONDS) * 1000;
    const max = (this.opts.maxPollSeconds ?? Math.min(600, 10 * (this.settings.pollIntervalSeconds ?? DEFAULT_POLL_SECONDS))) * 1000;
    const sleep = this.opts.sleep ?? defaultSleep;
    let interval = base;
    let job = first;
    let reader: JobMetricsReader | undefined;
    const name = job.name!;
    for (;;) {
      let changed = false;
      try {
        if (this.cancelRequested && !this.cancelSent && !isTerminal(job)) {
          this.cancelSent = true;
          try {
            await client.cancelTuningJob(name);
            this.sink.log(`asked Vertex AI to cancel ${name}`);
          } catch (err) {
            this.sink.log(`cancelling ${name} failed: ${describeError(err)}`);
            this.sink.emit({ event: 'warning', time: now(), text: `Vertex AI did not take the cancel: ${describeError(err)}`, code: 'cancel' });
          }
          changed = true;
        }
        const ev = jobEvent(job);
        const print = jobFingerprint(ev);
        if (print !== this.state.lastJob) {
          this.state.lastJob = print;
          this.sink.emit(ev);
          this.sink.log(`job ${ev.state}`);
          if (ev.data_stats?.steps !== undefined) this.state.totalSteps = ev.data_stats.steps;
          changed = true;
        }
        const terminal = isTerminal(job);
        if (job.experiment && (job.state === 'JOB_STATE_RUNNING' || terminal)) {
          reader ??= new JobMetricsReader(client, job.experiment);
          if (await this.readMetrics(reader, terminal)) changed = true;
          // The last points may land in TensorBoard after the job ends: a few more looks, then the end anyway.
          const succeeded = job.state === 'JOB_STATE_SUCCEEDED';
          for (let look = 1; succeeded && look <= FINAL_METRIC_LOOKS && this.state.maxStep < this.state.totalSteps; look++) {
            await sleep(base, this.aborter.signal).catch(() => undefined);
            await this.readMetrics(reader, terminal);
          }
          if (succeeded && this.state.maxStep < this.state.totalSteps) {
            this.sink.emit({ event: 'warning', time: now(), text: `the job's metrics reach step ${this.state.maxStep} of ${this.state.totalSteps}: the rest could not be read from Vertex AI TensorBoard`, code: 'metrics' });
          }
        }
        if (terminal) return this.end(job, ev);
      } catch (err) {
        if (err instanceof CredentialsError || (err instanceof HttpError && (err.status === 404 || err.status === 403))) return this.trouble(err);
        // Anything else (the service down longer than the transport's retries): keep watching, less often.
        this.sink.log(`reading the job failed: ${describeError(err)}; trying again`);
      }
      interval = changed ? base : Math.min(max, Math.round(interval * 1.5));
      this.wake = new AbortController();
      if (!(this.cancelRequested && !this.cancelSent)) await sleep(interval, this.wake.signal).catch(() => undefined);
      try {
        job = await client.getTuningJob(name);
      } catch (err) {
        if (err instanceof CredentialsError || (err as { status?: number }).status === 404 || (err as { status?: number }).status === 403) return this.trouble(err);
        this.sink.log(`reading the job failed: ${describeError(err)}; trying again`);
      }
    }
  }

  private metricsWarned = false;

  /**
   * New metric points, as events; true when there were some. A failure to read them (no TensorBoard
   * permission, the service down) is said once and never decides the run: the job goes on.
   */
  private async readMetrics(reader: JobMetricsReader, terminal: boolean): Promise<boolean> {
    let points;
    try {
      points = await reader.read();
    } catch (err) {
      if (err instanceof CredentialsError) throw err;
      this.sink.log(`reading the metrics failed: ${describeError(err)}`);
      if (!this.metricsWarned) {
        this.metricsWarned = true;
        this.sink.emit({ event: 'warning', time: now(), text: `the metrics cannot be read from Vertex AI TensorBoard (${describeError(err)}); the job is watched on without its curves`, code: 'metrics' });
      }
      return false;
    }
    const fresh = newMetricsEvents(points, this.state.reported, terminal);
    for (const e of fresh) this.sink.emit(e);
    const top = fresh.reduce((m, e) => (e.split === 'train' ? Math.max(m, e.step) : m), this.state.maxStep);
    if (top > this.state.maxStep) {
      this.state.maxStep = top;
      this.emitProgress();
    }
    return fresh.length > 0;
  }

  private emitProgress(): void {
    const total = Math.max(this.state.totalSteps, this.state.maxStep);
    const epochs = this.record.vertex.hyper_parameters.epoch_count;
    const epoch = epochs !== null && total > 0 ? (this.state.maxStep / total) * epochs : 0;
    this.sink.emit({ event: 'progress', time: now(), step: this.state.maxStep, total_steps: total, epoch });
  }

  private end(job: TuningJob, ev: JobEvent): RunSummary {
    const status = runStatusOf(job);
    if (status === 'completed' && this.state.totalSteps > this.state.maxStep) {
      this.state.maxStep = this.state.totalSteps;
      this.emitProgress();
    }
    if (status === 'failed') {
      const message = job.error?.message || `the tuning job ended ${job.state ?? 'without a state'}`;
      return this.fail(message, ev.console_url ? `details: ${ev.console_url}` : null, 'job');
    }
    this.sink.log(status === 'completed' ? `tuned model ${job.tunedModel?.model ?? '?'}, endpoint ${job.tunedModel?.endpoint ?? '?'}` : 'the job was cancelled');
    this.sink.emit({ event: 'finished', time: now(), status, adapter: null, steps: this.state.maxStep, ...(status === 'cancelled' ? { reason: 'cancelled' } : {}) });
    return this.sink.close();
  }
}

/** A handle on a run that has ended: its events and log as kept, and its summary. */
export function replayHandle(dir: string): RunHandle {
  const events = new Replay<TrainerEvent>();
  for (const e of readRunEvents(dir)) events.push(e);
  events.close();
  const logs = new Replay<string>();
  try {
    for (const l of readFileSync(path.join(dir, 'vertex.log'), 'utf8').split('\n')) if (l !== '') logs.push(l.replace(/^\S+ /, ''));
  } catch {
    // no log
  }
  logs.close();
  const id = path.basename(dir);
  return { id, dir, events: () => events, logs: () => logs, cancel: () => undefined, done: Promise.resolve(summarizeEvents(events.all)) };
}
