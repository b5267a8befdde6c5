/**
 * The status bar entries of the active dataset: format, sample count and problem
 * counts; and its tuning target, with the token distribution, trained tokens and
 * cost in the hover. Clicking the target entry chooses another target.
 */
import * as vscode from 'vscode';
import type { DatasetSummaryParams } from '../shared/protocol';
import { LANGUAGE_ID, PICK_TARGET_COMMAND } from '../shared/protocol';
import { costText } from '../core/targets';

const plural = (n: number, one: string, many = one + 's') => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
const fmt = (n: number) => n.toLocaleString('en-US');

export class DatasetStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly targetItem: vscode.StatusBarItem;
  private readonly summaries = new Map<string, DatasetSummaryParams>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor() {
    this.item = vscode.window.createStatusBarItem('sftStudio.dataset', vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'SFT Studio dataset';
    this.item.command = 'sftStudio.pinFormat';
    this.targetItem = vscode.window.createStatusBarItem('sftStudio.target', vscode.StatusBarAlignment.Left, 49);
    this.targetItem.name = 'SFT Studio tuning target';
    this.targetItem.command = PICK_TARGET_COMMAND;
    this.disposables.push(
      this.item,
      this.targetItem,
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
      this.targetItem.hide();
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
    this.renderTarget(s);
  }

  private renderTarget(s: DatasetSummaryParams): void {
    const [first, ...more] = s.targets;
    this.targetItem.text = first === undefined ? '$(target) No target' : `$(target) ${first.label}${more.length > 0 ? ` +${more.length}` : ''}`;
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(first === undefined ? '**No tuning target** · only the format rules apply\n\n' : '**Tuning target**\n\n');
    for (const t of s.targets) {
      const cost = costText(t);
      md.appendMarkdown(`\`${t.target}\` · ${fmt(t.tokens)} tokens (${t.exact ? 'counted' : 'estimated, counting…'}) × ${t.epochs} epochs = ${fmt(t.trainedTokens)} trained tokens · ${cost}\n\n`);
      if (t.tokenLimit !== null) md.appendMarkdown(`${plural(t.overLimit, 'sample')} over the ${fmt(t.tokenLimit)}-token limit\n\n`);
    }
    const d = s.distribution;
    if (d !== null) {
      md.appendMarkdown(`Tokens per sample: min ${fmt(d.min)} · 25% ${fmt(d.q1)} · median ${fmt(d.median)} · 75% ${fmt(d.q3)} · max ${fmt(d.max)}\n\n`);
    }
    md.appendMarkdown('Click to choose the target of this file.');
    this.targetItem.tooltip = md;
    this.targetItem.show();
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
