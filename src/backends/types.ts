/**
 * What the tuning panel drives, whichever backend runs the job: start, cancel, events as an async
 * stream, and re-attaching to a run that is still going after a window reload.
 */
import type { FormatId } from '../core/formats';
import type { RunConfig, RunSummary, TrainerEvent } from '../core/runs';
import type { VertexStartOptions } from './vertex/settings';

export interface StartRequest {
  readonly trainFile: string;
  readonly validationFile?: string;
  readonly pinnedFormat?: FormatId;
  readonly runsDir: string;
  readonly config: Omit<RunConfig, 'train_file' | 'validation_file' | 'output_dir'>;
  /** Local backend: the Python interpreter, when the caller resolved one. */
  readonly python?: string;
  /** Vertex AI backend: project, region, bucket, endpoints, credentials and the job's hyper-parameters (its `model` wins over config.model). */
  readonly vertex?: VertexStartOptions;
}

export interface RunHandle {
  readonly id: string;
  readonly dir: string;
  /** Every event of the run from its start (what came before is replayed), until it ends. */
  events(): AsyncIterable<TrainerEvent>;
  /** The backend's human log (the trainer's stderr), replayed likewise. */
  logs(): AsyncIterable<string>;
  cancel(): void;
  readonly done: Promise<RunSummary>;
}

export interface TuningBackend {
  readonly id: 'local' | 'vertex';
  /** Throws RunSetupError (with a sentence for the user) when the run cannot start. */
  start(request: StartRequest): RunHandle;
  /** A handle on a run of this backend that is still going, or undefined. */
  reattach(dir: string): RunHandle | undefined;
}

/** Items kept in order, replayed to each reader, who then waits for more until the run ends. */
export class Replay<T> {
  private readonly items: T[] = [];
  private waiting: (() => void)[] = [];
  private closed = false;

  push(e: T): void {
    this.items.push(e);
    this.wake();
  }

  close(): void {
    this.closed = true;
    this.wake();
  }

  get all(): readonly T[] {
    return this.items;
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = [];
    for (const f of w) f();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    let i = 0;
    for (;;) {
      while (i < this.items.length) yield this.items[i++]!;
      if (this.closed) return;
      await new Promise<void>((r) => this.waiting.push(r));
    }
  }
}
