/**
 * The runs kept in a workspace (`.sft-studio/runs/<id>/`): listing, reading back, whether the
 * dataset changed since, and writes that a crash cannot leave half-done.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { parseTrainerEvent, summarizeEvents, type RunStatus, type RunSummary, type TrainerEvent } from './runs';

/**
 * Replace a file's content all at once: write a temporary file beside it, flush it to disk,
 * rename it over the old one. A crash in the middle leaves the old content, never a mix.
 */
export function writeFileAtomic(file: string, data: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, file);
}

/** A run's events back from events.jsonl (a line cut short by a kill is skipped). */
export function readRunEvents(dir: string): TrainerEvent[] {
  const file = path.join(dir, 'events.jsonl');
  if (!existsSync(file)) return [];
  const out: TrainerEvent[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      const parsed = parseTrainerEvent(JSON.parse(line));
      if ('event' in parsed) out.push(parsed.event);
    } catch {
      // a partial last line
    }
  }
  return out;
}

export interface StoredDataset {
  readonly path: string;
  readonly sha256: string;
  readonly samples: number;
}

/** The part of run.json every backend writes. */
export interface StoredRun {
  readonly id: string;
  readonly created: string;
  readonly backend: string;
  /** `evaluate`: a base model answered the samples (core/evaluate.ts); no training. */
  readonly mode: 'train' | 'score' | 'evaluate';
  readonly model: string;
  readonly dataset: { readonly train: StoredDataset; readonly validation?: StoredDataset };
}

export interface RunListItem {
  readonly id: string;
  readonly dir: string;
  readonly record: StoredRun;
  readonly summary: RunSummary;
  readonly status: RunStatus | 'running' | 'interrupted';
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function isStoredRun(v: unknown): v is StoredRun {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  const d = r.dataset as Record<string, unknown> | undefined;
  return typeof r.id === 'string' && typeof r.model === 'string' && typeof r.backend === 'string' && typeof d === 'object' && d !== null && typeof (d.train as Record<string, unknown> | undefined)?.sha256 === 'string';
}

/** Whether a process with this pid is there (signal 0 checks without sending anything). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, it is someone else's.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid kept in a run folder's file (`pid`, `watcher`), if it holds one. */
export function pidIn(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Is the process that runs this run still there? (Its pid is kept in `pid` while it runs.) */
export function runProcessAlive(dir: string): boolean {
  const pid = pidIn(path.join(dir, 'pid'));
  return pid !== undefined && pidAlive(pid);
}

function isSummary(v: unknown): v is RunSummary {
  return typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>).status === 'string' && typeof (v as Record<string, unknown>).steps === 'number';
}

export function readRun(dir: string): RunListItem | undefined {
  const record = readJson(path.join(dir, 'run.json'));
  if (!isStoredRun(record)) return undefined;
  // A finished run has its summary written once; only a run still going is summed up from its events.
  const stored = readJson(path.join(dir, 'summary.json'));
  const summary = isSummary(stored) && stored.status !== 'running' ? stored : summarizeEvents(readRunEvents(dir));
  // A local run with no `finished` whose process is gone was cut off (the machine restarted, say).
  // A remote run goes on without us: it is running until its job says otherwise.
  // An evaluation runs in the process that started it (the editor, the CLI), whatever its backend.
  const local = record.backend === 'local' || record.mode === 'evaluate';
  const status = summary.status === 'running' && local && !runProcessAlive(dir) ? 'interrupted' : summary.status;
  return { id: record.id, dir, record, summary, status };
}

/** Every run in a runs folder, newest first. */
export function listRuns(runsDir: string): RunListItem[] {
  let names: string[];
  try {
    names = readdirSync(runsDir);
  } catch {
    return [];
  }
  return names
    .map((n) => readRun(path.join(runsDir, n)))
    .filter((r): r is RunListItem => r !== undefined)
    .sort((a, b) => (a.record.created < b.record.created ? 1 : a.record.created > b.record.created ? -1 : 0));
}

/** `remote`: the data is known only by its Cloud Storage URI (a job opened from elsewhere). */
export type DatasetState = 'unchanged' | 'changed' | 'missing' | 'remote';

const hashes = new Map<string, { mtimeMs: number; size: number; sha256: string }>();

/** A file's SHA-256, hashed again only when its size or modification time changed. */
export function fileSha256(file: string): string {
  const st = statSync(file);
  const known = hashes.get(file);
  if (known !== undefined && known.mtimeMs === st.mtimeMs && known.size === st.size) return known.sha256;
  const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
  hashes.set(file, { mtimeMs: st.mtimeMs, size: st.size, sha256 });
  return sha256;
}

/** Whether the dataset a run trained on still has the content it had then. */
export function datasetState(dataset: StoredDataset): DatasetState {
  if (dataset.sha256 === '' || /^gs:\/\//.test(dataset.path)) return 'remote';
  try {
    return fileSha256(dataset.path) === dataset.sha256 ? 'unchanged' : 'changed';
  } catch {
    return 'missing';
  }
}
