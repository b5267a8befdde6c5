/**
 * The editor's side of the Vertex AI backend: its settings (workspace-scoped; the endpoints only
 * from trusted workspaces, since requests to them carry the user's credentials), the form's
 * defaults, "Try it", and opening jobs started elsewhere as runs.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { openVertexClient, readGcloudConfig, type VertexRunRecord, type VertexSettings, type VertexStartOptions } from '../../backends/vertex';
import { readRun } from '../../core/runStore';
import type { FormValues, TryItAnswer } from '../../shared/panelProtocol';

export interface VertexEditorSettings {
  readonly project: string;
  readonly location: string;
  readonly bucket: string;
  readonly apiEndpoint: string;
  readonly storageEndpoint: string;
  readonly tokenEndpoint: string;
  readonly pollIntervalSeconds: number;
}

export function vertexEditorSettings(scope: vscode.Uri | undefined): VertexEditorSettings {
  const c = vscode.workspace.getConfiguration('sftStudio.vertex', scope);
  const str = (k: string) => (c.get<string>(k) ?? '').trim();
  return {
    project: str('project'), location: str('location'), bucket: str('bucket'),
    apiEndpoint: str('apiEndpoint'), storageEndpoint: str('storageEndpoint'), tokenEndpoint: str('tokenEndpoint'),
    pollIntervalSeconds: c.get<number>('pollIntervalSeconds') ?? 30,
  };
}

/** The form's Vertex fields, from the settings. */
export function vertexFormDefaults(dataset: vscode.Uri): Pick<FormValues, 'project' | 'location' | 'bucket'> {
  const s = vertexEditorSettings(dataset);
  // What gcloud's active configuration says, where the settings say nothing (its files are read; gcloud is not run).
  const gcloud = s.project && s.location ? {} : readGcloudConfig();
  return { project: s.project || gcloud.project || '', location: s.location || gcloud.region || 'us-central1', bucket: s.bucket };
}

/** The backend's settings from the editor's (endpoints only from a trusted workspace: requests carry credentials). */
export function vertexSettingsFor(scope: vscode.Uri | undefined): VertexSettings {
  const s = vertexEditorSettings(scope);
  const trusted = vscode.workspace.isTrusted;
  const opt = (v: string) => (v === '' ? undefined : v);
  return {
    bucket: s.bucket,
    ...(opt(s.project) ? { project: s.project } : {}),
    ...(opt(s.location) ? { location: s.location } : {}),
    ...(trusted && opt(s.apiEndpoint) ? { apiEndpoint: s.apiEndpoint } : {}),
    ...(trusted && opt(s.storageEndpoint) ? { storageEndpoint: s.storageEndpoint } : {}),
    ...(trusted && opt(s.tokenEndpoint) ? { tokenEndpoint: s.tokenEndpoint } : {}),
    pollIntervalSeconds: s.pollIntervalSeconds,
  };
}

/** What the form asks of Vertex AI, as the backend takes it. */
export function vertexStartOptions(form: FormValues, scope: vscode.Uri): VertexStartOptions {
  return {
    ...vertexSettingsFor(scope),
    project: form.project, location: form.location, bucket: form.bucket, model: form.model.trim(),
    ...(form.epochCount !== null ? { epochs: form.epochCount } : {}),
    ...(form.learningRateMultiplier !== null ? { learningRateMultiplier: form.learningRateMultiplier } : {}),
    adapterSize: form.adapterSize,
  };
}

const answerText = (r: { text?: string | undefined }): string => r.text ?? '';

/**
 * "Try it": the same prompt to the run's base model and to its tuned model's endpoint, at once.
 * Each side answers or says why not; one failing does not hide the other.
 */
export async function tryIt(runDir: string, prompt: string, scope: vscode.Uri | undefined): Promise<{ base: TryItAnswer; tuned: TryItAnswer }> {
  const item = readRun(runDir);
  if (item === undefined || item.record.backend !== 'vertex') throw new Error('this run is not a Vertex AI run');
  const record = JSON.parse(readFileSync(path.join(runDir, 'run.json'), 'utf8')) as VertexRunRecord;
  const endpoint = item.summary.job?.tuned_model?.endpoint;
  const settings: VertexSettings = {
    ...vertexSettingsFor(scope), project: record.vertex.project, location: record.vertex.location, bucket: record.vertex.bucket,
    ...(vscode.workspace.isTrusted ? { apiEndpoint: record.vertex.api_endpoint } : {}),
  };
  const ask = async (model: string): Promise<TryItAnswer> => {
    try {
      const client = await openVertexClient(settings);
      return { model, text: answerText(await client.generateContent(model, prompt)), error: null };
    } catch (err) {
      return { model, text: null, error: (err as Error).message };
    }
  };
  const tuned: Promise<TryItAnswer> = endpoint === undefined ? Promise.resolve({ model: 'tuned model', text: null, error: 'the job has no tuned model (yet)' }) : ask(endpoint);
  const [b, t] = await Promise.all([ask(record.model), tuned]);
  return { base: b, tuned: t };
}
