/** Messages between the language server and its token worker, typed once for both sides. */
import type { ExactTokenizerId } from './counters';

export interface WorkerOptions {
  /** Folder of the Gemma 3 vocabulary, when not beside the bundle. */
  readonly vocabDir?: string;
}

export interface CountRequest {
  readonly id: number;
  readonly tokenizer: ExactTokenizerId;
  /** Per sample, the texts of its turns. */
  readonly samples: readonly (readonly string[])[];
}

export type CountReply =
  | { readonly id: number; readonly counts: readonly number[]; readonly threadId: number }
  | { readonly id: number; readonly error: string; readonly threadId: number };
