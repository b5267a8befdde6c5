/**
 * What a user should know before launching: lint errors (which block, unless launched anyway),
 * duplicates, leakage and over-length samples (from the language server's diagnostics of the
 * open dataset), and estimates of tokens and steps.
 */
import * as vscode from 'vscode';
import { normalizeDataset } from '../../core/trainingData';
import { estimateSampleTokens } from '../../core/tokens';
import type { FormValues, Preflight } from '../../shared/panelProtocol';

const codeOf = (d: vscode.Diagnostic): string => String(typeof d.code === 'object' ? d.code.value : (d.code ?? ''));

export function preflightOf(doc: vscode.TextDocument, form: FormValues): Preflight {
  const diagnostics = vscode.languages.getDiagnostics(doc.uri).filter((d) => d.source === 'sft-studio');
  const count = (code: string) => diagnostics.filter((d) => codeOf(d) === code).length;
  const errors = diagnostics.filter((d) => d.severity === vscode.DiagnosticSeverity.Error).length;
  const warnings = diagnostics.filter((d) => d.severity === vscode.DiagnosticSeverity.Warning).length;
  const data = normalizeDataset(doc.getText());
  let tokens = 0;
  for (const line of data.lines) {
    const s = JSON.parse(line) as { system: string | null; turns: { text: string }[] };
    tokens += estimateSampleTokens([...(s.system !== null ? [s.system] : []), ...s.turns.map((t) => t.text)]);
  }
  const samples = data.lines.length;
  let steps: number;
  if (form.backend === 'local') {
    const trained = form.validationFile === '' ? Math.max(1, Math.round(samples * (1 - form.validationSplit))) : samples;
    steps = Math.ceil(Math.ceil(trained / form.batchSize) / form.gradientAccumulation) * Math.ceil(form.epochs);
    tokens = Math.round(tokens * form.epochs);
  } else {
    // Vertex AI chooses its batch; its step count comes back with the job's statistics.
    steps = 0;
    tokens = Math.round(tokens * (form.epochCount ?? 1));
  }
  return {
    samples, errors, warnings, duplicates: count('duplicate') + count('near-duplicate'), leakage: count('leakage'), overLength: count('too-long'),
    tokens, steps, blocking: errors > 0,
  };
}
