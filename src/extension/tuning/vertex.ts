/**
 * The editor's side of the Vertex AI backend: its settings (workspace-scoped; the endpoints only
 * from trusted workspaces, since requests to them carry the user's credentials), the form's
 * defaults, "Try it", and opening jobs started elsewhere as runs.
 */
import * as vscode from 'vscode';
import type { FormValues } from '../../shared/panelProtocol';

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
  return { project: s.project, location: s.location || 'us-central1', bucket: s.bucket };
}
