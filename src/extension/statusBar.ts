/** The status bar entry of the active dataset: format, sample count, problem counts. */
import * as vscode from 'vscode';
import type { DatasetSummaryParams } from '../shared/protocol';
import { LANGUAGE_ID } from '../shared/protocol';

const plural = (n: number, one: string, many = one + 's') => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

export class DatasetStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly summaries = new Map<string, DatasetSummaryParams>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor() {
    this.item = vscode.window.createStatusBarItem('sftStudio.dataset', vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'SFT Studio dataset';
    this.item.command = 'sftStudio.pinFormat';
    this.disposables.push(
      this.item,
      vscode.window.onDidChangeActiveTextEditor(() => this.render()),
      vscode.workspace.onDidCloseTextDocument((doc) => {
        this.summaries.delete(doc.uri.toString());
        this.render();
      }),
    );
    this.render();
  }

  update(summary: DatasetSummaryParams): void {
    this.summaries.set(summary.uri, summary);
    this.render();
  }

  summaryOf(uri: vscode.Uri): DatasetSummaryParams | undefined {
    return this.summaries.get(uri.toString());
  }

  private render(): void {
    const doc = vscode.window.activeTextEditor?.document;
    const s = doc !== undefined && doc.languageId === LANGUAGE_ID ? this.summaries.get(doc.uri.toString()) : undefined;
    if (s === undefined) {
      this.item.hide();
      return;
    }
    const problems = s.errors > 0 ? plural(s.errors, 'error') : s.warnings > 0 ? plural(s.warnings, 'warning') : 'no errors';
    this.item.text = `$(database) ${s.formatLabel} · ${plural(s.samples, 'sample')} · ${problems}`;
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`**SFT Studio** · ${s.formatSource === 'pinned' ? 'format pinned in settings' : s.formatSource === 'detected' ? 'format detected from the samples' : 'no known format'}\n\n`);
    md.appendMarkdown(`${plural(s.samples, 'sample')} · ${plural(s.errors, 'error')} · ${plural(s.warnings, 'warning')} · ${plural(s.infos, 'info', 'infos')}\n\n`);
    md.appendMarkdown('Click to pin the format of this file.');
    this.item.tooltip = md;
    this.item.backgroundColor = s.errors > 0 ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
