/**
 * What the tuning panel's form and lists mean in run terms: the run config a form asks for, and
 * the hard samples a run's events point at. Plain functions, tested without VS Code.
 */
import type { RunConfig, SampleLossEvent, TrainerEvent } from './runs';
import type { FormValues, HardSampleRow } from '../shared/panelProtocol';

/** The hard samples of a run: its highest per-sample losses on the training file, with a preview of each line. */
export function hardSampleRows(events: readonly TrainerEvent[], datasetPath: string, text: string | undefined, limit = 20): HardSampleRow[] {
  const losses = events.filter((e): e is SampleLossEvent => e.event === 'sample_loss' && e.file === 'train' && typeof e.loss === 'number');
  const latestStage = losses.some((e) => e.stage === 'after_training') ? 'after_training' : 'score';
  const scored = losses.filter((e) => (e.stage ?? 'score') === latestStage).sort((a, b) => (b.loss ?? 0) - (a.loss ?? 0));
  const lines = text?.split('\n') ?? [];
  return scored.slice(0, limit).map((e, i) => ({
    file: datasetPath, line: e.line, loss: e.loss ?? 0, percentile: (i + 1) / scored.length, preview: (lines[e.line - 1] ?? '').slice(0, 200),
  }));
}

export function configFromForm(form: FormValues): Omit<RunConfig, 'train_file' | 'validation_file' | 'output_dir'> {
  return {
    mode: 'train', model: form.model.trim(), method: form.method,
    lora: { rank: form.loraRank, alpha: 2 * form.loraRank, dropout: 0.05, target_modules: 'all-linear' },
    epochs: form.epochs, learning_rate: form.learningRate, batch_size: form.batchSize, gradient_accumulation: form.gradientAccumulation,
    max_length: form.maxLength, warmup_ratio: form.warmupRatio, packing: form.packing, early_stopping_patience: form.earlyStoppingPatience,
    validation_split: form.validationFile === '' ? form.validationSplit : 0, seed: 42,
  };
}

