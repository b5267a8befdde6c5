/**
 * What the tuning panel's form and lists mean in run terms: the run config a form asks for, and
 * the hard samples a run's events point at. Plain functions, tested without VS Code.
 */
import { rankSampleLosses, topPercentOf } from './hardSamples';
import type { RunConfig, TrainerEvent } from './runs';
import type { FormValues, HardSampleRow } from '../shared/panelProtocol';

export function configFromForm(form: FormValues): Omit<RunConfig, 'train_file' | 'validation_file' | 'output_dir'> {
  return {
    mode: 'train', model: form.model.trim(), method: form.method,
    lora: { rank: form.loraRank, alpha: 2 * form.loraRank, dropout: 0.05, target_modules: 'all-linear' },
    epochs: form.epochs, learning_rate: form.learningRate, batch_size: form.batchSize, gradient_accumulation: form.gradientAccumulation,
    max_length: form.maxLength, warmup_ratio: form.warmupRatio, packing: form.packing, early_stopping_patience: form.earlyStoppingPatience,
    validation_split: form.validationFile === '' ? form.validationSplit : 0, seed: 42,
  };
}

/**
 * The hard samples of a run: its highest per-sample losses on the training file, ranked as the
 * editor's marks rank them ("top k %"), with a preview of each line.
 */
export function hardSampleRows(events: readonly TrainerEvent[], datasetPath: string, text: string | undefined, limit = 20): HardSampleRow[] {
  const lines = text?.split('\n') ?? [];
  return rankSampleLosses(events, 'train').samples.slice(0, limit).map((s) => ({
    file: datasetPath, line: s.line, loss: s.loss, topPercent: topPercentOf(s), preview: (lines[s.line - 1] ?? '').slice(0, 200),
  }));
}
