// Vertex AI v1 as SFT Studio uses it: tuningJobs (GenAiTuningService), the job's experiment in the
// metadata store (MetadataService contexts), its TensorBoard time series (TensorboardService), and
// generateContent (PredictionService).
//
// References, all read in googleapis/googleapis at f8291d2b89f0017ab078a4c7378069bae5686f6f (2026-08-22):
// - google/cloud/aiplatform/v1/genai_tuning_service.proto: the four tuningJobs methods and their HTTP rules,
//   ListTuningJobsRequest {filter, pageSize, pageToken}, ListTuningJobsResponse {tuningJobs, nextPageToken},
//   CancelTuningJob -> google.protobuf.Empty ("error.code 1 (CANCELLED)", state CANCELLED).
// - google/cloud/aiplatform/v1/tuning_job.proto: TuningJob, TunedModel, SupervisedTuningSpec,
//   SupervisedHyperParameters (int64 epoch_count, double learning_rate_multiplier, enum AdapterSize),
//   SupervisedTuningDataStats (int64 counts: strings in JSON), SupervisedTuningDatasetDistribution, labels rules.
// - google/cloud/aiplatform/v1/job_state.proto: JobState names.
// - google/cloud/aiplatform/v1/metadata_service.proto + context.proto: GetContext, ListContexts (filter with
//   schema_title and parent_contexts), Context fields.
// - google/cloud/aiplatform/v1/tensorboard_service.proto, tensorboard_time_series.proto, tensorboard_data.proto:
//   ListTensorboardTimeSeries, ReadTensorboardTimeSeriesData (`{timeSeries}:read`, maxDataPoints),
//   BatchReadTensorboardTimeSeriesData (`{tensorboard}:batchRead?timeSeries=`), TimeSeriesData,
//   TimeSeriesDataPoint {wallTime, step (int64), scalar {value}}.
// - google/cloud/aiplatform/v1/prediction_service.proto + content.proto: GenerateContent on
//   `{model=projects/*/locations/*/endpoints/*}` and `{model=projects/*/locations/*/publishers/*/models/*}`,
//   GenerateContentRequest/Response, Candidate.FinishReason, UsageMetadata (int32: JSON numbers).
// - Experiment naming and metric names: GoogleCloudPlatform/generative-ai gemini/tuning notebooks (see
//   /work/vertex-research.md §5): experiment context -> metadata.backing_tensorboard_resource; the run is the
//   ExperimentRun child context; series display names "/train_total_loss", ... .
// - Resource names in answers carry the project NUMBER (the SFT sample's output:
//   "projects/123456789012/locations/us-central1/models/1234567890@1"), as the service does.
import { isObject, type Json, json, googleError, type Reply, timestamp } from './shared';

// ---------------------------------------------------------------------------------------------------------
// Types of the JSON the fake exchanges (only what it reads or writes)

export type JobState =
  | 'JOB_STATE_UNSPECIFIED' | 'JOB_STATE_QUEUED' | 'JOB_STATE_PENDING' | 'JOB_STATE_RUNNING' | 'JOB_STATE_SUCCEEDED'
  | 'JOB_STATE_FAILED' | 'JOB_STATE_CANCELLING' | 'JOB_STATE_CANCELLED' | 'JOB_STATE_PAUSED' | 'JOB_STATE_EXPIRED'
  | 'JOB_STATE_UPDATING' | 'JOB_STATE_PARTIALLY_SUCCEEDED';

/** AdapterSize enum names and numbers (tuning_job.proto, SupervisedHyperParameters.AdapterSize). */
export const ADAPTER_SIZES: Record<string, number> = {
  ADAPTER_SIZE_UNSPECIFIED: 0,
  ADAPTER_SIZE_ONE: 1,
  ADAPTER_SIZE_TWO: 6,
  ADAPTER_SIZE_FOUR: 2,
  ADAPTER_SIZE_EIGHT: 3,
  ADAPTER_SIZE_SIXTEEN: 4,
  ADAPTER_SIZE_THIRTY_TWO: 5,
};

/** Base models the fake accepts for tuning unless told otherwise. [U]: the docs page renders its list from a
 * template the excerpts did not include; these are the 2.0/2.5 models the docs' limits tables name. */
export const DEFAULT_TUNABLE_MODELS = [
  'gemini-2.5-pro',
  'gemini-2.5-flash',
  'gemini-2.5-flash-lite',
  'gemini-2.0-flash-001',
  'gemini-2.0-flash-lite-001',
];

export interface RpcStatus { code: number; message: string }

/** How a created job evolves. Every GET of the job is one tick (or `fake.advance(name)`). */
export interface JobScript {
  /** Tuning steps the job runs (its tuningStepCount). Default 4. */
  steps?: number;
  /** Ticks answered JOB_STATE_PENDING before the job starts running. Default 1. */
  pendingTicks?: number;
  /** Steps done per tick while running. Default 1. */
  stepsPerTick?: number;
  /**
   * 'succeed' (default): SUCCEEDED on the tick that completes the last step.
   * 'hold': stays RUNNING (steps stop at `steps`) until `fake.finish(name, ...)`.
   * { fail }: FAILED with that error when the step count reaches `atStep` (default 0: when it leaves PENDING,
   * as a dataset validation failure does; metrics of the steps before stay readable).
   */
  outcome?: 'succeed' | 'hold' | { fail: RpcStatus; atStep?: number };
  /** Eval metrics every this many steps when the job has a validation dataset. Default 1. */
  evalEvery?: number;
  /** The value of a metric at a step; default a smooth decreasing loss / increasing accuracy. */
  metric?: (displayName: string, step: number) => number;
}

export interface GenerateContentRequest {
  contents: { role?: string; parts: { text?: string }[] }[];
  systemInstruction?: { role?: string; parts: { text?: string }[] };
  generationConfig?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Answers a generateContent call: `model` is the publisher model id ("gemini-2.5-flash") or the endpoint's resource name. */
export type Responder = (model: string, request: GenerateContentRequest) => string;

/** The default responder: deterministic, says which model answered and echoes the last user turn. */
export const echoResponder: Responder = (model, request) => {
  const lastUser = [...request.contents].reverse().find((c) => c.role === 'user' || c.role === undefined);
  const text = (lastUser?.parts ?? []).map((p) => p.text ?? '').join('');
  return `[${model.includes('/endpoints/') ? 'tuned' : model}] ${text}`;
};

// ---------------------------------------------------------------------------------------------------------

const TRAIN_METRICS = ['/train_total_loss', '/train_fraction_of_correct_next_step_preds', '/train_num_predictions'];
const EVAL_METRICS = ['/eval_total_loss', '/eval_fraction_of_correct_next_step_preds', '/eval_num_predictions'];

export interface MetricPoint { step: number; wallTime: Date; value: number }

/** A tuning job the fake holds. `resource()` is exactly what GET answers. */
export class FakeTuningJob {
  state: JobState = 'JOB_STATE_PENDING';
  step = 0;
  ticks = 0;
  readonly createTime: Date;
  startTime?: Date;
  endTime?: Date;
  updateTime: Date;
  error?: RpcStatus;
  /** Points per series display name, appended as steps complete. */
  readonly metrics = new Map<string, MetricPoint[]>();
  experimentId?: string;
  runId?: string;
  readonly endpointId: string;
  readonly modelId: string;

  constructor(
    readonly name: string,
    readonly id: string,
    /** The TuningJob body as the client sent it. */
    readonly request: Record<string, unknown>,
    readonly script: Required<Omit<JobScript, 'metric'>> & Pick<JobScript, 'metric'>,
    readonly stats: Record<string, Json>,
    readonly hasValidation: boolean,
    now: Date,
  ) {
    this.createTime = now;
    this.updateTime = now;
    this.endpointId = String(BigInt(id) + 2_000_000_000_000_000_000n);
    this.modelId = String(BigInt(id) - 1_000_000_000_000_000_000n);
  }

  get parent(): string {
    return this.name.replace(/\/tuningJobs\/[^/]+$/, '');
  }

  get terminal(): boolean {
    return ['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED', 'JOB_STATE_EXPIRED'].includes(this.state);
  }

  get experiment(): string | undefined {
    return this.experimentId && `${this.parent}/metadataStores/default/contexts/${this.experimentId}`;
  }

  get tunedModel(): { model: string; endpoint: string } | undefined {
    return this.state === 'JOB_STATE_SUCCEEDED'
      ? { model: `${this.parent}/models/${this.modelId}@1`, endpoint: `${this.parent}/endpoints/${this.endpointId}` }
      : undefined;
  }

  resource(): Record<string, unknown> {
    const r = this.request;
    return {
      name: this.name,
      ...(r.tunedModelDisplayName !== undefined ? { tunedModelDisplayName: r.tunedModelDisplayName } : {}),
      ...(r.description !== undefined ? { description: r.description } : {}),
      baseModel: r.baseModel,
      supervisedTuningSpec: normalizedSpec(r.supervisedTuningSpec),
      state: this.state,
      createTime: timestamp(this.createTime),
      ...(this.startTime ? { startTime: timestamp(this.startTime) } : {}),
      ...(this.endTime ? { endTime: timestamp(this.endTime) } : {}),
      updateTime: timestamp(this.updateTime),
      ...(this.error ? { error: this.error } : {}),
      ...(isObject(r.labels) ? { labels: r.labels } : {}),
      ...(this.experiment ? { experiment: this.experiment } : {}),
      ...(this.tunedModel ? { tunedModel: this.tunedModel } : {}),
      ...(this.startTime ? { tuningDataStats: { supervisedTuningDataStats: this.stats } } : {}),
      ...(r.serviceAccount !== undefined ? { serviceAccount: r.serviceAccount } : {}),
      ...(r.encryptionSpec !== undefined ? { encryptionSpec: r.encryptionSpec } : {}),
    };
  }
}

/** The spec as the service echoes it: int64 epochCount printed as a string (proto3 JSON mapping). */
function normalizedSpec(spec: unknown): unknown {
  if (!isObject(spec) || !isObject(spec.hyperParameters)) return spec;
  const hp = { ...spec.hyperParameters };
  if (hp.epochCount !== undefined) hp.epochCount = String(hp.epochCount);
  if (typeof hp.adapterSize === 'number') hp.adapterSize = Object.keys(ADAPTER_SIZES).find((k) => ADAPTER_SIZES[k] === hp.adapterSize);
  if (typeof hp.learningRateMultiplier === 'string') hp.learningRateMultiplier = Number(hp.learningRateMultiplier);
  return { ...spec, hyperParameters: hp };
}

export interface VertexContext {
  now(): Date;
  projectNumber: string;
  /** Project ids the fake answers for (any when null); the number is always accepted. */
  projects: Set<string> | null;
  tunableModels: string[];
  /** Reads an uploaded object ('gs://bucket/name'), or undefined. */
  readObject(uri: string): Buffer | undefined;
  responder(): Responder;
}

const DEFAULT_SCRIPT: Required<Omit<JobScript, 'metric'>> = { steps: 4, pendingTicks: 1, stepsPerTick: 1, outcome: 'succeed', evalEvery: 1 };

export class FakeVertex {
  /** Jobs by resource name (with the project number, as the service names them). */
  readonly jobs = new Map<string, FakeTuningJob>();
  private nextScripts: JobScript[] = [];
  private defaultScript: JobScript = {};
  private nextId = 4_000_000_000_000_000_000n;
  private experiments = 0;
  readonly tensorboardId = '8123456789012345678';

  constructor(private readonly ctx: VertexContext) {}

  /** The script for jobs created from now on (`once`: only for the next created job). */
  script(script: JobScript, once = false): void {
    if (once) this.nextScripts.push(script);
    else this.defaultScript = script;
  }

  // ---- routing -----------------------------------------------------------------------------------------

  /** Answers a /v1/... request, or null when no route matches. `rest` is the path after "/v1/", still encoded. */
  route(method: string, rest: string, query: URLSearchParams, body: unknown, bodyIsJson: boolean): Reply | null {
    const m = /^projects\/([^/]+)\/locations\/([^/]+)\/(.*)$/.exec(rest);
    if (!m) return null;
    const [, project, location, tail] = m;
    if (this.ctx.projects && !this.ctx.projects.has(project) && project !== this.ctx.projectNumber) {
      return googleError(403, `Permission denied on resource project ${project}.`, 'PERMISSION_DENIED');
    }
    const parent = `projects/${this.ctx.projectNumber}/locations/${location}`;
    let r: RegExpExecArray | null;
    if (tail === 'tuningJobs') {
      if (method === 'POST') return bodyIsJson ? this.create(parent, body) : invalidJson();
      if (method === 'GET') return this.list(parent, query);
    }
    if ((r = /^tuningJobs\/([^/:]+)$/.exec(tail)) && method === 'GET') return this.get(`${parent}/tuningJobs/${r[1]}`);
    if ((r = /^tuningJobs\/([^/:]+):cancel$/.exec(tail)) && method === 'POST') return this.cancel(`${parent}/tuningJobs/${r[1]}`);
    if ((r = /^metadataStores\/([^/]+)\/contexts\/([^/:]+)$/.exec(tail)) && method === 'GET') {
      return this.getContext(`${parent}/metadataStores/${r[1]}/contexts/${r[2]}`);
    }
    if ((r = /^metadataStores\/([^/]+)\/contexts$/.exec(tail)) && method === 'GET') {
      return this.listContexts(`${parent}/metadataStores/${r[1]}`, query);
    }
    if ((r = /^tensorboards\/([^/]+)\/experiments\/([^/]+)\/runs\/([^/]+)\/timeSeries$/.exec(tail)) && method === 'GET') {
      return this.listTimeSeries(parent, r[1], r[2], r[3]);
    }
    if ((r = /^tensorboards\/([^/]+)\/experiments\/([^/]+)\/runs\/([^/]+)\/timeSeries\/([^/:]+):read$/.exec(tail)) && method === 'GET') {
      return this.readTimeSeries(parent, r[1], r[2], r[3], r[4], query);
    }
    if ((r = /^tensorboards\/([^/:]+):batchRead$/.exec(tail)) && method === 'GET') return this.batchRead(parent, r[1], query);
    if ((r = /^publishers\/google\/models\/([^/:]+):generateContent$/.exec(tail)) && method === 'POST') {
      return bodyIsJson ? this.generate(parent, decodeURIComponent(r[1]), null, body) : invalidJson();
    }
    if ((r = /^endpoints\/([^/:]+):generateContent$/.exec(tail)) && method === 'POST') {
      return bodyIsJson ? this.generate(parent, null, r[1], body) : invalidJson();
    }
    return null;
  }

  // ---- tuningJobs --------------------------------------------------------------------------------------

  private create(parent: string, raw: unknown): Reply {
    const body = camelTuningJob(raw);
    const invalid = this.validateTuningJob(body);
    if (invalid) return invalid;
    const req = body as Record<string, unknown>;
    const spec = req.supervisedTuningSpec as Record<string, unknown>;
    const script = this.nextScripts.shift() ?? this.defaultScript;
    const full = { ...DEFAULT_SCRIPT, ...script };
    const id = String(this.nextId++);
    const name = `${parent}/tuningJobs/${id}`;
    const hp = isObject(spec.hyperParameters) ? spec.hyperParameters : {};
    const epochs = hp.epochCount !== undefined ? Number(hp.epochCount) : 1;
    const training = this.ctx.readObject(String(spec.trainingDatasetUri)) ?? Buffer.alloc(0);
    const job = new FakeTuningJob(
      name,
      id,
      req,
      full,
      dataStats(training, epochs, full.steps),
      typeof spec.validationDatasetUri === 'string',
      this.ctx.now(),
    );
    this.jobs.set(name, job);
    return json(200, job.resource());
  }

  /**
   * Validation as the service does it: first the JSON-to-proto parsing of the front end (unknown fields,
   * wrong types, enum names: 400 "Invalid JSON payload received..." / "Invalid value at ..." with a
   * google.rpc.BadRequest detail — wording [U], seen in real answers), then the tuning service's own checks
   * (wording [U]).
   */
  private validateTuningJob(body: unknown): Reply | null {
    if (!isObject(body)) return invalidJson();
    const unknown =
      unknownField(body, 'tuning_job', TUNING_JOB_FIELDS) ??
      (isObject(body.supervisedTuningSpec) ? unknownField(body.supervisedTuningSpec, 'tuning_job.supervised_tuning_spec', SPEC_FIELDS) : null) ??
      (isObject(body.supervisedTuningSpec) && isObject(body.supervisedTuningSpec.hyperParameters)
        ? unknownField(body.supervisedTuningSpec.hyperParameters, 'tuning_job.supervised_tuning_spec.hyper_parameters', HYPER_FIELDS)
        : null);
    if (unknown) return unknown;
    const spec = body.supervisedTuningSpec;
    const hp = isObject(spec) && isObject(spec.hyperParameters) ? spec.hyperParameters : {};
    const at = 'tuning_job.supervised_tuning_spec.hyper_parameters';
    if (hp.epochCount !== undefined && !isInt64(hp.epochCount)) return invalidValue(`${at}.epoch_count`, 'TYPE_INT64', hp.epochCount);
    if (hp.learningRateMultiplier !== undefined && !isDouble(hp.learningRateMultiplier)) {
      return invalidValue(`${at}.learning_rate_multiplier`, 'TYPE_DOUBLE', hp.learningRateMultiplier);
    }
    if (
      hp.adapterSize !== undefined &&
      !(typeof hp.adapterSize === 'string' && hp.adapterSize in ADAPTER_SIZES) &&
      !(typeof hp.adapterSize === 'number' && Object.values(ADAPTER_SIZES).includes(hp.adapterSize))
    ) {
      return invalidValue(`${at}.adapter_size`, 'type.googleapis.com/google.cloud.aiplatform.v1.SupervisedHyperParameters.AdapterSize', hp.adapterSize);
    }
    if (body.labels !== undefined && (!isObject(body.labels) || Object.values(body.labels).some((v) => typeof v !== 'string'))) {
      return invalidValue('tuning_job.labels', 'TYPE_STRING', body.labels);
    }
    for (const key of ['tunedModelDisplayName', 'description', 'baseModel', 'serviceAccount'] as const) {
      if (body[key] !== undefined && typeof body[key] !== 'string') return invalidValue(`tuning_job.${snake(key)}`, 'TYPE_STRING', body[key]);
    }

    // The tuning service's checks.
    const bad = (message: string): Reply => googleError(400, message, 'INVALID_ARGUMENT');
    if (body.preTunedModel !== undefined) return bad('Continuous tuning (preTunedModel) is not supported by this fake.');
    if (typeof body.baseModel !== 'string' || body.baseModel === '') return bad('Base model is required.');
    if (!this.ctx.tunableModels.includes(body.baseModel)) {
      return bad(`Base model ${body.baseModel} is not supported for supervised tuning. Supported models: ${this.ctx.tunableModels.join(', ')}.`);
    }
    if (!isObject(spec)) return bad('supervised_tuning_spec is required.');
    for (const key of ['trainingDatasetUri', 'validationDatasetUri'] as const) {
      const uri = spec[key];
      if (uri === undefined && key === 'validationDatasetUri') continue;
      if (typeof uri !== 'string' || uri === '') return bad(`${snake(key)} is required.`);
      if (!/^gs:\/\/[^/]+\/.+/.test(uri)) return bad(`${snake(key)} must be a Cloud Storage URI (gs://bucket/object): ${uri}`);
      if (!this.ctx.readObject(uri)) return bad(`Dataset ${uri} does not exist or is not readable.`);
    }
    if (hp.epochCount !== undefined && Number(hp.epochCount) < 1) return bad(`epoch_count must be positive, got ${String(hp.epochCount)}.`);
    if (hp.learningRateMultiplier !== undefined && !(Number(hp.learningRateMultiplier) > 0)) {
      return bad(`learning_rate_multiplier must be positive, got ${String(hp.learningRateMultiplier)}.`);
    }
    if (typeof body.tunedModelDisplayName === 'string' && [...body.tunedModelDisplayName].length > 128) {
      return bad('tuned_model_display_name can be at most 128 characters long.');
    }
    if (isObject(body.labels)) {
      const problem = labelProblem(body.labels as Record<string, string>);
      if (problem) return bad(problem);
    }
    return null;
  }

  private get(name: string): Reply {
    const job = this.jobs.get(name);
    if (!job) return notFound('TuningJob', name);
    this.tick(job);
    return json(200, job.resource());
  }

  private list(parent: string, query: URLSearchParams): Reply {
    const filter = query.get('filter') ?? '';
    let test: (job: FakeTuningJob) => boolean;
    try {
      test = compileFilter(filter);
    } catch (e) {
      return googleError(400, `Invalid filter "${filter}": ${(e as Error).message}`, 'INVALID_ARGUMENT');
    }
    const pageSizeText = query.get('pageSize');
    if (pageSizeText !== null && !/^\d+$/.test(pageSizeText)) return invalidValue('page_size', 'TYPE_INT32', pageSizeText);
    const pageSize = pageSizeText === null || Number(pageSizeText) === 0 ? 100 : Math.min(Number(pageSizeText), 1000);
    let offset = 0;
    const token = query.get('pageToken');
    if (token) {
      const decoded = /^offset:(\d+)$/.exec(Buffer.from(token, 'base64url').toString());
      if (!decoded) return googleError(400, 'Invalid page token.', 'INVALID_ARGUMENT');
      offset = Number(decoded[1]);
    }
    // Newest first [U: the order is not documented].
    const all = [...this.jobs.values()].filter((j) => j.parent === parent && test(j)).reverse();
    const page = all.slice(offset, offset + pageSize);
    const next = offset + pageSize < all.length ? Buffer.from(`offset:${offset + pageSize}`).toString('base64url') : undefined;
    return json(200, {
      ...(page.length ? { tuningJobs: page.map((j) => j.resource()) } : {}),
      ...(next ? { nextPageToken: next } : {}),
    });
  }

  private cancel(name: string): Reply {
    const job = this.jobs.get(name);
    if (!job) return notFound('TuningJob', name);
    if (job.terminal) {
      // [U] wording; the proto only says cancellation is best effort.
      return googleError(400, `Cannot cancel TuningJob ${name} in state ${job.state}.`, 'FAILED_PRECONDITION');
    }
    if (job.state !== 'JOB_STATE_CANCELLING') {
      job.state = 'JOB_STATE_CANCELLING';
      job.updateTime = this.ctx.now();
    }
    return json(200, {});
  }

  /** One tick of a job's life (a GET of the job, or `advance`). */
  tick(job: FakeTuningJob): void {
    if (job.terminal) return;
    job.ticks++;
    const now = this.ctx.now();
    if (job.state === 'JOB_STATE_CANCELLING') {
      job.state = 'JOB_STATE_CANCELLED';
      job.error = { code: 1, message: 'CANCELLED' };
      job.endTime = now;
      job.updateTime = now;
      return;
    }
    const { outcome } = job.script;
    const failAt = typeof outcome === 'object' ? (outcome.atStep ?? 0) : null;
    if (job.state === 'JOB_STATE_PENDING') {
      if (job.ticks <= job.script.pendingTicks) return;
      job.state = 'JOB_STATE_RUNNING';
      job.startTime = now;
      job.updateTime = now;
      this.start(job, now);
      if (failAt === 0 && typeof outcome === 'object') return this.end(job, 'JOB_STATE_FAILED', outcome.fail);
      if (job.stats.tuningDatasetExampleCount === '0') {
        // Data validation happens once the job runs: a file with no usable example fails the job ([U] wording).
        const uri = String((job.request.supervisedTuningSpec as Record<string, unknown>).trainingDatasetUri);
        return this.end(job, 'JOB_STATE_FAILED', { code: 3, message: `The training dataset ${uri} has no valid examples.` });
      }
      return;
    }
    if (job.state !== 'JOB_STATE_RUNNING') return;
    const target = Math.min(job.script.steps, job.step + job.script.stepsPerTick, failAt ?? Infinity);
    while (job.step < target) {
      job.step++;
      this.record(job, now);
    }
    job.updateTime = now;
    if (typeof outcome === 'object' && job.step >= (failAt ?? 0)) return this.end(job, 'JOB_STATE_FAILED', outcome.fail);
    if (outcome === 'succeed' && job.step >= job.script.steps) this.end(job, 'JOB_STATE_SUCCEEDED');
  }

  /** Ends a running job now ('hold' jobs wait for this). */
  finish(job: FakeTuningJob, outcome: 'succeed' | { fail: RpcStatus }): void {
    if (job.terminal) throw new Error(`${job.name} already ended (${job.state})`);
    const now = this.ctx.now();
    if (!job.startTime) this.start(job, now);
    if (outcome === 'succeed') {
      while (job.step < job.script.steps) {
        job.step++;
        this.record(job, now);
      }
      this.end(job, 'JOB_STATE_SUCCEEDED');
    } else {
      this.end(job, 'JOB_STATE_FAILED', outcome.fail);
    }
  }

  /**
   * The job starts running: its experiment and run exist from now on. The experiment id has the form of the
   * docs' example "tuning-experiment-2025010112345678" (a timestamp; the digits after the date [U]).
   */
  private start(job: FakeTuningJob, now: Date): void {
    job.startTime = now;
    const stamp = now.toISOString().replace(/\D/g, '').slice(0, 14);
    job.experimentId = `tuning-experiment-${stamp}${String(++this.experiments).padStart(2, '0')}`;
    job.runId = `${job.experimentId.slice('tuning-experiment-'.length)}-run`;
    for (const name of [...TRAIN_METRICS, ...(job.hasValidation ? EVAL_METRICS : [])]) job.metrics.set(name, []);
  }

  private end(job: FakeTuningJob, state: JobState, error?: RpcStatus): void {
    const now = this.ctx.now();
    job.state = state;
    if (error) job.error = error;
    job.endTime = now;
    job.updateTime = now;
  }

  private record(job: FakeTuningJob, now: Date): void {
    const metric = job.script.metric ?? defaultMetric(job);
    for (const name of TRAIN_METRICS) job.metrics.get(name)?.push({ step: job.step, wallTime: now, value: metric(name, job.step) });
    if (job.hasValidation && (job.step % job.script.evalEvery === 0 || job.step === job.script.steps)) {
      for (const name of EVAL_METRICS) job.metrics.get(name)?.push({ step: job.step, wallTime: now, value: metric(name, job.step) });
    }
  }

  // ---- metadata contexts (the job's experiment) ---------------------------------------------------------

  private jobByExperiment(experimentId: string): FakeTuningJob | undefined {
    return [...this.jobs.values()].find((j) => j.experimentId === experimentId);
  }

  private contexts(store: string): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const job of this.jobs.values()) {
      if (!job.experimentId || !job.startTime || `${job.parent}/metadataStores/default` !== store) continue;
      const experiment = `${store}/contexts/${job.experimentId}`;
      const time = timestamp(job.startTime);
      out.push({
        name: experiment,
        displayName: job.experimentId,
        etag: job.id,
        createTime: time,
        updateTime: time,
        schemaTitle: 'system.Experiment',
        schemaVersion: '0.0.1',
        metadata: { backing_tensorboard_resource: `${job.parent}/tensorboards/${this.tensorboardId}`, experiment_deleted: false },
      });
      out.push({
        name: `${store}/contexts/${job.experimentId}-${job.runId}`,
        displayName: job.runId,
        etag: job.id,
        createTime: time,
        updateTime: timestamp(job.updateTime),
        parentContexts: [experiment],
        schemaTitle: 'system.ExperimentRun',
        schemaVersion: '0.0.1',
        metadata: { state: job.terminal ? 'COMPLETE' : 'RUNNING' },
      });
    }
    return out;
  }

  private getContext(name: string): Reply {
    const store = name.replace(/\/contexts\/[^/]+$/, '');
    const found = this.contexts(store).find((c) => c.name === name);
    return found ? json(200, found) : notFound('Context', name);
  }

  /** Filter terms: schema_title="...", parent_contexts:"...", display_name="...", name="..." joined by AND. */
  private listContexts(store: string, query: URLSearchParams): Reply {
    const filter = (query.get('filter') ?? '').trim();
    const terms = filter ? filter.split(/\s+AND\s+/) : [];
    const tests: ((c: Record<string, unknown>) => boolean)[] = [];
    for (const term of terms) {
      const m = /^(schema_title|display_name|name)\s*=\s*"([^"]*)"$|^parent_contexts\s*:\s*"([^"]*)"$/.exec(term.trim());
      if (!m) return googleError(400, `Unsupported filter term: ${term}`, 'INVALID_ARGUMENT');
      if (m[3] !== undefined) {
        const parentName = m[3];
        tests.push((c) => Array.isArray(c.parentContexts) && c.parentContexts.includes(parentName));
      } else {
        const field = m[1] === 'schema_title' ? 'schemaTitle' : m[1] === 'display_name' ? 'displayName' : 'name';
        const value = m[2];
        tests.push((c) => c[field] === value);
      }
    }
    const contexts = this.contexts(store).filter((c) => tests.every((t) => t(c)));
    return json(200, contexts.length ? { contexts } : {});
  }

  // ---- TensorBoard --------------------------------------------------------------------------------------

  private run(parent: string, tensorboard: string, experiment: string, run: string): FakeTuningJob | undefined {
    if (tensorboard !== this.tensorboardId) return undefined;
    const job = this.jobByExperiment(experiment);
    return job && job.parent === parent && job.runId === run ? job : undefined;
  }

  private seriesId(displayName: string): string {
    return String([...TRAIN_METRICS, ...EVAL_METRICS].indexOf(displayName) + 1001);
  }

  private series(job: FakeTuningJob, parent: string, displayName: string): Record<string, unknown> {
    const points = job.metrics.get(displayName) ?? [];
    const last = points[points.length - 1];
    const created = timestamp(job.startTime ?? job.createTime);
    return {
      name: `${parent}/tensorboards/${this.tensorboardId}/experiments/${job.experimentId}/runs/${job.runId}/timeSeries/${this.seriesId(displayName)}`,
      displayName,
      valueType: 'SCALAR',
      createTime: created,
      updateTime: last ? timestamp(last.wallTime) : created,
      etag: String(points.length),
      pluginName: 'scalars',
      ...(last ? { metadata: { maxStep: String(last.step), maxWallTime: timestamp(last.wallTime) } } : {}),
    };
  }

  private listTimeSeries(parent: string, tensorboard: string, experiment: string, run: string): Reply {
    const job = this.run(parent, tensorboard, experiment, run);
    if (!job) return notFound('TensorboardRun', `${parent}/tensorboards/${tensorboard}/experiments/${experiment}/runs/${run}`);
    const list = [...job.metrics.keys()].map((d) => this.series(job, parent, d));
    return json(200, list.length ? { tensorboardTimeSeries: list } : {});
  }

  private seriesData(job: FakeTuningJob, displayName: string, maxDataPoints: number): Record<string, unknown> {
    const points = job.metrics.get(displayName) ?? [];
    // More points than asked for: the service samples at random; the fake keeps evenly spaced ones, the last included.
    const kept =
      maxDataPoints > 0 && points.length > maxDataPoints
        ? Array.from({ length: maxDataPoints }, (_, i) => points[Math.round(((i + 1) * points.length) / maxDataPoints) - 1])
        : points;
    return {
      tensorboardTimeSeriesId: this.seriesId(displayName),
      valueType: 'SCALAR',
      ...(kept.length
        ? { values: kept.map((p) => ({ wallTime: timestamp(p.wallTime), step: String(p.step), scalar: { value: p.value } })) }
        : {}),
    };
  }

  private readTimeSeries(parent: string, tensorboard: string, experiment: string, run: string, seriesId: string, query: URLSearchParams): Reply {
    const job = this.run(parent, tensorboard, experiment, run);
    const displayName = job && [...job.metrics.keys()].find((d) => this.seriesId(d) === seriesId);
    if (!job || !displayName) {
      return notFound('TensorboardTimeSeries', `${parent}/tensorboards/${tensorboard}/experiments/${experiment}/runs/${run}/timeSeries/${seriesId}`);
    }
    const max = query.get('maxDataPoints');
    if (max !== null && !/^-?\d+$/.test(max)) return invalidValue('max_data_points', 'TYPE_INT32', max);
    return json(200, { timeSeriesData: this.seriesData(job, displayName, max === null ? 1000 : Number(max)) });
  }

  private batchRead(parent: string, tensorboard: string, query: URLSearchParams): Reply {
    const names = query.getAll('timeSeries');
    if (names.length === 0) return googleError(400, 'time_series is required.', 'INVALID_ARGUMENT');
    const data: Record<string, unknown>[] = [];
    for (const name of names) {
      const m = /^projects\/[^/]+\/locations\/[^/]+\/tensorboards\/([^/]+)\/experiments\/([^/]+)\/runs\/([^/]+)\/timeSeries\/([^/]+)$/.exec(name);
      const job = m && m[1] === tensorboard ? this.run(parent, m[1], m[2], m[3]) : undefined;
      const displayName = job && m && [...job.metrics.keys()].find((d) => this.seriesId(d) === m[4]);
      if (!job || !displayName) return notFound('TensorboardTimeSeries', name);
      data.push(this.seriesData(job, displayName, 1000));
    }
    return json(200, { timeSeriesData: data });
  }

  // ---- generateContent ----------------------------------------------------------------------------------

  private generate(parent: string, publisherModel: string | null, endpointId: string | null, raw: unknown): Reply {
    let model: string;
    let modelVersion: string;
    if (publisherModel !== null) {
      if (!/^gemini-/.test(publisherModel)) {
        return googleError(404, `Publisher Model \`${parent}/publishers/google/models/${publisherModel}\` not found.`, 'NOT_FOUND');
      }
      model = publisherModel;
      modelVersion = publisherModel;
    } else {
      const job = [...this.jobs.values()].find((j) => j.parent === parent && j.tunedModel && j.endpointId === endpointId);
      if (!job) return notFound('Endpoint', `${parent}/endpoints/${endpointId ?? ''}`);
      model = `${parent}/endpoints/${endpointId ?? ''}`;
      modelVersion = String(job.request.baseModel);
    }
    if (!isObject(raw)) return invalidJson();
    const body = camelKeys(raw, GENERATE_FIELDS);
    const unknown = unknownField(body, '', GENERATE_FIELDS);
    if (unknown) return unknown;
    // The docs' own REST example sends "role": "USER" and "parts" as a single object: the service takes a
    // role in any case and (proto3 JSON as Google's front end parses it) one value for a repeated field.
    const asList = (v: unknown): unknown[] | undefined => (Array.isArray(v) ? v : isObject(v) ? [v] : undefined);
    const contents = asList(body.contents);
    if (!contents || contents.length === 0) {
      return googleError(400, 'Unable to submit request because it has an empty contents field.', 'INVALID_ARGUMENT');
    }
    const normalized: GenerateContentRequest['contents'] = [];
    for (const [i, c] of contents.entries()) {
      const parts = isObject(c) ? asList(c.parts) : undefined;
      if (!isObject(c) || !parts || parts.length === 0) {
        return googleError(400, `Unable to submit request because contents[${i}] must have at least one part.`, 'INVALID_ARGUMENT');
      }
      const role = typeof c.role === 'string' ? c.role.toLowerCase() : c.role;
      if (role !== undefined && role !== 'user' && role !== 'model') {
        return googleError(400, `Please use a valid role: user, model. Got "${String(c.role)}" in contents[${i}].`, 'INVALID_ARGUMENT');
      }
      normalized.push({ ...(role !== undefined ? { role: role as string } : {}), parts: parts as { text?: string }[] });
    }
    body.contents = normalized;
    if (isObject(body.systemInstruction)) {
      body.systemInstruction = { ...body.systemInstruction, parts: asList(body.systemInstruction.parts) ?? [] };
    }
    const request = body as GenerateContentRequest;
    const text = this.ctx.responder()(model, request);
    const promptTokens = estimateTokens(
      JSON.stringify(request.contents.flatMap((c) => c.parts.map((p) => p.text ?? ''))) + JSON.stringify(request.systemInstruction?.parts ?? []),
    );
    const answerTokens = estimateTokens(text);
    const now = this.ctx.now();
    return json(200, {
      candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason: 'STOP', avgLogprobs: -0.1 }],
      usageMetadata: {
        promptTokenCount: promptTokens,
        candidatesTokenCount: answerTokens,
        totalTokenCount: promptTokens + answerTokens,
        trafficType: 'ON_DEMAND',
        promptTokensDetails: [{ modality: 'TEXT', tokenCount: promptTokens }],
        candidatesTokensDetails: [{ modality: 'TEXT', tokenCount: answerTokens }],
      },
      modelVersion,
      createTime: timestamp(now),
      responseId: Buffer.from(`${model}:${now.getTime()}`).toString('base64url').slice(0, 24),
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

const TUNING_JOB_FIELDS = new Set([
  'baseModel', 'preTunedModel', 'supervisedTuningSpec', 'name', 'tunedModelDisplayName', 'description', 'state',
  'createTime', 'startTime', 'endTime', 'updateTime', 'error', 'labels', 'experiment', 'tunedModel', 'tuningDataStats',
  'encryptionSpec', 'serviceAccount', 'evaluateDatasetRuns',
]);
const SPEC_FIELDS = new Set(['trainingDatasetUri', 'validationDatasetUri', 'hyperParameters', 'exportLastCheckpointOnly', 'evaluationConfig']);
const HYPER_FIELDS = new Set(['epochCount', 'learningRateMultiplier', 'adapterSize']);
const GENERATE_FIELDS = new Set([
  'model', 'contents', 'systemInstruction', 'cachedContent', 'tools', 'toolConfig', 'labels', 'safetySettings',
  'modelArmorConfig', 'generationConfig',
]);

const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * Proto3 JSON parsers accept the original snake_case field name as well as the lowerCamelCase one
 * (https://protobuf.dev/programming-guides/json/ "Parsers accept both"); the docs' own curl example sends
 * "training_dataset_uri". Renames the message fields of one level; map keys (labels) are left alone.
 */
function camelKeys(obj: Record<string, unknown>, fields: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const camel = k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    out[fields.has(camel) ? camel : k] = v;
  }
  return out;
}

function camelTuningJob(body: unknown): unknown {
  if (!isObject(body)) return body;
  const job = camelKeys(body, TUNING_JOB_FIELDS);
  if (isObject(job.supervisedTuningSpec)) {
    const spec = camelKeys(job.supervisedTuningSpec, SPEC_FIELDS);
    if (isObject(spec.hyperParameters)) spec.hyperParameters = camelKeys(spec.hyperParameters, HYPER_FIELDS);
    job.supervisedTuningSpec = spec;
  }
  return job;
}

function invalidJson(): Reply {
  return googleError(400, 'Invalid JSON payload received. Expected an object.', 'INVALID_ARGUMENT');
}

function badRequest(message: string, field: string): Reply {
  return {
    status: 400,
    body: {
      error: {
        code: 400,
        message,
        status: 'INVALID_ARGUMENT',
        details: [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field, description: message }] }],
      },
    },
  };
}

function unknownField(obj: Record<string, unknown>, at: string, allowed: Set<string>): Reply | null {
  const extra = Object.keys(obj).find((k) => !allowed.has(k));
  if (extra === undefined) return null;
  const where = at ? ` at '${at}'` : '';
  return badRequest(`Invalid JSON payload received. Unknown name "${extra}"${where}: Cannot find field.`, at);
}

function invalidValue(field: string, type: string, value: unknown): Reply {
  return badRequest(`Invalid value at '${field}' (${type}), ${JSON.stringify(value)}`, field);
}

const isInt64 = (v: unknown): boolean =>
  (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v));
const isDouble = (v: unknown): boolean =>
  (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)));

function notFound(kind: string, name: string): Reply {
  return googleError(404, `${kind} ${name} not found.`, 'NOT_FOUND');
}

/**
 * Label rules from tuning_job.proto: keys and values at most 64 code points; lowercase letters, digits, "_" and
 * "-"; international characters allowed. From the requirements page the proto links (goo.gl/xmQnxf, Resource
 * Manager "Requirements for labels"): keys start with a lowercase letter or an international character, at
 * most 64 labels. (That page says 63 code points; the Vertex proto says 64: the fake follows the API's own.)
 */
function labelProblem(labels: Record<string, string>): string | null {
  const allowed = /^[\p{Ll}\p{Lo}\p{N}_-]*$/u;
  if (Object.keys(labels).length > 64) return `At most 64 labels are allowed, got ${Object.keys(labels).length}.`;
  for (const [key, value] of Object.entries(labels)) {
    if (key === '') return 'Label keys must not be empty.';
    if ([...key].length > 64) return `Label key "${key}" is longer than 64 characters.`;
    if (!allowed.test(key)) return `Label key "${key}" may contain only lowercase letters, digits, underscores and dashes.`;
    if (!/^[\p{Ll}\p{Lo}]/u.test(key)) return `Label key "${key}" must start with a lowercase letter or an international character.`;
    if ([...value].length > 64) return `Label value "${value}" of key "${key}" is longer than 64 characters.`;
    if (!allowed.test(value)) return `Label value "${value}" of key "${key}" may contain only lowercase letters, digits, underscores and dashes.`;
  }
  return null;
}

/** The fake's token estimate: 4 characters a token (the service's tokenizer is not public). */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4);

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function distribution(values: number[]): Record<string, Json> {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = values.reduce((a, b) => a + b, 0);
  return {
    sum: String(sum),
    billableSum: String(sum),
    min: sorted[0] ?? 0,
    max: sorted[sorted.length - 1] ?? 0,
    mean: values.length ? sum / values.length : 0,
    median: quantile(sorted, 0.5),
    p5: quantile(sorted, 0.05),
    p95: quantile(sorted, 0.95),
    buckets: sorted.length ? [{ count: sorted.length, left: sorted[0], right: sorted[sorted.length - 1] }] : [],
  };
}

/**
 * SupervisedTuningDataStats computed from the uploaded training file (Vertex Gemini JSONL:
 * {"systemInstruction"?, "contents": [{"role", "parts": [{"text"}]}]}). int64 fields are JSON strings.
 * Billable tokens = dataset tokens x epochs ([U]: the pricing page's rule, not the API's).
 */
export function dataStats(training: Buffer, epochs: number, steps: number): Record<string, Json> {
  const input: number[] = [];
  const output: number[] = [];
  const messages: number[] = [];
  const examples: Json[] = [];
  let characters = 0;
  for (const line of training.toString('utf8').split(/\r?\n/)) {
    if (!line.trim()) continue;
    let sample: unknown;
    try {
      sample = JSON.parse(line);
    } catch {
      continue;
    }
    if (!isObject(sample) || !Array.isArray(sample.contents)) continue;
    let inTokens = 0;
    let outTokens = 0;
    const system = isObject(sample.systemInstruction) && Array.isArray(sample.systemInstruction.parts) ? sample.systemInstruction.parts : [];
    for (const p of system) if (isObject(p) && typeof p.text === 'string') { characters += p.text.length; inTokens += estimateTokens(p.text); }
    for (const c of sample.contents) {
      if (!isObject(c) || !Array.isArray(c.parts)) continue;
      for (const p of c.parts) {
        if (!isObject(p) || typeof p.text !== 'string') continue;
        characters += p.text.length;
        if (c.role === 'model') outTokens += estimateTokens(p.text);
        else inTokens += estimateTokens(p.text);
      }
    }
    input.push(inTokens);
    output.push(outTokens);
    messages.push(sample.contents.length);
    if (examples.length < 3) examples.push(...(sample.contents as Json[]).slice(0, 2));
  }
  const tokens = input.reduce((a, b) => a + b, 0) + output.reduce((a, b) => a + b, 0);
  return {
    tuningDatasetExampleCount: String(input.length),
    totalTuningCharacterCount: String(characters),
    totalBillableTokenCount: String(tokens * epochs),
    tuningStepCount: String(steps),
    userInputTokenDistribution: distribution(input),
    userOutputTokenDistribution: distribution(output),
    userMessagePerExampleDistribution: distribution(messages),
    userDatasetExamples: examples,
  };
}

/** Loss falls from ~2 towards 0.3, token accuracy rises from ~0.45 towards 0.9; eval a little worse than train. */
function defaultMetric(job: FakeTuningJob): (name: string, step: number) => number {
  const decay = Math.pow(0.05, 1 / Math.max(1, job.script.steps));
  const tokensPerStep = Math.max(1, Math.round(Number(job.stats.totalBillableTokenCount) / Math.max(1, job.script.steps)));
  return (name, step) => {
    const d = Math.pow(decay, step);
    const evalPenalty = name.startsWith('/eval_') ? 1 : 0;
    if (name.endsWith('_total_loss')) return round(0.3 + 1.7 * d + 0.05 * evalPenalty);
    if (name.endsWith('_fraction_of_correct_next_step_preds')) return round(0.9 - 0.45 * d - 0.03 * evalPenalty);
    return tokensPerStep;
  };
}

const round = (x: number): number => Math.round(x * 1e6) / 1e6;

// ---------------------------------------------------------------------------------------------------------
// tuningJobs.list filter: terms joined by AND / OR (AND binds tighter), optionally negated with NOT.
// Terms: labels.KEY="V" | labels.KEY=V | labels.KEY!=V | labels.KEY:* | state="JOB_STATE_X" | state=JOB_STATE_X |
// state!=... . The syntax is the one customJobs.list documents (https://cloud.google.com/vertex-ai/docs/reference/
// rest/v1/projects.locations.customJobs/list, AIP-160); tuningJobs.list only says "the standard list filter" [U].

function compileFilter(filter: string): (job: FakeTuningJob) => boolean {
  const text = filter.trim();
  if (!text) return () => true;
  const ors = text.split(/\s+OR\s+/).map((or) =>
    or.split(/\s+AND\s+/).map((term) => compileTerm(term.trim())),
  );
  return (job) => ors.some((ands) => ands.every((t) => t(job)));
}

function compileTerm(term: string): (job: FakeTuningJob) => boolean {
  const negated = /^NOT\s+/.exec(term);
  if (negated) {
    const inner = compileTerm(term.slice(negated[0].length));
    return (job) => !inner(job);
  }
  const m = /^(labels\.[\p{Ll}\p{Lo}\p{N}_-]+|state)\s*(=|!=|:)\s*(?:"([^"]*)"|([^\s"]+))$/u.exec(term);
  if (!m) throw new Error(`cannot parse "${term}"`);
  const [, field, op, quoted, bare] = m;
  const value = quoted ?? bare;
  const get = (job: FakeTuningJob): string | undefined => {
    if (field === 'state') return job.state;
    const labels = job.request.labels;
    return isObject(labels) ? (labels[field.slice('labels.'.length)] as string | undefined) : undefined;
  };
  if (op === ':') {
    if (value !== '*') throw new Error(`only "${field}:*" is supported with ":"`);
    return (job) => get(job) !== undefined;
  }
  return op === '=' ? (job) => get(job) === value : (job) => get(job) !== value;
}
