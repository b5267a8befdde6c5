/**
 * Every message between the tuning panel (webview/) and the extension, declared once with zod:
 * the types both sides use, and the check each side runs on what arrives. Data goes by
 * postMessage and is put in the page as text, never as HTML.
 */
import * as z from 'zod';

export const PANEL_VIEW_TYPE = 'sftStudio.tuning';

const positiveInt = (what: string) => z.number({ error: `${what} must be a number` }).int(`${what} must be a whole number`).min(1, `${what} must be at least 1`);

const FormFields = z.object({
  backend: z.enum(['local', 'vertex']),
  model: z.string().trim().min(1, 'name a model: builtin:tiny, a Hugging Face id or a folder'),
  trainFile: z.string().min(1, 'choose the training file'),
  validationFile: z.string(),
  validationSplit: z.number({ error: 'the split must be a number' }).min(0, 'the split cannot be negative').max(0.5, 'hold out at most half of the samples'),
  epochs: z.number({ error: 'epochs must be a number' }).gt(0, 'epochs must be more than 0').max(100, 'at most 100 epochs'),
  learningRate: z.number({ error: 'the learning rate must be a number' }).gt(0, 'the learning rate must be more than 0').max(1, 'a learning rate above 1 diverges'),
  batchSize: positiveInt('the batch size').max(1024, 'at most 1024'),
  gradientAccumulation: positiveInt('gradient accumulation').max(1024, 'at most 1024'),
  maxLength: positiveInt('the maximum length').min(8, 'at least 8 tokens'),
  method: z.enum(['lora', 'qlora', 'full']),
  loraRank: positiveInt('the LoRA rank').max(1024, 'at most 1024'),
  warmupRatio: z.number({ error: 'warm-up must be a number' }).min(0, 'warm-up cannot be negative').max(0.5, 'warm up over at most half of the run'),
  packing: z.boolean(),
  earlyStoppingPatience: z.number({ error: 'patience must be a number' }).int('patience must be a whole number').min(0, 'patience cannot be negative'),
  learningRateMultiplier: z.number({ error: 'the multiplier must be a number' }).gt(0, 'the multiplier must be more than 0').nullable(),
  epochCount: positiveInt('the epoch count').nullable(),
  adapterSize: z.union([z.literal(1), z.literal(2), z.literal(4), z.literal(8), z.literal(16)]),
  /** Vertex AI: the Google Cloud project, region and Cloud Storage folder the data goes to. */
  project: z.string().trim(),
  location: z.string().trim(),
  bucket: z.string().trim(),
});

/** The form, as typed; each field's rule gives the sentence shown beside it. */
export const FormValues = FormFields.superRefine((v, ctx) => {
  if (v.backend !== 'vertex') return;
  if (v.project === '') ctx.addIssue({ code: 'custom', path: ['project'], message: 'name the Google Cloud project (setting sftStudio.vertex.project, or `gcloud config set project P`)' });
  if (v.location === '') ctx.addIssue({ code: 'custom', path: ['location'], message: 'name the region, e.g. us-central1' });
  if (!/^gs:\/\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](\/.*)?$/.test(v.bucket)) ctx.addIssue({ code: 'custom', path: ['bucket'], message: 'a Cloud Storage folder for the data: gs://BUCKET or gs://BUCKET/prefix' });
  if (/\s/.test(v.model)) ctx.addIssue({ code: 'custom', path: ['model'], message: 'a Gemini model id has no spaces, e.g. gemini-2.5-flash' });
});
export type FormValues = z.infer<typeof FormValues>;

const Event = z.looseObject({ event: z.enum(['started', 'progress', 'metrics', 'sample_loss', 'checkpoint', 'warning', 'finished', 'error', 'job']), time: z.string() });

export const RunRow = z.object({
  id: z.string(),
  status: z.string(),
  backend: z.string(),
  model: z.string(),
  dataset: z.string(),
  bestEvalLoss: z.number().nullable(),
  durationSeconds: z.number().nullable(),
  datasetChanged: z.boolean(),
});
export type RunRow = z.infer<typeof RunRow>;

/** `topPercent` k: fewer than k % of the scored samples have a higher loss (as the editor's marks say). */
export const HardSampleRow = z.object({ file: z.string(), line: z.number().int(), loss: z.number(), topPercent: z.number(), preview: z.string() });
export type HardSampleRow = z.infer<typeof HardSampleRow>;

export const Preflight = z.object({
  samples: z.number().int(),
  errors: z.number().int(),
  warnings: z.number().int(),
  duplicates: z.number().int(),
  leakage: z.number().int(),
  overLength: z.number().int(),
  tokens: z.number().int(),
  steps: z.number().int(),
  blocking: z.boolean(),
});
export type Preflight = z.infer<typeof Preflight>;

const TryItAnswer = z.object({ model: z.string(), text: z.string().nullable(), error: z.string().nullable() });
export type TryItAnswer = z.infer<typeof TryItAnswer>;

const Series = z.object({ runId: z.string(), label: z.string(), train: z.array(z.tuple([z.number(), z.number()])), eval: z.array(z.tuple([z.number(), z.number()])) });

/** Extension → panel. */
export const ToPanel = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('init'),
    dataset: z.object({ path: z.string(), name: z.string(), samples: z.number().int() }),
    validation: z.object({ path: z.string().nullable(), paired: z.boolean() }),
    form: FormValues,
    why: z.record(z.string(), z.string()),
    trusted: z.boolean(),
    interpreter: z.string(),
    runs: z.array(RunRow),
  }),
  z.object({ type: z.literal('preflight'), preflight: Preflight }),
  z.object({ type: z.literal('runEvents'), runId: z.string(), label: z.string(), events: z.array(Event), reset: z.boolean() }),
  z.object({ type: z.literal('log'), runId: z.string(), lines: z.array(z.string()) }),
  z.object({ type: z.literal('overfitting'), runId: z.string(), sinceStep: z.number(), bestStep: z.number(), bestEvalLoss: z.number() }),
  z.object({ type: z.literal('hardSamples'), runId: z.string(), items: z.array(HardSampleRow) }),
  z.object({ type: z.literal('runs'), runs: z.array(RunRow) }),
  z.object({ type: z.literal('compare'), series: z.array(Series) }),
  z.object({ type: z.literal('notice'), level: z.enum(['info', 'warning', 'error']), text: z.string() }),
  /** "Try it": one prompt's answers from the base model and the tuned one, or why there is none. */
  z.object({ type: z.literal('tryItResult'), runId: z.string(), prompt: z.string(), base: TryItAnswer, tuned: TryItAnswer }),
]);
export type ToPanel = z.infer<typeof ToPanel>;

/** Panel → extension. */
export const FromPanel = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('preflight'), form: FormValues }),
  z.object({ type: z.literal('start'), form: FormValues, launchAnyway: z.boolean() }),
  z.object({ type: z.literal('cancel'), runId: z.string() }),
  z.object({ type: z.literal('stopAtBest'), runId: z.string() }),
  z.object({ type: z.literal('reveal'), file: z.string(), line: z.number().int().min(1) }),
  z.object({ type: z.literal('openRun'), runId: z.string() }),
  z.object({ type: z.literal('tryIt'), runId: z.string(), prompt: z.string().trim().min(1, 'type a prompt').max(100_000) }),
]);
export type FromPanel = z.infer<typeof FromPanel>;

/** What the panel keeps across a window reload (vscode.setState), and the serializer reads. */
export const PanelState = z.object({ datasetPath: z.string(), runId: z.string().nullable() });
export type PanelState = z.infer<typeof PanelState>;

/** A message's problems in one sentence, or undefined when it is valid. */
export function messageProblem(schema: z.ZodType, value: unknown): string | undefined {
  const r = schema.safeParse(value);
  return r.success ? undefined : r.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ');
}

/** Field → sentence for the first problem of each invalid field of the form. */
export function formProblems(value: unknown): Record<string, string> {
  const r = FormValues.safeParse(value);
  const out: Record<string, string> = {};
  if (!r.success) for (const i of r.error.issues) out[String(i.path[0] ?? 'form')] ??= i.message;
  return out;
}
