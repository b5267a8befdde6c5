/**
 * The Runs view: every run kept in the workspace, newest first, with status, backend, model,
 * dataset, best eval loss and duration; a run whose dataset changed since says so.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { datasetState, listRuns, type RunListItem } from '../../core/runStore';
import type { RunManager } from './runManager';

const ICONS: Record<string, vscode.ThemeIcon> = {
  completed: new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed')),
  failed: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
  cancelled: new vscode.ThemeIcon('circle-slash'),
  running: new vscode.ThemeIcon('sync~spin'),
  interrupted: new vscode.ThemeIcon('debug-disconnect'),
};

export function describeDuration(seconds: number | null): string {
  if (seconds === null) return '';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** A model as a person reads it: a run's tuned adapter by its run, a folder by its name. */
export function modelLabel(model: string): string {
  const tuned = /[\\/]runs[\\/]([^\\/]+)[\\/]adapter[\\/]/.exec(model);
  if (tuned !== null) return `model tuned in ${tuned[1]}`;
  return path.isAbsolute(model) ? path.basename(model) : model;
}

export class RunsView implements vscode.TreeDataProvider<RunListItem>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(manager: RunManager) {
    const watcher = vscode.workspace.createFileSystemWatcher('**/.sft-studio/runs/*/{summary.json,run.json}');
    this.disposables.push(watcher, watcher.onDidCreate(() => this.refresh()), watcher.onDidChange(() => this.refresh()), watcher.onDidDelete(() => this.refresh()), manager.onDidChange(() => this.refresh()), this.changed);
  }

  refresh(): void {
    this.changed.fire();
  }

  getChildren(element?: RunListItem): RunListItem[] {
    if (element !== undefined) return [];
    const folders = vscode.workspace.workspaceFolders ?? [];
    return folders.flatMap((f) => listRuns(path.join(f.uri.fsPath, '.sft-studio', 'runs')));
  }

  getTreeItem(run: RunListItem): vscode.TreeItem {
    const s = run.summary;
    const dataset = path.basename(run.record.dataset.train.path);
    const evaluated = run.record.mode === 'evaluate';
    const item = new vscode.TreeItem(`${run.record.mode === 'score' ? 'scored by ' : evaluated ? 'evaluated ' : ''}${modelLabel(run.record.model)} · ${evaluated && run.record.dataset.validation !== undefined ? path.basename(run.record.dataset.validation.path) : dataset}`);
    item.id = run.id;
    const state = datasetState(run.record.dataset.train);
    const e = s.evaluation;
    const loss = e !== undefined ? `${e.wrong} of ${e.answered} wrong, ROUGE-L ${e.rouge_l?.toFixed(2) ?? '–'}`
      : s.bestEvalLoss !== null ? `best eval ${s.bestEvalLoss.toFixed(3)}` : s.lastTrainLoss !== null ? `train ${s.lastTrainLoss.toFixed(3)}` : '';
    item.description = [run.status, run.record.backend, loss, describeDuration(s.durationSeconds), state === 'changed' ? 'dataset changed since' : state === 'missing' ? 'dataset missing' : '']
      .filter((x) => x !== '').join(' · ');
    const tip = new vscode.MarkdownString();
    tip.appendText(`${run.id}\n${run.record.backend} · ${run.record.mode} · ${run.record.model}\n${run.record.dataset.train.path} (${run.record.dataset.train.samples} samples)\n`);
    if (state === 'changed') tip.appendText('The dataset has changed since this run: its content hash differs.\n');
    else if (state === 'missing') tip.appendText('The dataset file is gone.\n');
    else if (state === 'remote') tip.appendText('The data is in Cloud Storage only (a job started elsewhere whose data could not be copied).\n');
    if (s.error !== null) tip.appendText(`Error: ${s.error.message}\n`);
    item.tooltip = tip;
    item.iconPath = ICONS[run.status];
    // An evaluation is not repeated or cancelled from here; opening it shows its marks.
    item.contextValue = evaluated ? 'sftStudio.evaluation' : run.status === 'running' ? 'sftStudio.run.running' : 'sftStudio.run';
    item.command = evaluated
      ? { command: 'sftStudio.showHardSamples', title: 'Show Wrong Answers', arguments: [run.dir] }
      : { command: 'sftStudio.openRun', title: 'Open Run', arguments: [run] };
    return item;
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
