/**
 * Hyper-parameters pre-filled from the backend, the model and the dataset's size, each with the
 * reason it was chosen (shown on hover in the tuning panel and in `sft-studio tune --help`).
 * The numbers follow the guides this product is built on: Google's Gemini tuning recommendations
 * for Vertex AI, and common LoRA practice for local runs.
 */
import type { RunConfig } from './runs';
import type { FormValues } from '../shared/panelProtocol';

export const TINY_MODEL = 'builtin:tiny';

export interface Advice {
  readonly config: Omit<RunConfig, 'train_file'>;
  /** Why each value was chosen, by config key. */
  readonly why: Readonly<Record<string, string>>;
}

/**
 * A local run, from the model and the number of training samples: learning rate 2e-4, 1–3 epochs
 * (fewer on more data), batch 4 with gradient accumulation 4, 3 % warm-up, cosine schedule.
 * builtin:tiny, which learns from scratch on a CPU, gets its own.
 */
export function localAdvice(model: string, trainSamples: number, hasValidationFile: boolean): Advice {
  const why: Record<string, string> = {};
  const validation_split = hasValidationFile || trainSamples < 20 ? 0 : 0.1;
  why.validation_split = hasValidationFile
    ? 'a validation file is paired with the dataset'
    : trainSamples < 20
      ? 'too few samples to hold some out; pair a validation file to watch for overfitting'
      : 'no validation file: 10 % of the samples are held out to watch the validation loss';
  if (model === TINY_MODEL) {
    const epochs = Math.min(30, Math.max(2, Math.round((60 * 8) / Math.max(1, trainSamples))));
    why.learning_rate = 'builtin:tiny learns from scratch, so it takes a larger step than an adapter on a pretrained model';
    why.epochs = 'about 60 steps: enough for its loss to fall, about a minute on a CPU';
    why.method = 'builtin:tiny is small enough to train all of it';
    why.batch_size = 'batch 8, no accumulation: quick steps on a CPU';
    return {
      config: { model, method: 'full', learning_rate: 1e-3, epochs, batch_size: 8, gradient_accumulation: 1, warmup_ratio: 0.03, max_length: 1024, validation_split, early_stopping_patience: 0, seed: 42 },
      why,
    };
  }
  const epochs = trainSamples < 1000 ? 3 : trainSamples < 10000 ? 2 : 1;
  why.learning_rate = '2e-4 is the usual LoRA learning rate; lower it if the loss jumps';
  why.epochs = `${trainSamples.toLocaleString('en-US')} samples: ${epochs} epoch${epochs === 1 ? '' : 's'} (1–3, fewer on more data, to avoid overfitting)`;
  why.batch_size = 'batch 4 with gradient accumulation 4: an effective batch of 16 that fits a single GPU';
  why.gradient_accumulation = why.batch_size;
  why.warmup_ratio = '3 % warm-up, then a cosine schedule';
  why.method = 'LoRA on every linear layer: a small adapter, most of the quality of full fine-tuning';
  why.early_stopping_patience = 'stop when the validation loss has not improved for 3 evaluations';
  return {
    config: {
      model, method: 'lora', lora: { rank: 16, alpha: 32, dropout: 0.05, target_modules: 'all-linear' }, learning_rate: 2e-4, epochs, batch_size: 4, gradient_accumulation: 4,
      warmup_ratio: 0.03, max_length: 2048, validation_split, early_stopping_patience: 3, seed: 42,
    },
    why,
  };
}

export const GEMINI_MODELS = ['gemini-2.5-flash', 'gemini-2.5-pro', 'gemini-2.5-flash-lite'] as const;
export type GeminiModel = (typeof GEMINI_MODELS)[number];

/** Vertex AI supervised tuning: `undefined` leaves the service's default. */
export interface VertexHyperParameters {
  readonly epochCount: number | undefined;
  readonly learningRateMultiplier: number | undefined;
  readonly adapterSize: 1 | 2 | 4 | 8 | 16;
}

export interface VertexAdvice {
  readonly hyperParameters: VertexHyperParameters;
  readonly why: Readonly<Record<keyof VertexHyperParameters, string>>;
}

/**
 * Google's recommendations for Gemini 2.5: Pro with fewer than 1,000 samples 20 epochs,
 * multiplier 10, adapter 4; with 1,000 or more 10 epochs, the default multiplier (or 5), adapter
 * 4. Flash with fewer than 1,000 samples the default epochs, multiplier 10, adapter 4; with 1,000
 * or more the defaults and adapter 8. Flash-Lite has no published table: Flash's is used.
 */
export function vertexAdvice(model: string, trainSamples: number): VertexAdvice {
  const few = trainSamples < 1000;
  const n = `${trainSamples.toLocaleString('en-US')} samples`;
  if (model === 'gemini-2.5-pro') {
    return few
      ? { hyperParameters: { epochCount: 20, learningRateMultiplier: 10, adapterSize: 4 }, why: { epochCount: `${n} (< 1,000) on Gemini 2.5 Pro: 20 epochs, so the model sees the few examples enough times`, learningRateMultiplier: 'few samples: learn faster (multiplier 10)', adapterSize: 'adapter size 4 for Gemini 2.5 Pro' } }
      : { hyperParameters: { epochCount: 10, learningRateMultiplier: undefined, adapterSize: 4 }, why: { epochCount: `${n} (≥ 1,000) on Gemini 2.5 Pro: 10 epochs are enough`, learningRateMultiplier: 'more data needs no faster learning: the default (or 5)', adapterSize: 'adapter size 4 for Gemini 2.5 Pro' } };
  }
  const lite = model === 'gemini-2.5-flash-lite' ? ' (Flash-Lite follows Flash: Google publishes no table of its own)' : '';
  return few
    ? { hyperParameters: { epochCount: undefined, learningRateMultiplier: 10, adapterSize: 4 }, why: { epochCount: `${n} (< 1,000) on Gemini 2.5 Flash: the service's default epochs${lite}`, learningRateMultiplier: 'few samples: learn faster (multiplier 10)', adapterSize: 'adapter size 4 with fewer than 1,000 samples' } }
    : { hyperParameters: { epochCount: undefined, learningRateMultiplier: undefined, adapterSize: 8 }, why: { epochCount: `${n} (≥ 1,000) on Gemini 2.5 Flash: the service's defaults${lite}`, learningRateMultiplier: 'the default multiplier', adapterSize: 'adapter size 8 for Flash with 1,000 samples or more (Pro keeps 4)' } };
}

/** Run-config keys as the form names them. */
const FORM_KEY: Readonly<Record<string, keyof FormValues>> = {
  learning_rate: 'learningRate', batch_size: 'batchSize', gradient_accumulation: 'gradientAccumulation', warmup_ratio: 'warmupRatio',
  early_stopping_patience: 'earlyStoppingPatience', validation_split: 'validationSplit', max_length: 'maxLength', epochs: 'epochs', method: 'method',
};

export interface FormAdvice {
  readonly values: Partial<FormValues>;
  /** Why, by form field. */
  readonly why: Readonly<Partial<Record<keyof FormValues, string>>>;
}

/** A local run's advice as form values. */
export function localFormAdvice(a: Advice): FormAdvice {
  const c = a.config;
  const values: Partial<FormValues> = {
    epochs: c.epochs, learningRate: c.learning_rate, batchSize: c.batch_size, gradientAccumulation: c.gradient_accumulation, maxLength: c.max_length,
    method: c.method, loraRank: c.lora?.rank ?? 16, warmupRatio: c.warmup_ratio, earlyStoppingPatience: c.early_stopping_patience, validationSplit: c.validation_split,
  };
  const why: Partial<Record<keyof FormValues, string>> = {};
  for (const [k, v] of Object.entries(a.why)) {
    const field = FORM_KEY[k];
    if (field !== undefined) why[field] = v;
  }
  return { values: Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<FormValues>, why };
}

/** Vertex AI's advice as form values (empty fields leave the service's defaults). */
export function vertexFormAdvice(a: VertexAdvice): FormAdvice {
  const h = a.hyperParameters;
  return { values: { epochCount: h.epochCount ?? null, learningRateMultiplier: h.learningRateMultiplier ?? null, adapterSize: h.adapterSize }, why: a.why };
}
