/**
 * sft-studio tune: a local tuning run from the terminal, writing the same run folder as the
 * extension (.sft-studio/runs/<id>/) and showing a progress bar.
 */
import { SingleBar } from 'cli-progress';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { FORMAT_IDS, isFormatId, type FormatId } from '../core/formats';
import { pairedValidationFile } from '../core/leakage';
import { localAdvice } from '../core/advice';
import type { RunConfig, RunSummary, TrainerEvent } from '../core/runs';
import { bundledTrainerDir, launch, prepareRun, RunSetupError } from '../backends/local/runner';
import { normalizeDataset } from '../core/trainingData';

export const TUNE_USAGE = `Usage: sft-studio tune <train.jsonl> --backend local --model <builtin:tiny|HF id|folder> [options]

Tunes a model on a dataset with the local trainer (Python, PyTorch; transformers and
peft for Hugging Face models) and keeps the run in --runs-dir/<id>/: config, data,
content hashes, events.jsonl, trainer.log, summary.json, adapter/, checkpoints/.

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
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    write(TUNE_USAGE + '\n');
    return 0;
  }
  const [trainFile, ...extra] = positionals;
  if (trainFile === undefined || extra.length > 0) throw new TuneUsageError('tune takes exactly one training file');
  if (values.backend !== 'local') throw new TuneUsageError(`--backend ${values.backend} is not available yet; use --backend local`);
  if (values.model === undefined) throw new TuneUsageError('give the model with --model (builtin:tiny trains a small model from scratch, on a CPU, with no download)');
  if (values.mode !== 'train' && values.mode !== 'score') throw new TuneUsageError('--mode must be train or score');
  const pin = values['pin-format'];
  if (pin !== undefined && !isFormatId(pin)) throw new TuneUsageError(`--pin-format must be one of ${FORMAT_IDS.join(', ')}`);
  const validationFile = values['no-validation'] ? undefined : (values.validation ?? pairedValidation(trainFile));
  if (!existsSync(trainFile)) throw new TuneUsageError(`no such file: ${trainFile}`);
  if (validationFile !== undefined && !existsSync(validationFile)) throw new TuneUsageError(`no such file: ${validationFile}`);
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
  const tty = process.stderr.isTTY === true && !values.json;
  const bar = tty ? new SingleBar({ format: '{bar} {value}/{total} steps | loss {loss} | eval {eval} | acc {acc} | ETA {eta_formatted}', hideCursor: true, clearOnComplete: false, stream: process.stderr }) : undefined;
  let lastEval: number | null = null, lastAcc: number | null = null, lastLoss: number | null = null, lastPrintedTenth = -1;
  const onEvent = (e: TrainerEvent) => {
    if (values.json) write(JSON.stringify(e) + '\n');
    switch (e.event) {
      case 'started':
        err(`device ${e.device}, model ${e.model}${e.method ? `, ${e.method}` : ''}${e.parameters ? `, ${e.parameters.trainable.toLocaleString('en-US')} of ${e.parameters.total.toLocaleString('en-US')} parameters trained` : ''}`);
        if (e.total_steps > 0) bar?.start(e.total_steps, 0, { loss: '–', eval: '–', acc: '–' });
        break;
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
  let summary: RunSummary;
  try {
    summary = await launch(run, { python, trainerDir: process.env.SFT_STUDIO_TRAINER_DIR ?? bundledTrainerDir(), signal: controller.signal, onEvent });
  } finally {
    bar?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const lossText = summary.bestEvalLoss !== null ? `best eval loss ${fmt(summary.bestEvalLoss)}` : `train loss ${fmt(summary.lastTrainLoss)}`;
  err(`${summary.status}: ${summary.steps} step${summary.steps === 1 ? '' : 's'}, ${lossText}${summary.adapter ? `, adapter ${summary.adapter}` : ''}${summary.sampleLosses ? `, ${summary.sampleLosses} sample losses in events.jsonl` : ''}`);
  return summary.status === 'completed' ? 0 : summary.status === 'cancelled' ? 130 : 1;
}
