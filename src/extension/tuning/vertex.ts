/**
 * The editor's side of the Vertex AI backend: its settings (workspace-scoped; the endpoints only
 * from trusted workspaces, since requests to them carry the user's credentials), the form's
 * defaults, "Try it", and opening jobs started elsewhere as runs.
 */
import { jobStateWord } from '../../core/jobState';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { openVertexClient, readGcloudConfig, RUN_LABEL, type TuningJob, type VertexClient, type VertexRunRecord, type VertexSettings, type VertexStartOptions } from '../../backends/vertex';
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
  // One client (one credentials lookup) for both questions; a failure to make it is each side's answer.
  const client = openVertexClient(settings);
  const ask = async (model: string): Promise<TryItAnswer> => {
    try {
      return { model, text: answerText(await (await client).generateContent(model, prompt)), error: null };
    } catch (err) {
      return { model, text: null, error: (err as Error).message };
    }
  };
  const tuned: Promise<TryItAnswer> = endpoint === undefined ? Promise.resolve({ model: 'tuned model', text: null, error: 'the job has no tuned model (yet)' }) : ask(endpoint);
  const [b, t] = await Promise.all([ask(record.model), tuned]);
  return { base: b, tuned: t };
}

/**
 * "Open Vertex AI Tuning Job…": the project's tuning jobs (newest first); the one picked becomes a
 * run of the workspace (or the run that already follows it), which `open` starts watching.
 */
export async function openVertexJob(scope: vscode.Uri | undefined, open: (jobName: string, settings: VertexSettings) => Promise<void>): Promise<void> {
  const settings = vertexSettingsFor(scope);
  let client: VertexClient;
  let jobs: TuningJob[];
  try {
    ({ client, jobs } = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Listing Vertex AI tuning jobs…' }, async () => {
      const c = await openVertexClient(settings);
      return { client: c, jobs: await c.listTuningJobs({ limit: 200 }) };
    }));
  } catch (err) {
    void vscode.window.showErrorMessage(`Vertex AI: ${(err as Error).message}`);
    return;
  }
  if (jobs.length === 0) {
    void vscode.window.showInformationMessage(`No tuning jobs in ${client.parent}.`);
    return;
  }
  type Item = vscode.QuickPickItem & { name: string };
  const items: Item[] = jobs.filter((j) => j.name !== undefined).map((j) => ({
    name: j.name!,
    label: j.tunedModelDisplayName || j.name!.replace(/^.*\//, ''),
    description: [j.state ? jobStateWord(j.state) : undefined, j.baseModel, j.labels?.[RUN_LABEL] ? 'started by SFT Studio' : ''].filter(Boolean).join(' · '),
    detail: `${j.name!}${j.createTime ? ` · created ${j.createTime}` : ''}`,
  }));
  const pick = await vscode.window.showQuickPick(items, { title: `Tuning jobs in ${client.parent}`, matchOnDescription: true, matchOnDetail: true });
  if (pick === undefined) return;
  try {
    await open(pick.name, settings);
  } catch (err) {
    void vscode.window.showErrorMessage(`Could not open ${pick.name}: ${(err as Error).message}`);
  }
}
