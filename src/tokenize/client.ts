/**
 * The server's side of the token worker: one worker_thread, started on first
 * use, answering count requests in order. If the worker dies, pending requests
 * fail with its error and the next request starts a new one.
 */
import { Worker } from 'node:worker_threads';
import type { ExactTokenizerId } from './counters';
import type { CountReply, CountRequest, WorkerOptions } from './protocol';

export class TokenWorker {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: { counts: readonly number[]; threadId: number }) => void; reject: (e: Error) => void }>();

  constructor(private readonly workerFile: string, private readonly options: WorkerOptions = {}) {}

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const w = new Worker(this.workerFile, { workerData: this.options });
    w.on('message', (reply: CountReply) => {
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      this.pending.delete(reply.id);
      // Idle, the worker does not keep the process alive; busy, it does.
      if (this.pending.size === 0) w.unref();
      if ('error' in reply) p.reject(new Error(reply.error));
      else p.resolve({ counts: reply.counts, threadId: reply.threadId });
    });
    const fail = (err: Error) => {
      if (this.worker === w) this.worker = undefined;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the token worker exited (code ${code})`)));
    w.unref();
    this.worker = w;
    return w;
  }

  /** Exact token counts of samples (each given as its turns' texts), in order. */
  count(tokenizer: ExactTokenizerId, samples: readonly (readonly string[])[]): Promise<{ counts: readonly number[]; threadId: number }> {
    const id = this.nextId++;
    const req: CountRequest = { id, tokenizer, samples };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const w = this.start();
      w.ref();
      w.postMessage(req);
    });
  }

  async dispose(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w !== undefined) await w.terminate();
  }
}
