/**
 * What a user should know before launching: lint errors (which block, unless launched anyway),
 * duplicates, leakage and over-length samples (from the language server's diagnostics of the
 * open dataset), and estimates of tokens and steps.
 */
import * as vscode from 'vscode';
import { normalizeDataset, type TrainingSample } from '../../core/trainingData';
import { estimateSampleTokens } from '../../core/tokens';
import type { FormValues, Preflight } from '../../shared/panelProtocol';

const codeOf = (d: vscode.Diagnostic): string => String(typeof d.code === 'object' ? d.code.value : (d.code ?? ''));

export interface DatasetFacts {
  /** Samples the trainer can learn from. */
  readonly samples: number;
  /** Their estimated tokens, one epoch. */
  readonly tokens: number;
}

const factsCache = new Map<string, { version: number; facts: DatasetFacts }>();

/** Samples and tokens of a dataset, read once per version of the document (not per keystroke in the form). */
export function datasetFacts(doc: vscode.TextDocument): DatasetFacts {
  const key = doc.uri.toString();
  const known = factsCache.get(key);
  if (known !== undefined && known.version === doc.version) return known.facts;
  const data = normalizeDataset(doc.getText());
  let tokens = 0;
  for (const line of data.lines) {
    const s = JSON.parse(line) as TrainingSample;
    tokens += estimateSampleTokens([...(s.system !== null ? [s.system] : []), ...s.turns.map((t) => t.text)]);
  }
  const facts = { samples: data.lines.length, tokens };
  factsCache.set(key, { version: doc.version, facts });
  return facts;
}

export function preflightOf(doc: vscode.TextDocument, form: FormValues): Preflight {
  const diagnostics = vscode.languages.getDiagnostics(doc.uri).filter((d) => d.source === 'sft-studio');
  const count = (code: string) => diagnostics.filter((d) => codeOf(d) === code).length;
  const errors = diagnostics.filter((d) => d.severity === vscode.DiagnosticSeverity.Error).length;
  const warnings = diagnostics.filter((d) => d.severity === vscode.DiagnosticSeverity.Warning).length;
  const { samples, tokens: oneEpoch } = datasetFacts(doc);
  let tokens = oneEpoch;
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
