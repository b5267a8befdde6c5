/**
 * sft-studio tune: a local tuning run from the terminal, writing the same run folder as the
 * extension (.sft-studio/runs/<id>/) and showing a progress bar.
 */
import { jobStateWord } from '../core/jobState';
import { SingleBar } from 'cli-progress';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { FORMAT_IDS, isFormatId, type FormatId } from '../core/formats';
import { pairedValidationFile } from '../core/leakage';
import { localAdvice } from '../core/advice';
import type { RunConfig, RunSummary, TrainerEvent } from '../core/runs';
import { bundledTrainerDir, launch, prepareRun, RunSetupError } from '../backends/local/runner';
import { checkVertexAccess, CredentialsError, VertexBackend, VertexSetupError, type VertexSettings } from '../backends/vertex';
import { normalizeDataset } from '../core/trainingData';

export const TUNE_USAGE = `Usage: sft-studio tune <train.jsonl> --backend local --model <builtin:tiny|HF id|folder> [options]
       sft-studio tune <train.jsonl> --backend vertex --bucket gs://BUCKET/prefix --model gemini-2.5-flash [options]

Tunes a model on a dataset with the local trainer (Python, PyTorch; transformers and
peft for Hugging Face models), or as a Vertex AI supervised tuning job, and keeps the
run in --runs-dir/<id>/: config, data, content hashes, events.jsonl, summary.json (local:
trainer.log, adapter/, checkpoints/; Vertex AI: vertex.log, the job's name in run.json).

Options:
  --validation FILE           validation samples (default: the dataset's conventional
                              partner, e.g. validation.jsonl beside train.jsonl)
  --no-validation             do not pair a validation file
  --validation-split F        hold out this fraction when there is no validation file
  --epochs N  --max-steps N  --learning-rate X  --batch-size N  --gradient-accumulation N
  --max-length N              tokens; longer samples are left out and listed, never cut
  --method lora|qlora|full    --lora-rank N  --lora-alpha X
  --packing                   pack samples into full rows (attention stays within a sample)
  --gradient-checkpointing    --eval-steps N  --patience N (early stopping)  --seed N
  --resume RUN_OR_CHECKPOINT  continue a run from its last checkpoint
  --mode train|score          score: one loss per sample with the model as it is (hard samples)
  --ifd                       score mode: also the instruction-following difficulty ratio
  --adapter DIR               score mode: score with a trained adapter on the model
  --device auto|cpu|cuda|mps  --precision auto|bf16|fp32
  --pin-format FORMAT         read the dataset as this format (${FORMAT_IDS.join(', ')})
  --python PATH               interpreter (default: $SFT_STUDIO_PYTHON, else python3)
  --runs-dir DIR              where runs are kept (default: .sft-studio/runs)
  --json                      print every trainer event as a JSON line on stdout

Vertex AI (--backend vertex; Gemini models; the dataset is converted to Vertex's format
when it is in another one, checked against Vertex's limits, and uploaded under its
content hash, once):
  --project P  --location L   default: the gcloud config (core/project, compute/region)
  --bucket gs://BUCKET/prefix where the data is uploaded
  --epochs N  --learning-rate-multiplier X  --adapter-size 1|2|4|8|16|32
                              left out: the service's defaults
  --api-endpoint URL          Vertex AI API root (private endpoints)
  --storage-endpoint URL      Cloud Storage API root
  --token-endpoint URL        OAuth token URL for user credentials (private access)
  --poll-interval SECONDS     how often the job is read while it changes (default 30)
  --access-token T            an access token (gcloud auth print-access-token), also
                              $SFT_STUDIO_ACCESS_TOKEN; default: Application Default
                              Credentials (gcloud auth application-default login, or
                              GOOGLE_APPLICATION_CREDENTIALS)
  Ctrl-C cancels the job.

Defaults follow the model and the dataset's size (LoRA: learning rate 2e-4, 1-3 epochs,
batch 4 with gradient accumulation 4, 3 % warm-up, cosine schedule).
Exit status: 0 completed, 1 failed, 2 bad usage, 130 cancelled.`;

export class TuneUsageError extends Error {}

const num = (name: string, v: string | undefined, integer = false): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new TuneUsageError(`--${name} must be ${integer ? 'an integer' : 'a number'}, not "${v}"`);
  return n;
};

function pairedValidation(train: string): string | undefined {
  const found = pairedValidationFile(train, existsSync);
  // Shown as the training file was given: relative when it was.
  return found !== undefined && !path.isAbsolute(train) ? path.relative(process.cwd(), found) : found;
}

const fmt = (n: number | null | undefined, digits = 3) => (n === null || n === undefined ? '–' : n.toFixed(digits));

export async function runTune(argv: string[], write: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      backend: { type: 'string', default: 'local' },
      model: { type: 'string' },
      validation: { type: 'string' },
      'no-validation': { type: 'boolean', default: false },
      'validation-split': { type: 'string' },
      epochs: { type: 'string' },
      'max-steps': { type: 'string' },
      'learning-rate': { type: 'string' },
      'batch-size': { type: 'string' },
      'gradient-accumulation': { type: 'string' },
      'max-length': { type: 'string' },
      method: { type: 'string' },
      'lora-rank': { type: 'string' },
      'lora-alpha': { type: 'string' },
      packing: { type: 'boolean', default: false },
      'gradient-checkpointing': { type: 'boolean', default: false },
      'eval-steps': { type: 'string' },
      patience: { type: 'string' },
      seed: { type: 'string' },
      resume: { type: 'string' },
      mode: { type: 'string', default: 'train' },
      ifd: { type: 'boolean', default: false },
      adapter: { type: 'string' },
      device: { type: 'string' },
      precision: { type: 'string' },
      'pin-format': { type: 'string' },
      python: { type: 'string' },
      'runs-dir': { type: 'string', default: path.join('.sft-studio', 'runs') },
      json: { type: 'boolean', default: false },
      project: { type: 'string' },
      location: { type: 'string' },
      bucket: { type: 'string' },
      'learning-rate-multiplier': { type: 'string' },
      'adapter-size': { type: 'string' },
      'api-endpoint': { type: 'string' },
      'storage-endpoint': { type: 'string' },
      'token-endpoint': { type: 'string' },
      'poll-interval': { type: 'string' },
      'access-token': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    write(TUNE_USAGE + '\n');
    return 0;
  }
  const [trainFile, ...extra] = positionals;
  if (trainFile === undefined || extra.length > 0) throw new TuneUsageError('tune takes exactly one training file');
  if (values.backend !== 'local' && values.backend !== 'vertex') throw new TuneUsageError(`--backend must be local or vertex, not ${values.backend}`);
  const vertexOnly = ['project', 'location', 'bucket', 'learning-rate-multiplier', 'adapter-size', 'api-endpoint', 'storage-endpoint', 'token-endpoint', 'poll-interval', 'access-token'] as const;
  const localOnly = ['validation-split', 'max-steps', 'learning-rate', 'batch-size', 'gradient-accumulation', 'max-length', 'method', 'lora-rank', 'lora-alpha', 'eval-steps', 'patience', 'seed', 'resume', 'adapter', 'device', 'precision', 'python'] as const;
  const misplaced = values.backend === 'vertex' ? localOnly.filter((k) => values[k] !== undefined) : vertexOnly.filter((k) => values[k] !== undefined);
  if (misplaced.length > 0) throw new TuneUsageError(`--${misplaced[0]} is for --backend ${values.backend === 'vertex' ? 'local' : 'vertex'} only`);
  if (values.backend === 'vertex' && (values.mode !== 'train' || values.ifd || values.packing || values['gradient-checkpointing'])) throw new TuneUsageError('--backend vertex tunes only (no --mode score, --ifd, --packing or --gradient-checkpointing)');
  if (values.model === undefined) {
    throw new TuneUsageError(values.backend === 'vertex' ? 'give the base model with --model (e.g. gemini-2.5-flash)' : 'give the model with --model (builtin:tiny trains a small model from scratch, on a CPU, with no download)');
  }
  if (values.mode !== 'train' && values.mode !== 'score') throw new TuneUsageError('--mode must be train or score');
  const pin = values['pin-format'];
  if (pin !== undefined && !isFormatId(pin)) throw new TuneUsageError(`--pin-format must be one of ${FORMAT_IDS.join(', ')}`);
  const validationFile = values['no-validation'] ? undefined : (values.validation ?? pairedValidation(trainFile));
  if (!existsSync(trainFile)) throw new TuneUsageError(`no such file: ${trainFile}`);
  if (validationFile !== undefined && !existsSync(validationFile)) throw new TuneUsageError(`no such file: ${validationFile}`);
  if (values.backend === 'vertex') {
    return runVertexTune({
      trainFile, validationFile, pinnedFormat: pin as FormatId | undefined, runsDir: values['runs-dir'], model: values.model, json: values.json, write,
      epochs: num('epochs', values.epochs, true), learningRateMultiplier: num('learning-rate-multiplier', values['learning-rate-multiplier']), adapterSize: num('adapter-size', values['adapter-size'], true),
      settings: {
        bucket: values.bucket ?? '',
        ...(values.project !== undefined ? { project: values.project } : {}),
        ...(values.location !== undefined ? { location: values.location } : {}),
        ...(values['api-endpoint'] !== undefined ? { apiEndpoint: values['api-endpoint'] } : {}),
        ...(values['storage-endpoint'] !== undefined ? { storageEndpoint: values['storage-endpoint'] } : {}),
        ...(values['token-endpoint'] !== undefined ? { tokenEndpoint: values['token-endpoint'] } : {}),
        ...(values['access-token'] !== undefined ? { accessToken: values['access-token'] } : {}),
        ...(values['poll-interval'] !== undefined ? { pollIntervalSeconds: num('poll-interval', values['poll-interval']) } : {}),
      },
    });
  }
  const samples = normalizeDataset(readFileSync(trainFile, 'utf8'), pin as FormatId | undefined).lines.length;
  const advice = localAdvice(values.model, samples, validationFile !== undefined);
  const given: Partial<RunConfig> = {
    mode: values.mode,
    epochs: num('epochs', values.epochs),
    max_steps: num('max-steps', values['max-steps'], true),
    learning_rate: num('learning-rate', values['learning-rate']),
    batch_size: num('batch-size', values['batch-size'], true),
    gradient_accumulation: num('gradient-accumulation', values['gradient-accumulation'], true),
    max_length: num('max-length', values['max-length'], true),
    validation_split: num('validation-split', values['validation-split']),
    eval_steps: num('eval-steps', values['eval-steps'], true),
    early_stopping_patience: num('patience', values.patience, true),
    seed: num('seed', values.seed, true),
    method: values.method as RunConfig['method'],
    device: values.device as RunConfig['device'],
    precision: values.precision as RunConfig['precision'],
    resume_from: values.resume !== undefined ? path.resolve(values.resume) : undefined,
    adapter: values.adapter !== undefined ? path.resolve(values.adapter) : undefined,
    ...(values.packing ? { packing: true } : {}),
    ...(values['gradient-checkpointing'] ? { gradient_checkpointing: true } : {}),
    ...(values.ifd ? { ifd: true } : {}),
  };
  const lora = { ...(advice.config.lora ?? {}) };
  const rank = num('lora-rank', values['lora-rank'], true);
  const alpha = num('lora-alpha', values['lora-alpha']);
  if (rank !== undefined) lora.rank = rank;
  if (alpha !== undefined) lora.alpha = alpha;
  const config = { ...advice.config, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)), ...(Object.keys(lora).length > 0 ? { lora } : {}) } as Omit<RunConfig, 'train_file'>;
  const python = values.python ?? process.env.SFT_STUDIO_PYTHON ?? 'python3';
  let run;
  try {
    run = prepareRun({ trainFile, validationFile, pinnedFormat: pin as FormatId | undefined, runsDir: values['runs-dir'], config, python, origin: 'cli' });
  } catch (err) {
    if (err instanceof RunSetupError) throw new TuneUsageError(err.message);
    throw err;
  }
  const err = (s: string) => process.stderr.write(s + '\n');
  err(`run ${run.id} in ${run.dir}`);
  err(`training on ${trainFile} (${run.record.dataset.train.samples} samples)${validationFile ? `, validating on ${validationFile} (${run.record.dataset.validation?.samples ?? 0})` : ''}`);
  for (const s of run.record.dataset.train.skipped) err(`${trainFile}:${s.line}: left out: ${s.reason}`);
  for (const s of run.record.dataset.train.lossy) err(`${trainFile}:${s.line}: trained without ${s.reason}`);
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts === 1) err('cancelling: the trainer saves a checkpoint and stops…');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const printer = eventPrinter(values.json, write);
  let summary: RunSummary;
  try {
    summary = await launch(run, { python, trainerDir: process.env.SFT_STUDIO_TRAINER_DIR ?? bundledTrainerDir(), signal: controller.signal, onEvent: printer.onEvent });
  } finally {
    printer.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const lossText = summary.bestEvalLoss !== null ? `best eval loss ${fmt(summary.bestEvalLoss)}` : `train loss ${fmt(summary.lastTrainLoss)}`;
  err(`${summary.status}: ${summary.steps} step${summary.steps === 1 ? '' : 's'}, ${lossText}${summary.adapter ? `, adapter ${summary.adapter}` : ''}${summary.sampleLosses ? `, ${summary.sampleLosses} sample losses in events.jsonl` : ''}`);
  return summary.status === 'completed' ? 0 : summary.status === 'cancelled' ? 130 : 1;
}

/** Progress on stderr (a bar on a terminal, a line per tenth otherwise), and with --json every event on stdout. */
function eventPrinter(json: boolean, write: (s: string) => void): { onEvent: (e: TrainerEvent) => void; stop: () => void } {
  const err = (s: string) => process.stderr.write(s + '\n');
  const tty = process.stderr.isTTY === true && !json;
  const bar = tty ? new SingleBar({ format: '{bar} {value}/{total} steps | loss {loss} | eval {eval} | acc {acc} | ETA {eta_formatted}', hideCursor: true, clearOnComplete: false, stream: process.stderr }) : undefined;
  let barStarted = false;
  let lastEval: number | null = null, lastAcc: number | null = null, lastLoss: number | null = null, lastPrintedTenth = -1;
  const startBar = (total: number) => {
    if (bar === undefined || barStarted || total <= 0) return;
    barStarted = true;
    bar.start(total, 0, { loss: '–', eval: '–', acc: '–' });
  };
  const onEvent = (e: TrainerEvent) => {
    if (json) write(JSON.stringify(e) + '\n');
    switch (e.event) {
      case 'started':
        err(`device ${e.device}, model ${e.model}${e.method ? `, ${e.method}` : ''}${e.parameters ? `, ${e.parameters.trainable.toLocaleString('en-US')} of ${e.parameters.total.toLocaleString('en-US')} parameters trained` : ''}`);
        startBar(e.total_steps);
        break;
      case 'job': {
        const stats = e.data_stats;
        if (!tty || !barStarted) {
          const parts = [`job ${e.name}: ${jobStateWord(e.state)}`];
          if (stats) parts.push([stats.examples !== undefined ? `${stats.examples.toLocaleString('en-US')} examples` : '', stats.billable_tokens !== undefined ? `${stats.billable_tokens.toLocaleString('en-US')} billable tokens` : '', stats.steps !== undefined ? `${stats.steps} steps` : ''].filter(Boolean).join(', '));
          err(parts.filter(Boolean).join('; '));
        }
        if (stats?.steps !== undefined) startBar(stats.steps);
        break;
      }
      case 'metrics':
        if (e.split === 'train') lastLoss = e.loss;
        else {
          lastEval = e.loss;
          lastAcc = e.accuracy;
          if (!tty) err(`step ${e.step}: eval loss ${fmt(e.loss)}, accuracy ${fmt(e.accuracy)}`);
        }
        break;
      case 'progress': {
        bar?.update(e.step, { loss: fmt(lastLoss), eval: fmt(lastEval), acc: fmt(lastAcc) });
        const tenth = Math.floor((10 * e.step) / Math.max(1, e.total_steps));
        if (!tty && tenth !== lastPrintedTenth) {
          lastPrintedTenth = tenth;
          err(`step ${e.step}/${e.total_steps}: train loss ${fmt(lastLoss)}`);
        }
        break;
      }
      case 'warning':
        bar?.stop();
        err(`warning: ${e.text}`);
        break;
      case 'error':
        bar?.stop();
        err(`error: ${e.message}${e.hint ? `\n  ${e.hint}` : ''}`);
        break;
      default:
        break;
    }
  };
  return { onEvent, stop: () => bar?.stop() };
}

interface VertexTuneArgs {
  readonly trainFile: string;
  readonly validationFile: string | undefined;
  readonly pinnedFormat: FormatId | undefined;
  readonly runsDir: string;
  readonly model: string;
  readonly json: boolean;
  readonly write: (s: string) => void;
  readonly epochs: number | undefined;
  readonly learningRateMultiplier: number | undefined;
  readonly adapterSize: number | undefined;
  readonly settings: VertexSettings;
}

/** `tune --backend vertex`: the same run folder and progress as a local run; Ctrl-C cancels the job. */
async function runVertexTune(a: VertexTuneArgs): Promise<number> {
  const err = (s: string) => process.stderr.write(s + '\n');
  let access;
  try {
    access = await checkVertexAccess(a.settings);
  } catch (e) {
    if (e instanceof VertexSetupError) throw new TuneUsageError(e.message);
    if (e instanceof CredentialsError) {
      err(`sft-studio: ${e.message}`);
      return 1;
    }
    throw e;
  }
  const backend = new VertexBackend({ origin: 'cli', credentials: async () => access.credentials });
  let handle;
  try {
    handle = backend.start({
      trainFile: a.trainFile, validationFile: a.validationFile, runsDir: a.runsDir, config: { model: a.model },
      ...(a.pinnedFormat ? { pinnedFormat: a.pinnedFormat } : {}),
      vertex: {
        ...a.settings, model: a.model,
        ...(a.epochs !== undefined ? { epochs: a.epochs } : {}),
        ...(a.learningRateMultiplier !== undefined ? { learningRateMultiplier: a.learningRateMultiplier } : {}),
        ...(a.adapterSize !== undefined ? { adapterSize: a.adapterSize } : {}),
      },
    });
  } catch (e) {
    if (e instanceof RunSetupError) throw new TuneUsageError(e.message);
    throw e;
  }
  const record = JSON.parse(readFileSync(path.join(handle.dir, 'run.json'), 'utf8')) as { dataset: { train: { samples: number }; validation?: { samples: number } } };
  err(`run ${handle.id} in ${handle.dir}`);
  err(`training on ${a.trainFile} (${record.dataset.train.samples} samples)${a.validationFile ? `, validating on ${a.validationFile} (${record.dataset.validation?.samples ?? 0})` : ''}`);
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts === 1) {
      err('cancelling the Vertex AI tuning job… (Ctrl-C again to stop waiting)');
      handle.cancel();
    } else {
      err(`not waiting: the job may still be cancelling; see ${handle.dir}`);
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const printer = eventPrinter(a.json, a.write);
  const logs = (async () => {
    for await (const line of handle.logs()) if (!a.json) err(`vertex: ${line}`);
  })();
  let summary: RunSummary;
  try {
    for await (const e of handle.events()) printer.onEvent(e);
    summary = await handle.done;
    await logs;
  } finally {
    printer.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const lossText = summary.bestEvalLoss !== null ? `best eval loss ${fmt(summary.bestEvalLoss)}` : `train loss ${fmt(summary.lastTrainLoss)}`;
  const tuned = summary.job?.tuned_model;
  err(`${summary.status === 'running' ? 'still running at Vertex AI' : summary.status}: ${summary.steps} step${summary.steps === 1 ? '' : 's'}, ${lossText}${tuned?.model ? `, tuned model ${tuned.model}` : ''}${tuned?.endpoint ? `, endpoint ${tuned.endpoint}` : ''}`);
  return summary.status === 'completed' ? 0 : summary.status === 'cancelled' ? 130 : 1;
}
