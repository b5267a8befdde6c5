/**
 * A tuning job's loss and accuracy curves, read from Vertex AI TensorBoard the way Google's tuning
 * notebooks do: job.experiment is a metadata Context whose `backing_tensorboard_resource` names
 * the TensorBoard; its ExperimentRun child context names the TensorBoard run; that run's time
 * series `/train_total_loss`, `/train_fraction_of_correct_next_step_preds`, `/eval_total_loss` and
 * `/eval_fraction_of_correct_next_step_preds` are read one by one (`:read`). Points become our
 * `metrics` events, one per split and step, each emitted once however often the series are re-read.
 */
import type { MetricsEvent } from '../../core/runs';
import type { VertexClient } from './client';
import { HttpError } from './transport';

/** Series display names (with or without the leading slash) by split and measure. */
export const SERIES = {
  '/train_total_loss': { split: 'train', measure: 'loss' },
  '/train_fraction_of_correct_next_step_preds': { split: 'train', measure: 'accuracy' },
  '/eval_total_loss': { split: 'eval', measure: 'loss' },
  '/eval_fraction_of_correct_next_step_preds': { split: 'eval', measure: 'accuracy' },
} as const satisfies Record<string, { split: 'train' | 'eval'; measure: 'loss' | 'accuracy' }>;

type SeriesName = keyof typeof SERIES;

interface Context {
  readonly name?: string;
  readonly metadata?: Record<string, unknown>;
}
interface TimeSeries {
  readonly name?: string;
  readonly displayName?: string;
}
interface DataPoint {
  readonly step?: string | number;
  readonly wallTime?: string;
  readonly scalar?: { readonly value?: number };
}

export interface MetricPoint {
  readonly split: 'train' | 'eval';
  readonly measure: 'loss' | 'accuracy';
  readonly step: number;
  readonly value: number;
}

const seriesOf = (displayName: string | undefined): SeriesName | undefined => {
  if (displayName === undefined) return undefined;
  const key = (displayName.startsWith('/') ? displayName : `/${displayName}`) as SeriesName;
  return key in SERIES ? key : undefined;
};

/** Finds the job's TensorBoard run once, then reads its four series on each call. */
export class JobMetricsReader {
  private series: { name: string; key: SeriesName }[] | undefined;

  constructor(private readonly client: VertexClient, private readonly experiment: string) {}

  /** The TensorBoard run's time series, or undefined while the job has not written any yet. */
  private async locate(signal?: AbortSignal): Promise<{ name: string; key: SeriesName }[] | undefined> {
    if (this.series !== undefined) return this.series;
    const exp = /^(projects\/[^/]+\/locations\/[^/]+\/metadataStores\/[^/]+)\/contexts\/([^/]+)$/.exec(this.experiment);
    if (exp === null) return undefined;
    const [, store, expId] = exp as unknown as [string, string, string];
    const context = await this.client.getResource<Context>(this.experiment, undefined, signal);
    const tensorboard = context.metadata?.backing_tensorboard_resource;
    if (typeof tensorboard !== 'string' || tensorboard === '') return undefined;
    const runs = await this.client.getResource<{ contexts?: Context[] }>(`${store}/contexts`, {
      filter: `schema_title="system.ExperimentRun" AND parent_contexts:"${this.experiment}"`,
    }, signal);
    const runContext = runs.contexts?.[0]?.name;
    if (runContext === undefined) return undefined;
    const runContextId = runContext.slice(runContext.lastIndexOf('/') + 1);
    const runId = runContextId.startsWith(`${expId}-`) ? runContextId.slice(expId.length + 1) : runContextId;
    const found: { name: string; key: SeriesName }[] = [];
    let pageToken: string | undefined;
    do {
      const page = await this.client.getResource<{ tensorboardTimeSeries?: TimeSeries[]; nextPageToken?: string }>(
        `${tensorboard}/experiments/${expId}/runs/${runId}/timeSeries`, pageToken ? { pageToken } : undefined, signal);
      for (const t of page.tensorboardTimeSeries ?? []) {
        const key = seriesOf(t.displayName);
        if (key !== undefined && t.name !== undefined) found.push({ name: t.name, key });
      }
      pageToken = page.nextPageToken || undefined;
    } while (pageToken !== undefined);
    // The eval series appear only with a validation dataset; the train ones come first.
    if (found.length === 0) return undefined;
    if (found.length === Object.keys(SERIES).length) this.series = found;
    return found;
  }

  /** Every point of every series written so far (empty before the job writes metrics). */
  async read(signal?: AbortSignal): Promise<MetricPoint[]> {
    let series: { name: string; key: SeriesName }[] | undefined;
    try {
      series = await this.locate(signal);
    } catch (err) {
      // The experiment or its TensorBoard run does not exist yet.
      if (err instanceof HttpError && err.status === 404) return [];
      throw err;
    }
    const out: MetricPoint[] = [];
    for (const s of series ?? []) {
      // maxDataPoints -1: every point (the default samples 1000 at random).
      const data = await this.client.getResource<{ timeSeriesData?: { values?: DataPoint[] } }>(`${s.name}:read`, { maxDataPoints: -1 }, signal);
      const { split, measure } = SERIES[s.key];
      for (const v of data.timeSeriesData?.values ?? []) {
        const step = Number(v.step);
        const value = v.scalar?.value;
        if (Number.isSafeInteger(step) && step >= 0 && typeof value === 'number' && Number.isFinite(value)) out.push({ split, measure, step, value });
      }
    }
    return out;
  }
}

/**
 * Points not yet reported, as metrics events: a (split, step) is reported once, when both its loss
 * and its accuracy are there, or with what there is when `final` (the job has ended). `reported`
 * holds `split:step` keys and is updated.
 */
export function newMetricsEvents(points: readonly MetricPoint[], reported: Set<string>, final: boolean, time = new Date().toISOString()): MetricsEvent[] {
  const by = new Map<string, { split: 'train' | 'eval'; step: number; loss?: number; accuracy?: number }>();
  for (const p of points) {
    const key = `${p.split}:${p.step}`;
    if (reported.has(key)) continue;
    const e = by.get(key) ?? { split: p.split, step: p.step };
    e[p.measure] = p.value;
    by.set(key, e);
  }
  const out: MetricsEvent[] = [];
  for (const [key, e] of [...by].sort((a, b) => a[1].step - b[1].step || (a[1].split < b[1].split ? 1 : -1))) {
    if (!final && (e.loss === undefined || e.accuracy === undefined)) continue;
    reported.add(key);
    const accuracy = e.accuracy !== undefined && e.accuracy >= 0 && e.accuracy <= 1 ? e.accuracy : null;
    out.push({ event: 'metrics', time, step: e.step, split: e.split, loss: e.loss ?? null, accuracy });
  }
  return out;
}
