/**
 * sft-studio evaluate: a Gemini base model on Vertex AI over a file's validation samples, scored
 * against each sample's last model turn; the same run folder as the editor's "Evaluate Base
 * Model", the mean scores and the worst samples on stdout (or JSON).
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { vertexGenerate } from '../backends/vertex/generate';
import { METRICS, METRIC_LABELS, type Metric } from '../core/evalMetrics';
import { EvaluationSetupError, prepareEvaluation, readEvalInput, runEvaluation } from '../core/evaluate';
import { FORMAT_IDS, isFormatId, type FormatId } from '../core/formats';
import { pairedValidationFile } from '../core/leakage';
import type { SampleLossEvent, TrainerEvent } from '../core/runs';
import { firstWords, scoresText } from '../core/hardSamples';

export const EVALUATE_USAGE = `Usage: sft-studio evaluate <validation.jsonl> --model gemini-2.5-flash [options]

Runs a base model on Vertex AI over the samples of a dataset file (a training file's
validation partner when it has one, e.g. validation.jsonl beside train.jsonl): each
prompt is the system instruction and every turn before the sample's last model turn,
and the answer is scored against that last model turn: exact match and token F1
(SQuAD normalisation), ROUGE-L, and with --judge a second model's 1-5 grade. The
evaluation is kept in --runs-dir/<id>/ like a tuning run (events.jsonl has each answer).

Options:
  --model ID                  the base model (gemini-2.5-flash, gemini-2.5-pro, ...)
  --project P  --location L   Google Cloud project and region (default: gcloud's config)
  --api-endpoint URL          Vertex AI API root (default https://L-aiplatform.googleapis.com)
  --access-token T            an OAuth access token (default: $SFT_STUDIO_ACCESS_TOKEN,
                              else Application Default Credentials)
  --judge MODEL               also grade each answer 1-5 with this model
  --metric M                  the score that decides right or wrong: ${METRICS.join(', ')}
                              (default: judge with --judge, else rouge_l)
  --threshold X               right at or above X in 0-1 (default: exact_match 1, f1 0.5,
                              rouge_l 0.5, judge 0.75 = 4 of 5)
  --concurrency N             calls at a time (default 4)
  --worst N                   how many of the worst samples to list (default 10)
  --pin-format FORMAT         read the dataset as this format (${FORMAT_IDS.join(', ')})
  --runs-dir DIR              where runs are kept (default: .sft-studio/runs)
  --json                      print the summary and every sample's result as JSON

Exit status: 0 completed, 1 failed, 2 bad usage, 130 cancelled.`;

export class EvaluateUsageError extends Error {}

const fmt = (v: number | null): string => (v === null ? '–' : v.toFixed(3));

export async function runEvaluate(argv: string[], write: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      project: { type: 'string' },
      location: { type: 'string' },
      'api-endpoint': { type: 'string' },
      'access-token': { type: 'string' },
      judge: { type: 'string' },
      metric: { type: 'string' },
      threshold: { type: 'string' },
      concurrency: { type: 'string', default: '4' },
      worst: { type: 'string', default: '10' },
      'pin-format': { type: 'string' },
      'runs-dir': { type: 'string', default: path.join('.sft-studio', 'runs') },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    write(EVALUATE_USAGE + '\n');
    return 0;
  }
  const [given, ...extra] = positionals;
  if (given === undefined || extra.length > 0) throw new EvaluateUsageError('evaluate takes exactly one dataset file');
  if (values.model === undefined) throw new EvaluateUsageError('give the base model with --model (e.g. gemini-2.5-flash)');
  if (!existsSync(given)) throw new EvaluateUsageError(`no such file: ${given}`);
  const pin = values['pin-format'];
  if (pin !== undefined && !isFormatId(pin)) throw new EvaluateUsageError(`--pin-format must be one of ${FORMAT_IDS.join(', ')}`);
  const metric = values.metric;
  if (metric !== undefined && !(METRICS as readonly string[]).includes(metric)) throw new EvaluateUsageError(`--metric must be one of ${METRICS.join(', ')}`);
  const threshold = values.threshold !== undefined ? Number(values.threshold) : undefined;
  if (threshold !== undefined && !(threshold >= 0 && threshold <= 1)) throw new EvaluateUsageError(`--threshold must be a number from 0 to 1, not "${values.threshold}"`);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new EvaluateUsageError(`--concurrency must be a whole number of 1 or more, not "${values.concurrency}"`);
  const worst = Number(values.worst);
  if (!Number.isInteger(worst) || worst < 0) throw new EvaluateUsageError(`--worst must be a whole number, not "${values.worst}"`);
  const paired = pairedValidationFile(given, existsSync);
  const file = paired ?? given;
  const err = (s: string) => process.stderr.write(s + '\n');
  // The file first: a dataset with nothing to evaluate is said so without asking for credentials.
  let input;
  try {
    input = readEvalInput(file, pin as FormatId | undefined);
  } catch (e) {
    if (e instanceof EvaluationSetupError) throw new EvaluateUsageError(e.message);
    throw e;
  }

  let target;
  try {
    target = await vertexGenerate({
      ...(values.project !== undefined ? { project: values.project } : {}),
      ...(values.location !== undefined ? { location: values.location } : {}),
      ...(values['api-endpoint'] !== undefined ? { apiEndpoint: values['api-endpoint'] } : {}),
      ...(values['access-token'] !== undefined ? { accessToken: values['access-token'] } : {}),
    }, { onRetry: (n) => err(`retrying ${n.method} ${n.url} in ${(n.delayMs / 1000).toFixed(1)} s (${n.reason})`) });
  } catch (e) {
    err(`sft-studio: ${(e as Error).message}`);
    return 2;
  }
  let prep;
  try {
    prep = prepareEvaluation({
      file, ...(paired !== undefined ? { trainFile: given } : {}), ...(pin !== undefined ? { pinnedFormat: pin as FormatId } : {}),
      runsDir: values['runs-dir'], origin: 'cli', model: values.model,
      ...(values.judge !== undefined ? { judgeModel: values.judge } : {}),
      ...(metric !== undefined ? { metric: metric as Metric } : {}),
      ...(threshold !== undefined ? { threshold } : {}),
      concurrency, project: target.resolved.project, location: target.resolved.location, apiEndpoint: target.resolved.apiEndpoint,
    }, undefined, input);
  } catch (e) {
    if (e instanceof EvaluationSetupError) throw new EvaluateUsageError(e.message);
    throw e;
  }
  err(`run ${prep.id} in ${prep.dir}`);
  err(`evaluating ${values.model} on ${file} (${prep.samples.length} samples)${values.judge !== undefined ? `, judged by ${values.judge}` : ''}`);
  for (const s of prep.skipped) err(`${file}:${s.line}: not evaluated: ${s.reason}`);
  const controller = new AbortController();
  const onSignal = () => {
    err('cancelling…');
    controller.abort(new Error('cancelled'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const results: SampleLossEvent[] = [];
  let lastTenth = -1;
  const onEvent = (e: TrainerEvent) => {
    if (e.event === 'sample_loss') results.push(e);
    else if (e.event === 'progress') {
      const tenth = Math.floor((10 * e.step) / Math.max(1, e.total_steps));
      if (tenth !== lastTenth) {
        lastTenth = tenth;
        err(`${e.step}/${e.total_steps} samples`);
      }
    } else if (e.event === 'warning') err(`warning: ${e.text}`);
    else if (e.event === 'error') err(`error: ${e.message}`);
  };
  let summary;
  try {
    summary = await runEvaluation(prep, { generate: target.generate, signal: controller.signal, onEvent });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const ev = summary.evaluation;
  const ranked = results.filter((r) => r.evaluation !== undefined && r.loss !== null).sort((a, b) => (b.loss as number) - (a.loss as number) || a.line - b.line);
  if (values.json) {
    write(JSON.stringify({ run: prep.id, dir: prep.dir, file, model: values.model, judge: values.judge ?? null, status: summary.status, summary: ev ?? null, samples: results.sort((a, b) => a.line - b.line) }, null, 2) + '\n');
  } else if (ev !== undefined) {
    write(`${values.model} on ${file}: ${ev.answered} answered, ${ev.wrong} wrong (${METRIC_LABELS[ev.metric]} < ${prep.config.threshold}), ${ev.failed} without an answer${ev.unscored > 0 ? `, ${ev.unscored} without a judge's score` : ''}\n`);
    write(`mean exact match ${fmt(ev.exact_match)}, F1 ${fmt(ev.f1)}, ROUGE-L ${fmt(ev.rouge_l)}${ev.judge !== null ? `, judge ${ev.judge.toFixed(2)}/5` : ''}\n`);
    const shown = ranked.filter((r) => r.evaluation?.correct === false).slice(0, worst);
    if (shown.length > 0) write(`\nworst samples:\n`);
    for (const r of shown) {
      const e = r.evaluation!;
      write(`${file}:${r.line}: ${scoresText(e)}\n  reference: ${firstWords(e.reference, 100)}\n  answer:    ${firstWords(e.prediction, 100)}\n`);
    }
  }
  if (summary.status === 'cancelled') return 130;
  return summary.status === 'completed' ? 0 : 1;
}
