/**
 * The token worker: a worker_thread that counts tokens exactly, so loading a
 * vocabulary and tokenizing never block the language server's main thread.
 * Protocol (typed in protocol.ts): a CountRequest in, a CountReply out.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { countSample } from './counters';
import type { CountReply, CountRequest, WorkerOptions } from './protocol';

const options = (workerData ?? {}) as WorkerOptions;
const port = parentPort;
if (port === null) throw new Error('the token worker must run as a worker_thread');

port.on('message', (req: CountRequest) => {
  let reply: CountReply;
  try {
    const counts = req.samples.map((texts) => countSample(req.tokenizer, texts, options.vocabDir));
    reply = { id: req.id, counts, threadId };
  } catch (err) {
    reply = { id: req.id, error: err instanceof Error ? err.message : String(err), threadId };
  }
  port.postMessage(reply);
});
