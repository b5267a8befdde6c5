/**
 * Following a run that another process writes: its events.jsonl read from the start and then as it
 * grows, until a `finished` event, or until the writer is gone. The local backend follows a trainer
 * an earlier window started; the Vertex backend follows a watch another window (or the CLI) keeps.
 */
import { closeSync, existsSync, openSync, readSync, statSync, watch, type FSWatcher } from 'node:fs';
import * as path from 'node:path';
import { parseTrainerEvent, type TrainerEvent } from '../core/runs';

/**
 * Calls `push` with every event of `dir/events.jsonl`, those there now and those appended, and
 * resolves 'finished' after a `finished` event, or 'gone' when `alive()` says the writer has gone
 * without one (checked every second: a killed writer sends no notice).
 */
export function followEvents(dir: string, push: (e: TrainerEvent) => void, alive: () => boolean): Promise<'finished' | 'gone'> {
  const file = path.join(dir, 'events.jsonl');
  let offset = 0;
  let rest = '';
  let finished = false;
  const readMore = () => {
    if (!existsSync(file)) return;
    const size = statSync(file).size;
    if (size <= offset) return;
    const fd = openSync(file, 'r');
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    closeSync(fd);
    offset = size;
    const lines = (rest + buf.toString('utf8')).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        const parsed = parseTrainerEvent(JSON.parse(line));
        if ('event' in parsed) {
          push(parsed.event);
          if (parsed.event.event === 'finished') finished = true;
        }
      } catch {
        // not an event line
      }
    }
  };
  readMore();
  if (finished) return Promise.resolve('finished');
  return new Promise((resolve) => {
    let watcher: FSWatcher | undefined;
    const end = (how: 'finished' | 'gone') => {
      watcher?.close();
      clearInterval(timer);
      resolve(how);
    };
    const check = () => {
      readMore();
      if (finished) end('finished');
      else if (!alive()) {
        readMore();
        end(finished ? 'finished' : 'gone');
      }
    };
    try {
      watcher = watch(file, () => {
        readMore();
        if (finished) end('finished');
      });
    } catch {
      // no file yet: the timer reads it
    }
    const timer = setInterval(check, 1000);
  });
}
