/**
 * Tuning runs in the editor: the panel, its serializer, the Runs view, the CodeLens and the
 * commands. Called once from activate(); everything it makes is handed to the extension's
 * context for disposal.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { LocalBackend } from '../../backends/local/backend';
import { runOfJob, VertexBackend, type VertexRunConfig, type VertexStartOptions } from '../../backends/vertex';
import { TINY_MODEL } from '../../core/advice';
import { datasetState, listRuns, readRun, type RunListItem } from '../../core/runStore';
import type { RunConfig } from '../../core/runs';
import { PANEL_VIEW_TYPE } from '../../shared/panelProtocol';
import { TuningPanel } from './panel';
import { RunManager } from './runManager';
import { RunsView } from './runsView';
import { openVertexJob, vertexSettingsFor } from './vertex';

interface Owner {
  push<T extends vscode.Disposable>(d: T): T;
}

const isRun = (v: unknown): v is RunListItem => typeof v === 'object' && v !== null && 'record' in v && 'dir' in v;

function datasetOf(uri: unknown): vscode.Uri | undefined {
  if (uri instanceof vscode.Uri) return uri;
  const doc = vscode.window.activeTextEditor?.document;
  return doc?.languageId === 'jsonl' ? doc.uri : undefined;
}

export function registerTuning(c: Owner, extension: vscode.ExtensionContext): void {
  const backend = new LocalBackend({ python: () => 'python3', trainerDir: extension.asAbsolutePath('trainer') });
  // A Vertex AI run re-attached after a reload takes the token endpoint of now (it is not kept in run.json).
  // Nothing is watched from an untrusted workspace: its run.json files could name any endpoint.
  const vertex = new VertexBackend({
    origin: 'extension', trusted: () => vscode.workspace.isTrusted,
    settings: () => {
      const { tokenEndpoint } = vertexSettingsFor(undefined);
      return tokenEndpoint ? { tokenEndpoint } : {};
    },
  });
  const manager = c.push(new RunManager({ local: backend, vertex }));
  const runs = c.push(new RunsView(manager));
  const tree = c.push(vscode.window.createTreeView('sftStudio.runs', { treeDataProvider: runs, canSelectMany: true, showCollapseAll: false }));
  const panelFor = (dataset: vscode.Uri) => TuningPanel.createOrShow(extension.extensionUri, manager, dataset);

  c.push(vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, {
    deserializeWebviewPanel: async (panel, state: unknown) => TuningPanel.revive(panel, extension.extensionUri, manager, state),
  }));

  c.push(vscode.commands.registerCommand('sftStudio.startTuningRun', (uri?: unknown) => {
    const dataset = datasetOf(uri);
    if (dataset === undefined) {
      void vscode.window.showInformationMessage('Open a JSONL dataset to start a tuning run on it.');
      return;
    }
    panelFor(dataset);
  }));

  /** The panel beside a run's data; a job opened from elsewhere whose data could not be copied shows beside the open dataset. */
  const panelOfRun = (run: RunListItem): TuningPanel | undefined => {
    const data = run.record.dataset.train.path;
    if (existsSync(data)) return panelFor(vscode.Uri.file(data));
    const open = datasetOf(undefined);
    if (open !== undefined) return panelFor(open);
    void vscode.window.showInformationMessage(`The data of run ${run.id} is not on this machine (${data}). Open a JSONL dataset to see the run beside it.`);
    return undefined;
  };

  c.push(vscode.commands.registerCommand('sftStudio.openRun', (item?: unknown) => {
    const run = isRun(item) ? item : tree.selection[0];
    if (run === undefined) return;
    panelOfRun(run)?.showRun(run.id);
  }));

  c.push(vscode.commands.registerCommand('sftStudio.openVertexJob', async () => {
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showErrorMessage('Trust this workspace to reach Vertex AI from it (requests carry your Google Cloud credentials).');
      return;
    }
    const runsDir = manager.runsDir(datasetOf(undefined));
    if (runsDir === undefined) {
      void vscode.window.showInformationMessage('Open a folder: runs are kept in its .sft-studio/runs.');
      return;
    }
    await openVertexJob(datasetOf(undefined), async (jobName, settings) => {
      // A job this window already follows is shown, not watched a second time.
      const known = runOfJob(runsDir, jobName);
      const active = known !== undefined ? manager.attach(known.dir) : undefined;
      if (known !== undefined && active !== undefined) {
        panelOfRun(known)?.showRun(known.id);
        return;
      }
      const handle = await vertex.openJob(jobName, runsDir, settings);
      const item = readRun(handle.dir);
      manager.open(handle, item ? `${item.record.model} on ${path.basename(item.record.dataset.train.path)}` : handle.id);
      runs.refresh();
      if (item !== undefined) panelOfRun(item)?.showRun(item.id);
    });
  }));

  c.push(vscode.commands.registerCommand('sftStudio.compareRuns', () => {
    const selected = tree.selection;
    if (selected.length < 2) {
      void vscode.window.showInformationMessage('Select two runs or more in the Tuning Runs view (Ctrl or Shift + click) to compare them.');
      return;
    }
    panelFor(vscode.Uri.file(selected[0]!.record.dataset.train.path)).compare(selected.map((r) => r.id));
  }));

  c.push(vscode.commands.registerCommand('sftStudio.repeatRun', async (item?: unknown) => {
    const run = isRun(item) ? item : tree.selection[0];
    if (run === undefined) return;
    const state = datasetState(run.record.dataset.train);
    if (state === 'remote' || state === 'missing') {
      void vscode.window.showInformationMessage(`The data of run ${run.id} is not on this machine (${run.record.dataset.train.path}): there is nothing to repeat it on.`);
      return;
    }
    if (state === 'changed') {
      const go = await vscode.window.showWarningMessage(`${path.basename(run.record.dataset.train.path)} has changed since run ${run.id}. Repeat on the data as it is now?`, { modal: true }, 'Repeat');
      if (go !== 'Repeat') return;
    }
    const dataset = vscode.Uri.file(run.record.dataset.train.path);
    const label = `${run.record.model} on ${path.basename(dataset.fsPath)} (repeat of ${run.id})`;
    const validationFile = run.record.dataset.validation?.path;
    if (run.record.backend === 'vertex') {
      // The same job again: model, hyper-parameters, project and region as kept; the bucket and endpoints of now.
      const c = JSON.parse(readFileSync(path.join(run.dir, 'config.json'), 'utf8')) as VertexRunConfig;
      const vertex: VertexStartOptions = {
        ...vertexSettingsFor(dataset), project: c.project, location: c.location, ...(c.bucket ? { bucket: c.bucket } : {}), model: c.model,
        ...(c.epoch_count !== null ? { epochs: c.epoch_count } : {}), ...(c.learning_rate_multiplier !== null ? { learningRateMultiplier: c.learning_rate_multiplier } : {}), ...(c.adapter_size !== null ? { adapterSize: c.adapter_size } : {}),
      };
      await panelFor(dataset).launch({ trainFile: dataset.fsPath, validationFile, config: { mode: 'train', model: c.model }, vertex }, label);
      return;
    }
    const config = JSON.parse(readFileSync(path.join(run.dir, 'config.json'), 'utf8')) as RunConfig;
    const { train_file: _t, validation_file: _v, output_dir: _o, resume_from: _r, ...rest } = config;
    await panelFor(dataset).launch({ trainFile: dataset.fsPath, validationFile, config: rest }, label);
  }));

  c.push(vscode.commands.registerCommand('sftStudio.cancelRun', (item?: unknown) => {
    const run = isRun(item) ? item : tree.selection[0];
    if (run === undefined) return;
    (manager.get(run.id) ?? manager.attach(run.dir))?.handle.cancel();
  }));

  c.push(vscode.commands.registerCommand('sftStudio.refreshRuns', () => runs.refresh()));

  c.push(vscode.commands.registerCommand('sftStudio.findHardSamples', async (uri?: unknown) => {
    const dataset = datasetOf(uri);
    if (dataset === undefined) {
      void vscode.window.showInformationMessage('Open a JSONL dataset to find its hard samples.');
      return;
    }
    const runsDir = manager.runsDir(dataset);
    type Pick = vscode.QuickPickItem & { model?: string; adapter?: string };
    const tuned: Pick[] = (runsDir ? listRuns(runsDir) : [])
      .filter((r) => r.status === 'completed' && r.record.mode === 'train' && r.summary.adapter !== null && r.record.dataset.train.path === dataset.fsPath)
      .map((r) => {
        const tiny = r.record.model === TINY_MODEL;
        return { label: `$(history) The model tuned in ${r.id}`, description: r.record.model, model: tiny ? r.summary.adapter! : r.record.model, ...(tiny ? {} : { adapter: r.summary.adapter! }) };
      });
    const pick = await vscode.window.showQuickPick<Pick>([{ label: '$(symbol-class) A base model…', description: 'a Hugging Face id or a folder, scored before any tuning' }, ...tuned], { title: 'Score each sample with which model?' });
    if (pick === undefined) return;
    const model = pick.model ?? (await vscode.window.showInputBox({ title: 'Base model to score the dataset with', value: TINY_MODEL, prompt: 'builtin:tiny, a Hugging Face model id, or a local folder' }));
    if (!model) return;
    const config: Omit<RunConfig, 'train_file' | 'validation_file' | 'output_dir'> = {
      mode: 'score', model, ifd: true, batch_size: 8, max_length: 2048, ...(pick.adapter ? { adapter: pick.adapter } : {}),
    };
    await panelFor(dataset).launch({ trainFile: dataset.fsPath, config }, `hard samples of ${path.basename(dataset.fsPath)} by ${path.basename(model)}`);
  }));

  c.push(vscode.languages.registerCodeLensProvider({ language: 'jsonl' }, {
    provideCodeLenses: (doc) => [
      new vscode.CodeLens(new vscode.Range(0, 0, 0, 0), { title: '$(play) Start Tuning Run', command: 'sftStudio.startTuningRun', arguments: [doc.uri] }),
      new vscode.CodeLens(new vscode.Range(0, 0, 0, 0), { title: 'Find Hard Samples', command: 'sftStudio.findHardSamples', arguments: [doc.uri] }),
    ],
  }));

  // A run an earlier window started and that still goes on shows up in the view as running;
  // opening it re-attaches. Nothing to do here but make sure the view reads the folders.
  const attachRunning = () => {
    for (const f of vscode.workspace.workspaceFolders ?? []) {
      for (const r of listRuns(path.join(f.uri.fsPath, '.sft-studio', 'runs'))) if (r.status === 'running') manager.attach(r.dir);
    }
    runs.refresh();
  };
  void Promise.resolve().then(attachRunning);
  c.push(vscode.workspace.onDidGrantWorkspaceTrust(attachRunning));
}
