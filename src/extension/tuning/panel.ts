/**
 * The tuning panel: one panel, opened beside the dataset, restored after a window reload by its
 * serializer (and re-attached to the run it showed). Strict nonce CSP, local resources only; the
 * page gets everything by postMessage, and every message is checked on arrival.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { RunSetupError } from '../../backends/local/runner';
import { checkVertexAccess, CredentialsError, VertexSetupError } from '../../backends/vertex';
import type { RunHandle, StartRequest } from '../../backends/types';
import { localAdvice, localFormAdvice, TINY_MODEL } from '../../core/advice';
import { pairedValidationFile } from '../../core/leakage';
import { detectOverfitting, type LossPoint } from '../../core/overfitting';
import { datasetState, listRuns, readRun, readRunEvents } from '../../core/runStore';
import type { TrainerEvent } from '../../core/runs';
import { FromPanel, messageProblem, PANEL_VIEW_TYPE, PanelState, type FormValues, type RunRow, type ToPanel } from '../../shared/panelProtocol';
import { configFromForm, hardSampleRows } from '../../core/tuningForm';
import { SHOW_HARD_SAMPLES_COMMAND } from '../hardSamples';
import { datasetFacts, preflightOf } from './preflight';
import { resolveInterpreter } from './interpreter';
import { tryIt, vertexFormDefaults, vertexStartOptions } from './vertex';
import type { RunManager } from './runManager';

const toWire = (e: TrainerEvent) => ({ ...e });

function nonce(): string {
  const bytes = new Uint8Array(24);
  globalThis.crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}

export function runRows(runsDir: string | undefined): RunRow[] {
  if (runsDir === undefined) return [];
  return listRuns(runsDir).map((r) => ({
    id: r.id, status: r.status, backend: r.record.backend, model: r.record.model, dataset: path.basename(r.record.dataset.train.path),
    bestEvalLoss: r.summary.bestEvalLoss, durationSeconds: r.summary.durationSeconds, datasetChanged: datasetState(r.record.dataset.train) === 'changed',
  }));
}

export class TuningPanel implements vscode.Disposable {
  private static current: TuningPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private runId: string | null = null;
  /** What the page shows now: a new object each time, so a stream started for an earlier showing stops (even of the same run). */
  private following: { readonly runId: string } | undefined;

  static createOrShow(extensionUri: vscode.Uri, manager: RunManager, dataset: vscode.Uri): TuningPanel {
    const column = vscode.window.activeTextEditor ? vscode.ViewColumn.Beside : vscode.ViewColumn.Two;
    if (TuningPanel.current !== undefined) {
      TuningPanel.current.panel.reveal(undefined, true); // where it is: never into a new group
      if (TuningPanel.current.dataset.fsPath !== dataset.fsPath) {
        TuningPanel.current.dataset = dataset;
        void TuningPanel.current.sendInit();
      }
      return TuningPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(PANEL_VIEW_TYPE, 'Tuning Run', { viewColumn: column, preserveFocus: true }, TuningPanel.options(extensionUri));
    return (TuningPanel.current = new TuningPanel(panel, extensionUri, manager, dataset, null));
  }

  static options(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview')] };
  }

  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri, manager: RunManager, state: unknown): void {
    const parsed = PanelState.safeParse(state);
    if (!parsed.success) {
      panel.dispose();
      return;
    }
    panel.webview.options = TuningPanel.options(extensionUri);
    TuningPanel.current?.dispose();
    TuningPanel.current = new TuningPanel(panel, extensionUri, manager, vscode.Uri.file(parsed.data.datasetPath), parsed.data.runId);
  }

  static get instance(): TuningPanel | undefined {
    return TuningPanel.current;
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly extensionUri: vscode.Uri,
    private readonly manager: RunManager,
    private dataset: vscode.Uri,
    restoredRun: string | null,
  ) {
    this.runId = restoredRun;
    panel.webview.html = this.html();
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((m: unknown) => void this.onMessage(m)),
      manager.onDidChange(() => this.post({ type: 'runs', runs: runRows(this.manager.runsDir(this.dataset)) })),
    );
  }

  private html(): string {
    const n = nonce();
    const web = this.panel.webview;
    const script = web.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview', 'main.js'));
    const style = web.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview', 'style.css'));
    const csp = [`default-src 'none'`, `script-src 'nonce-${n}'`, `style-src ${web.cspSource} 'nonce-${n}'`, `font-src ${web.cspSource}`, `img-src ${web.cspSource} data:`].join('; ');
    // A fixed skeleton: no value in it comes from the dataset or the user.
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style.toString()}" nonce="${n}">
<title>Tuning Run</title>
</head>
<body>
<h2>Start a tuning run</h2>
<div id="dataset"></div>
<div id="interpreter"></div>
<div id="untrusted" hidden>This workspace is not trusted: tuning runs start a Python process or send the data to Google Cloud with your credentials, so they are off until you trust it.</div>
<form id="form" onsubmit="return false"></form>
<div id="preflight" role="status"></div>
<div id="preflight-block" role="alert"></div>
<div id="actions">
  <vscode-button id="start">Start</vscode-button>
  <vscode-button id="launch-anyway" secondary hidden>Launch anyway</vscode-button>
  <vscode-button id="cancel" secondary hidden>Cancel</vscode-button>
  <span id="notice" role="status"></span>
</div>
<section id="run" hidden>
  <h3 id="run-title"></h3>
  <div id="status" role="status" aria-live="polite"></div>
  <vscode-progress-bar id="progress"></vscode-progress-bar>
  <div id="eta"></div>
  <div id="overfitting" hidden role="alert"><span id="overfitting-text"></span> <vscode-button id="stop-at-best" secondary>Stop at the best checkpoint</vscode-button></div>
  <div id="job" hidden></div>
  <div id="charts">
    <div class="chart" id="chart-loss"></div>
    <div class="chart" id="chart-accuracy"></div>
    <div class="chart" id="chart-lr"></div>
  </div>
  <section id="try-it" hidden>
    <h3>Try it</h3>
    <vscode-textarea id="try-prompt" rows="3" aria-label="prompt for the base and the tuned model" placeholder="A prompt to send to the base model and to the tuned model"></vscode-textarea>
    <vscode-button id="try-send">Ask both</vscode-button>
    <div id="try-answers" aria-live="polite"></div>
  </section>
  <div id="hard"></div>
  <h3>Log</h3>
  <div id="log" tabindex="0" aria-label="trainer log"></div>
</section>
<section id="compare" hidden><div class="chart" id="chart-compare"></div></section>
<script nonce="${n}" src="${script.toString()}"></script>
</body>
</html>`;
  }

  private post(message: ToPanel): void {
    void this.panel.webview.postMessage(message);
  }

  private async document(): Promise<vscode.TextDocument> {
    return vscode.workspace.openTextDocument(this.dataset);
  }

  private async sendInit(): Promise<void> {
    const doc = await this.document();
    const validation = pairedValidationFile(this.dataset.fsPath, existsSync);
    const { samples } = datasetFacts(doc);
    const advice = localFormAdvice(localAdvice(TINY_MODEL, samples, validation !== undefined));
    const form: FormValues = {
      backend: 'local', model: TINY_MODEL, trainFile: this.dataset.fsPath, validationFile: validation ?? '', validationSplit: 0, epochs: 1, learningRate: 1e-3,
      batchSize: 8, gradientAccumulation: 1, maxLength: 1024, method: 'full', loraRank: 16, warmupRatio: 0.03, packing: false, earlyStoppingPatience: 0,
      learningRateMultiplier: null, epochCount: null, adapterSize: 4, ...vertexFormDefaults(this.dataset),
      ...advice.values,
    };
    const interpreter = await resolveInterpreter(this.dataset);
    const why: Record<string, string> = { ...advice.why };
    this.post({
      type: 'init', dataset: { path: this.dataset.fsPath, name: vscode.workspace.asRelativePath(this.dataset), samples },
      validation: { path: validation !== undefined ? vscode.workspace.asRelativePath(validation) : null, paired: validation !== undefined },
      form, why, trusted: vscode.workspace.isTrusted, interpreter: `${interpreter.path} (${interpreter.source})`, runs: runRows(this.manager.runsDir(this.dataset)),
    });
    if (this.runId !== null) this.showRun(this.runId);
  }

  private async onMessage(raw: unknown): Promise<void> {
    const problem = messageProblem(FromPanel, raw);
    if (problem !== undefined) {
      this.post({ type: 'notice', level: 'error', text: `The panel sent a message the extension does not understand (${problem}).` });
      return;
    }
    const m = FromPanel.parse(raw);
    switch (m.type) {
      case 'ready':
        await this.sendInit();
        break;
      case 'preflight':
        this.post({ type: 'preflight', preflight: preflightOf(await this.document(), m.form) });
        break;
      case 'start':
        await this.start(m.form, m.launchAnyway);
        break;
      case 'cancel':
        this.manager.get(m.runId)?.handle.cancel();
        break;
      case 'stopAtBest':
        this.manager.get(m.runId)?.handle.cancel();
        this.post({ type: 'notice', level: 'info', text: 'Stopping: the best adapter so far is kept in the run folder (adapter/best).' });
        break;
      case 'reveal': {
        const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(m.file));
        const line = Math.min(m.line - 1, doc.lineCount - 1);
        // In the editor already showing the dataset, else in the first group (never over the panel).
        const shown = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === doc.uri.toString() && e.viewColumn !== this.panel.viewColumn);
        const editor = await vscode.window.showTextDocument(doc, { viewColumn: shown?.viewColumn ?? vscode.ViewColumn.One, preserveFocus: false });
        editor.selection = new vscode.Selection(line, 0, line, 0);
        editor.revealRange(new vscode.Range(line, 0, line, 0), vscode.TextEditorRevealType.InCenter);
        break;
      }
      case 'openRun':
        this.showRun(m.runId);
        break;
      case 'tryIt': {
        // Always an answer, so the page never waits on one: the models' texts, or why there are none.
        const none = (error: string) => ({ base: { model: 'base model', text: null, error }, tuned: { model: 'tuned model', text: null, error } });
        const runsDir = this.manager.runsDir(this.dataset);
        let answers;
        if (!vscode.workspace.isTrusted) answers = none('this workspace is not trusted: nothing is sent to Google Cloud from it');
        else if (runsDir === undefined) answers = none('open a folder: runs are kept in its .sft-studio/runs');
        else {
          try {
            answers = await tryIt(path.join(runsDir, m.runId), m.prompt, this.dataset);
          } catch (err) {
            answers = none((err as Error).message);
          }
        }
        this.post({ type: 'tryItResult', runId: m.runId, prompt: m.prompt, ...answers });
        break;
      }
    }
  }

  private async start(form: FormValues, launchAnyway: boolean): Promise<void> {
    if (!vscode.workspace.isTrusted) {
      this.post({ type: 'notice', level: 'error', text: 'Trust this workspace to start tuning runs (they run a Python process or use your Google Cloud credentials).' });
      return;
    }
    const doc = await this.document();
    if (doc.isDirty) await doc.save();
    const pre = preflightOf(doc, form);
    if (pre.blocking && !launchAnyway) {
      this.post({ type: 'preflight', preflight: pre });
      return;
    }
    const runsDir = this.manager.runsDir(this.dataset);
    if (runsDir === undefined) {
      this.post({ type: 'notice', level: 'error', text: 'Open a folder: runs are kept in its .sft-studio/runs.' });
      return;
    }
    const trainFile = path.resolve(path.dirname(this.dataset.fsPath), form.trainFile);
    const validationFile = form.validationFile === '' ? undefined : path.resolve(path.dirname(this.dataset.fsPath), form.validationFile);
    try {
      const label = `${form.model} on ${path.basename(trainFile)}`;
      let run;
      if (form.backend === 'vertex') {
        const vertex = vertexStartOptions(form, this.dataset);
        // Settings and credentials first: a run that cannot reach Google makes no run folder, just one message with the fix.
        this.post({ type: 'notice', level: 'info', text: 'Checking the Google Cloud credentials…' });
        await checkVertexAccess(vertex);
        run = this.manager.start('vertex', { trainFile, validationFile, runsDir, config: { mode: 'train', model: form.model.trim() }, vertex }, label);
      } else {
        run = this.manager.start('local', { trainFile, validationFile, runsDir, config: configFromForm(form), python: (await resolveInterpreter(this.dataset)).path }, label);
      }
      this.post({ type: 'notice', level: 'info', text: `Run ${run.handle.id} started.` });
      this.follow(run.handle, run.label);
    } catch (err) {
      const known = err instanceof RunSetupError || err instanceof VertexSetupError || err instanceof CredentialsError;
      this.post({ type: 'notice', level: 'error', text: known ? err.message : `Could not start the run: ${(err as Error).message}` });
    }
  }

  /** Starts a run from a ready config (Repeat Run, Find Hard Samples) and follows it here. */
  async launch(request: Omit<StartRequest, 'runsDir' | 'python'>, label: string): Promise<void> {
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showErrorMessage('Trust this workspace to start tuning runs (they run a Python process or use your Google Cloud credentials).');
      return;
    }
    const runsDir = this.manager.runsDir(this.dataset);
    if (runsDir === undefined) return;
    try {
      const run = request.vertex !== undefined
        ? this.manager.start('vertex', { ...request, runsDir }, label)
        : this.manager.start('local', { ...request, runsDir, python: (await resolveInterpreter(this.dataset)).path }, label);
      this.follow(run.handle, run.label);
    } catch (err) {
      void vscode.window.showErrorMessage(err instanceof RunSetupError || err instanceof VertexSetupError ? err.message : `Could not start the run: ${(err as Error).message}`);
    }
  }

  /** Streams a run's events to the page, watches for overfitting, then lists its hard samples. */
  private follow(handle: RunHandle, label: string): void {
    const { id: runId, dir } = handle;
    const events = handle.events();
    this.runId = runId;
    const me = { runId };
    this.following = me;
    let first = true;
    let warned = false;
    const train: LossPoint[] = [];
    const evals: LossPoint[] = [];
    const all: TrainerEvent[] = [];
    void (async () => {
      let batch: TrainerEvent[] = [];
      let scheduled = false;
      const flush = () => {
        scheduled = false;
        if (this.following !== me || batch.length === 0) return;
        this.post({ type: 'runEvents', runId, label, events: batch.map(toWire), reset: first });
        first = false;
        batch = [];
      };
      for await (const e of events) {
        all.push(e);
        if (e.event === 'sample_loss') continue; // listed at the end, not streamed one by one
        batch.push(e);
        if (e.event === 'metrics' && e.loss !== null) (e.split === 'train' ? train : evals).push({ step: e.step, loss: e.loss });
        if (e.event === 'metrics' && e.split === 'eval' && !warned) {
          const verdict = detectOverfitting(train, evals);
          if (verdict !== undefined && this.following === me) {
            warned = true;
            this.post({ type: 'overfitting', runId, ...verdict });
          }
        }
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      }
      flush();
      if (this.following === me) await this.showHardSamples(runId, all, dir);
    })();
    void (async () => {
      let pending: string[] = [];
      for await (const line of handle.logs()) {
        if (this.following !== me) break;
        pending.push(line);
        if (pending.length === 1) {
          setImmediate(() => {
            if (this.following === me && pending.length > 0) this.post({ type: 'log', runId, lines: pending });
            pending = [];
          });
        }
      }
    })();
  }

  private async showHardSamples(runId: string, events: readonly TrainerEvent[], dir: string): Promise<void> {
    const record = readRun(dir)?.record;
    const datasetPath = record?.dataset.train.path ?? this.dataset.fsPath;
    const abs = path.resolve(path.dirname(dir), '..', '..', datasetPath);
    const file = existsSync(datasetPath) ? path.resolve(datasetPath) : abs;
    const text = (await vscode.workspace.openTextDocument(vscode.Uri.file(file)).then((d) => d.getText(), () => undefined));
    const items = hardSampleRows(events, file, text);
    this.post({ type: 'hardSamples', runId, items });
    // The same samples marked in the editor (gutter, tint, diagnostics, hover), without moving it.
    if (items.length > 0) await vscode.commands.executeCommand(SHOW_HARD_SAMPLES_COMMAND, dir, { reveal: false });
  }

  /** Shows a kept run (its curves and hard samples), following it live when it still runs. */
  showRun(runId: string): void {
    const runsDir = this.manager.runsDir(this.dataset);
    if (runsDir === undefined) return;
    const dir = path.join(runsDir, runId);
    const live = this.manager.attach(dir);
    if (live !== undefined) {
      this.follow(live.handle, live.label);
      return;
    }
    const item = readRun(dir);
    if (item === undefined) return;
    this.runId = runId;
    this.following = { runId };
    const events = readRunEvents(dir);
    const label = `${item.record.model} on ${path.basename(item.record.dataset.train.path)}${datasetState(item.record.dataset.train) === 'changed' ? ' (the dataset has changed since)' : ''}`;
    this.post({ type: 'runEvents', runId, label, events: events.filter((e) => e.event !== 'sample_loss').map(toWire), reset: true });
    void this.showHardSamples(runId, events, dir);
  }

  compare(runIds: readonly string[]): void {
    const runsDir = this.manager.runsDir(this.dataset);
    if (runsDir === undefined) return;
    const series = runIds.map((id) => {
      const events = readRunEvents(path.join(runsDir, id));
      const pick = (split: 'train' | 'eval') =>
        events.flatMap((e): [number, number][] => (e.event === 'metrics' && e.split === split && e.loss !== null ? [[e.step, e.loss]] : []));
      return { runId: id, label: id, train: pick('train'), eval: pick('eval') };
    });
    this.post({ type: 'compare', series });
  }

  dispose(): void {
    if (TuningPanel.current === this) TuningPanel.current = undefined;
    this.following = undefined;
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}
