/**
 * The Vertex AI backend's public face, shared by the extension and the CLI (no `vscode` here).
 *
 * - VertexBackend: TuningBackend (start / reattach), with StartRequest.vertex.
 * - checkVertexAccess: settings + credentials checked before a run (one clear message when not).
 * - openVertexClient: a client for the panel's other needs: generateContent (Try it, Evaluate Base
 *   Model), listing jobs started elsewhere, reading one job.
 */
export { ADC_FIX, CredentialsError, loadCredentials, TOKEN_FIX, type Credentials } from './auth';
export { runOfJob, VertexBackend, DEFAULT_POLL_SECONDS, replayHandle, type VertexBackendOptions, type VertexRunConfig, type VertexRunRecord } from './backend';
export { ADAPTER_SIZES, API_VERSION, VertexClient, type Content, type CreateJobRequest, type GenerateContentConfig, type GenerateContentResponse, type TuningJob, type VertexClientOptions } from './client';
export { prepareVertexDataset, vertexTarget, type PreparedDataset, type VertexDatasetRecord } from './dataset';
export { consoleUrl, createJobOnce, DATASET_LABEL, findJobByLabel, isTerminal, jobEvent, listJobs, RUN_LABEL, runStatusOf } from './jobs';
export { JobMetricsReader, newMetricsEvents, SERIES } from './metrics';
export { gcloudConfigDir, parseBucket, readGcloudConfig, resolveVertexSettings, VertexSetupError, type ResolvedVertexSettings, type VertexJobOptions, type VertexSettings, type VertexStartOptions } from './settings';
export { datasetObjectName, uploadDataset, type UploadOptions, type UploadResult } from './storage';
export { AmbiguousRequestError, createTransport, describeError, HttpError, type Fetch, type RetryNote, type RetryOptions, type Transport } from './transport';
export { checkVertexAccess, openVertexClient } from './access';
