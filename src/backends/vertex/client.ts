/**
 * Vertex AI through @google/genai (Google's current SDK: tuning jobs and generateContent on Vertex),
 * on API version v1, with every request sent through our transport (`httpOptions.fetch`). Not
 * @google-cloud/vertexai: Google deprecated it in June 2025 for removal in June 2026, and it never
 * had tuning jobs. Metadata contexts and TensorBoard, which the SDK does not cover, are plain REST
 * calls through the same transport.
 */
import type { AdapterSize, Content, GenerateContentConfig, GenerateContentResponse, GoogleGenAI, TuningJob } from '@google/genai' with { 'resolution-mode': 'import' };
import type { Credentials } from './auth';
import type { ResolvedVertexSettings } from './settings';
import { createTransport, type Fetch, type RetryNote, type RetryOptions, type Transport } from './transport';

export type { TuningJob } from '@google/genai' with { 'resolution-mode': 'import' };

export const API_VERSION = 'v1';

/** Adapter sizes the API names (tuning_job.proto AdapterSize), by number. */
export const ADAPTER_SIZES: Readonly<Record<number, `${AdapterSize}`>> = {
  1: 'ADAPTER_SIZE_ONE',
  2: 'ADAPTER_SIZE_TWO',
  4: 'ADAPTER_SIZE_FOUR',
  8: 'ADAPTER_SIZE_EIGHT',
  16: 'ADAPTER_SIZE_SIXTEEN',
  32: 'ADAPTER_SIZE_THIRTY_TWO',
};

export interface CreateJobRequest {
  readonly baseModel: string;
  readonly trainingDatasetUri: string;
  readonly validationDatasetUri?: string;
  readonly epochCount?: number;
  readonly learningRateMultiplier?: number;
  readonly adapterSize?: number;
  readonly tunedModelDisplayName?: string;
  readonly description?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export interface VertexClientOptions {
  readonly settings: ResolvedVertexSettings;
  readonly credentials: Credentials;
  readonly retry?: RetryOptions;
  readonly onRetry?: (note: RetryNote) => void;
  /** The fetch under the transport (default: global fetch). */
  readonly fetch?: Fetch;
}

export class VertexClient {
  readonly transport: Transport;
  readonly settings: ResolvedVertexSettings;
  private readonly ai: GoogleGenAI;

  private constructor(settings: ResolvedVertexSettings, transport: Transport, ai: GoogleGenAI) {
    this.settings = settings;
    this.transport = transport;
    this.ai = ai;
  }

  /** (The SDK is an ES module: loaded on first use, which also keeps it off the extension's start.) */
  static async create(opts: VertexClientOptions): Promise<VertexClient> {
    const { GoogleGenAI } = await import('@google/genai');
    const transport = createTransport({ credentials: opts.credentials, ...(opts.retry ? { retry: opts.retry } : {}), ...(opts.onRetry ? { onRetry: opts.onRetry } : {}), ...(opts.fetch ? { fetch: opts.fetch } : {}) });
    const ai = new GoogleGenAI({
      vertexai: true,
      project: opts.settings.project,
      location: opts.settings.location,
      apiVersion: API_VERSION,
      // The SDK asks this client for headers; the transport sets the same bearer token (and renews it on a 401).
      googleAuthOptions: { authClient: opts.credentials.client },
      httpOptions: { baseUrl: opts.settings.apiEndpoint, apiVersion: API_VERSION, fetch: transport.fetch },
    });
    return new VertexClient(opts.settings, transport, ai);
  }

  /** `projects/P/locations/L`. */
  get parent(): string {
    return `projects/${this.settings.project}/locations/${this.settings.location}`;
  }

  /**
   * POST …/tuningJobs, sent once: a failure that leaves open whether the job was made throws
   * AmbiguousRequestError (see jobs.ts, which looks the job up by its label before trying again).
   */
  async createTuningJob(req: CreateJobRequest, signal?: AbortSignal): Promise<TuningJob> {
    let adapterSize: `${AdapterSize}` | undefined;
    if (req.adapterSize !== undefined) {
      adapterSize = ADAPTER_SIZES[req.adapterSize];
      if (adapterSize === undefined) throw new Error(`adapter size ${req.adapterSize} is not one Vertex AI offers (${Object.keys(ADAPTER_SIZES).join(', ')})`);
    }
    return this.ai.tunings.tune({
      baseModel: req.baseModel,
      trainingDataset: { gcsUri: req.trainingDatasetUri },
      config: {
        httpOptions: { fetch: this.transport.fetchOnce },
        ...(signal ? { abortSignal: signal } : {}),
        ...(req.validationDatasetUri !== undefined ? { validationDataset: { gcsUri: req.validationDatasetUri } } : {}),
        ...(req.epochCount !== undefined ? { epochCount: req.epochCount } : {}),
        ...(req.learningRateMultiplier !== undefined ? { learningRateMultiplier: req.learningRateMultiplier } : {}),
        ...(adapterSize !== undefined ? { adapterSize: adapterSize as AdapterSize } : {}),
        ...(req.tunedModelDisplayName !== undefined ? { tunedModelDisplayName: req.tunedModelDisplayName } : {}),
        ...(req.description !== undefined ? { description: req.description } : {}),
        ...(req.labels !== undefined ? { labels: { ...req.labels } } : {}),
      },
    });
  }

  getTuningJob(name: string, signal?: AbortSignal): Promise<TuningJob> {
    return this.ai.tunings.get({ name, ...(signal ? { config: { abortSignal: signal } } : {}) });
  }

  /** Jobs of the project and region, newest first as the service lists them; at most `limit`. */
  async listTuningJobs(opts: { filter?: string; pageSize?: number; limit?: number; signal?: AbortSignal } = {}): Promise<TuningJob[]> {
    const pager = await this.ai.tunings.list({ config: { pageSize: opts.pageSize ?? 50, ...(opts.filter ? { filter: opts.filter } : {}), ...(opts.signal ? { abortSignal: opts.signal } : {}) } });
    const out: TuningJob[] = [];
    for await (const job of pager) {
      out.push(job);
      if (opts.limit !== undefined && out.length >= opts.limit) break;
    }
    return out;
  }

  async cancelTuningJob(name: string): Promise<void> {
    await this.ai.tunings.cancel({ name });
  }

  /**
   * One answer from a model: a publisher model by id (`gemini-2.5-flash`) or a tuned model's endpoint
   * (`projects/P/locations/L/endpoints/E`).
   */
  generateContent(model: string, contents: string | Content[], config?: GenerateContentConfig): Promise<GenerateContentResponse> {
    return this.ai.models.generateContent({ model, contents, ...(config ? { config } : {}) });
  }

  /** GET {apiEndpoint}/v1/{resource}[?query]: for the REST resources the SDK does not cover. */
  getResource<T>(resource: string, query?: Readonly<Record<string, string | number>>, signal?: AbortSignal): Promise<T> {
    const url = new URL(`${this.settings.apiEndpoint}/${API_VERSION}/${resource}`);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, String(v));
    return this.transport.json<T>(url.toString(), signal ? { signal } : {});
  }
}
