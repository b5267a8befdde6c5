/**
 * "SFT Studio: Evaluate Base Model": runs a Gemini base model on Vertex AI over the validation
 * samples of the open dataset (its paired validation file, or the file itself), scores each answer
 * against the sample's last model turn (exact match, token F1, ROUGE-L, optionally a judge model),
 * keeps the evaluation as a run folder, and marks the samples the model got wrong through the
 * hard-sample marks of local runs (src/extension/hardSamples.ts). Only in a trusted workspace: it
 * sends the samples with the user's credentials to the endpoint the settings name.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { vertexGenerate, type VertexTarget } from '../backends/vertex/generate';
import { GEMINI_MODELS } from '../core/advice';
import { METRIC_LABELS } from '../core/evalMetrics';
import { EvaluationSetupError, prepareEvaluation, readEvalInput, runEvaluation } from '../core/evaluate';
import { pairedValidationFile } from '../core/leakage';
import type { EvaluationSummary, RunSummary } from '../core/runs';
import { LANGUAGE_ID } from '../shared/protocol';
import { type HardSampleMarks, type HardSamplesShown, showRunHardSamples } from './hardSamples';
import { vertexSettingsFor } from './tuning/vertex';

export const EVALUATE_COMMAND = 'sftStudio.evaluateBaseModel';

/** What the command was given instead of asking (tests, other commands). */
export interface EvaluateArgs {
  readonly model?: string;
  /** A judge model, or null for none. */
  readonly judgeModel?: string | null;
}

export interface EvaluateOutcome {
  readonly runDir: string;
  readonly summary: RunSummary;
  readonly shown: HardSamplesShown | undefined;
}

const fmt = (v: number | null): string => (v === null ? '–' : v.toFixed(2));

/** "mean exact match 0.25, F1 0.61, ROUGE-L 0.58, judge 3.9/5". */
export function meansText(e: EvaluationSummary): string {
  return [
    `${METRIC_LABELS.exact_match} ${fmt(e.exact_match)}`,
    `${METRIC_LABELS.f1} ${fmt(e.f1)}`,
    `${METRIC_LABELS.rouge_l} ${fmt(e.rouge_l)}`,
    ...(e.judge !== null ? [`${METRIC_LABELS.judge} ${e.judge.toFixed(1)}/5`] : []),
  ].join(', ');
}

async function ask(args: EvaluateArgs): Promise<{ model: string; judgeModel: string | undefined } | undefined> {
  const model = args.model ?? (await vscode.window.showQuickPick([...GEMINI_MODELS], { title: 'Evaluate which base model?', placeHolder: 'The model answers each validation sample' }));
  if (model === undefined) return undefined;
  if (args.judgeModel !== undefined) return { model, judgeModel: args.judgeModel ?? undefined };
  const none = 'No judge';
  type Item = vscode.QuickPickItem & { judge?: string };
  const pick = await vscode.window.showQuickPick<Item>([
    { label: none, description: 'exact match, token F1 and ROUGE-L only' },
    ...GEMINI_MODELS.map((m): Item => ({ label: `Judge with ${m}`, description: 'a second call per sample grades the answer 1–5', judge: m })),
  ], { title: 'Also grade each answer with a judge model?' });
  if (pick === undefined) return undefined;
  return { model, judgeModel: pick.judge };
}

function runsDirOf(dataset: vscode.Uri): string | undefined {
  const folder = vscode.workspace.getWorkspaceFolder(dataset) ?? vscode.workspace.workspaceFolders?.[0];
  return folder !== undefined && folder.uri.scheme === 'file' ? path.join(folder.uri.fsPath, '.sft-studio', 'runs') : undefined;
}

/** The command: asks what it was not given, runs the evaluation with a cancellable progress notification, shows the marks. */
export async function evaluateBaseModel(marks: HardSampleMarks, uri?: unknown, args: EvaluateArgs = {}): Promise<EvaluateOutcome | undefined> {
  const dataset = uri instanceof vscode.Uri ? uri : vscode.window.activeTextEditor?.document.languageId === LANGUAGE_ID ? vscode.window.activeTextEditor.document.uri : undefined;
  if (dataset === undefined || dataset.scheme !== 'file') {
    void vscode.window.showInformationMessage('Open a JSONL dataset (a file on disk) to evaluate a base model on its validation samples.');
    return undefined;
  }
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showErrorMessage('Trust this workspace to evaluate a base model: it sends the samples, with your Google Cloud credentials, to the endpoint in its settings.');
    return undefined;
  }
  const runsDir = runsDirOf(dataset);
  if (runsDir === undefined) {
    void vscode.window.showErrorMessage('Open a folder: evaluations are kept in its .sft-studio/runs.');
    return undefined;
  }
  const paired = pairedValidationFile(dataset.fsPath, existsSync);
  const file = paired ?? dataset.fsPath;
  const answers = await ask(args);
  if (answers === undefined) return undefined;
  // What is evaluated is the file on disk: save the open copies first.
  for (const doc of vscode.workspace.textDocuments) {
    if (doc.isDirty && (doc.uri.fsPath === file || doc.uri.fsPath === dataset.fsPath)) await doc.save();
  }
  // Where the model runs: the same settings as tuning runs (endpoints only from a trusted workspace).
  const target: VertexTarget = vertexSettingsFor(dataset);
  const label = `${answers.model} on ${path.basename(file)}`;
  try {
    const input = readEvalInput(file);
    const { generate, resolved } = await vertexGenerate(target);
    const prep = prepareEvaluation({
      file, ...(paired !== undefined ? { trainFile: dataset.fsPath } : {}), runsDir, origin: 'extension', model: answers.model,
      ...(answers.judgeModel !== undefined ? { judgeModel: answers.judgeModel } : {}),
      project: resolved.project, location: resolved.location, apiEndpoint: resolved.apiEndpoint,
    }, undefined, input);
    const summary = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Evaluating ${label}`, cancellable: true }, async (progress, token) => {
      const abort = new AbortController();
      const sub = token.onCancellationRequested(() => abort.abort(new Error('cancelled')));
      const total = prep.samples.length;
      let wrong = 0;
      progress.report({ message: `0 of ${total} samples` });
      try {
        return await runEvaluation(prep, {
          generate, signal: abort.signal,
          onEvent: (e) => {
            if (e.event === 'sample_loss' && e.evaluation?.correct === false) wrong++;
            if (e.event === 'progress') progress.report({ increment: 100 / total, message: `${e.step} of ${total} samples, ${wrong} wrong` });
          },
        });
      } finally {
        sub.dispose();
      }
    });
    let shown: HardSamplesShown | undefined;
    if (summary.sampleLosses > 0) shown = await showRunHardSamples(marks, prep.dir);
    const e = summary.evaluation;
    if (summary.status === 'completed' && e !== undefined) {
      const rule = `${METRIC_LABELS[e.metric]} < ${e.metric === 'judge' ? `${prep.config.threshold * 4 + 1}/5` : prep.config.threshold}`;
      const failed = e.failed > 0 ? ` ${e.failed} got no answer.` : '';
      const unscored = e.unscored > 0 ? ` ${e.unscored} got no score from the judge.` : '';
      void vscode.window.showInformationMessage(`${label}: ${e.wrong} of ${e.answered - e.unscored} answers wrong (${rule}). Mean ${meansText(e)}.${failed}${unscored}`);
    } else if (summary.status === 'cancelled') {
      void vscode.window.showInformationMessage(`Evaluation of ${label} cancelled after ${summary.sampleLosses} samples; the results so far are kept in run ${prep.id}.`);
    } else {
      void vscode.window.showErrorMessage(`Evaluation of ${label} failed: ${summary.error?.message ?? 'no sample got an answer'}`);
    }
    return { runDir: prep.dir, summary, shown };
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    void vscode.window.showErrorMessage(err instanceof EvaluationSetupError ? `SFT Studio: ${text}` : `SFT Studio: could not evaluate ${label}: ${text}`);
    return undefined;
  }
}

export function registerEvaluate(marks: HardSampleMarks): vscode.Disposable {
  return vscode.commands.registerCommand(EVALUATE_COMMAND, (uri?: unknown, args?: EvaluateArgs) => evaluateBaseModel(marks, uri, args ?? {}));
}
