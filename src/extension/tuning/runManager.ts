/**
 * The runs of this window: starting them through a backend, a cancellable progress notification
 * for each, re-attaching after a reload, and telling the panel and the Runs view what changed.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { RunHandle, StartRequest, TuningBackend } from '../../backends/types';
import { readRun } from '../../core/runStore';

export interface ActiveRun {
  readonly handle: RunHandle;
  readonly label: string;
}

export class RunManager implements vscode.Disposable {
  private readonly active = new Map<string, ActiveRun>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;

  constructor(private readonly backends: Readonly<Record<TuningBackend['id'], TuningBackend>>) {}

  /** `.sft-studio/runs` of the workspace folder that holds the dataset (or the first folder). */
  runsDir(datasetUri?: vscode.Uri): string | undefined {
    const folder = (datasetUri && vscode.workspace.getWorkspaceFolder(datasetUri)) ?? vscode.workspace.workspaceFolders?.[0];
    return folder === undefined ? undefined : path.join(folder.uri.fsPath, '.sft-studio', 'runs');
  }

  start(backend: TuningBackend['id'], request: StartRequest, label: string): ActiveRun {
    const handle = this.backends[backend].start(request);
    return this.track(handle, label);
  }

  /** A run a backend opened some other way (a Vertex AI job started elsewhere). */
  open(handle: RunHandle, label: string): ActiveRun {
    return this.active.get(handle.id) ?? this.track(handle, label);
  }

  get(id: string): ActiveRun | undefined {
    return this.active.get(id);
  }

  /** A run of this window, or one still going that an earlier window started. */
  attach(dir: string): ActiveRun | undefined {
    const id = path.basename(dir);
    const mine = this.active.get(id);
    if (mine !== undefined) return mine;
    // A run folder is workspace content (a pid to signal, endpoints to send credentials to): an
    // untrusted workspace's runs are shown as kept, never acted on.
    if (!vscode.workspace.isTrusted) return undefined;
    const item = readRun(dir);
    const backend = item?.record.backend === 'vertex' ? this.backends.vertex : this.backends.local;
    const handle = backend.reattach(dir);
    if (handle === undefined) return undefined;
    return this.track(handle, item ? `${item.record.model} on ${path.basename(item.record.dataset.train.path)}` : id);
  }

  private track(handle: RunHandle, label: string): ActiveRun {
    const run = { handle, label };
    this.active.set(handle.id, run);
    this.changed.fire();
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Tuning ${label}`, cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => handle.cancel());
        let done = 0;
        for await (const e of handle.events()) {
          if (e.event === 'progress' && e.total_steps > 0) {
            const pct = (100 * e.step) / e.total_steps;
            const eta = typeof e.eta_seconds === 'number' ? `, about ${Math.ceil(e.eta_seconds)} s left` : '';
            progress.report({ increment: pct - done, message: `step ${e.step} of ${e.total_steps}${eta}` });
            done = pct;
          } else if (e.event === 'started') {
            progress.report({ message: `started on ${e.device}` });
          }
        }
      },
    );
    void handle.done.then((summary) => {
      this.active.delete(handle.id);
      this.changed.fire();
      if (summary.status === 'failed' && summary.error !== null) {
        void vscode.window.showErrorMessage(`Tuning run failed: ${summary.error.message}${summary.error.hint ? ` — ${summary.error.hint}` : ''}`);
      }
    });
    return run;
  }

  refresh(): void {
    this.changed.fire();
  }

  dispose(): void {
    this.changed.dispose();
  }
}
