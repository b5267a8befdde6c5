/**
 * Runs the local trainer (trainer/sftstudio_trainer, Python) as a child process: prepares the run
 * folder, reads the trainer's events from stdout, checks each against the protocol schema, keeps
 * every one in events.jsonl as it arrives (so a crash or a kill loses nothing already reported),
 * and stops the whole process group on cancel. Used by the CLI (`sft-studio tune`) and the
 * extension alike; it never imports `vscode`.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import type { FormatId } from '../../core/formats';
import { parseTrainerEvent, runConfigProblems, runId, summarizeEvents, type RunConfig, type RunSummary, type TrainerEvent } from '../../core/runs';
import { writeFileAtomic } from '../../core/runStore';
import { normalizeDataset, type LineNote } from '../../core/trainingData';

export class RunSetupError extends Error {}

export interface DatasetRecord {
  /** The user's file, as given. */
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly samples: number;
  readonly skipped: readonly LineNote[];
  readonly lossy: readonly LineNote[];
}

export interface RunRecord {
  readonly id: string;
  readonly created: string;
  readonly backend: 'local';
  readonly origin: 'cli' | 'extension';
  readonly mode: 'train' | 'score';
  readonly model: string;
  readonly interpreter: string;
  readonly dataset: { readonly train: DatasetRecord; readonly validation?: DatasetRecord };
}

export interface RunRequest {
  readonly trainFile: string;
  readonly validationFile?: string;
  readonly pinnedFormat?: FormatId;
  readonly runsDir: string;
  /** Every setting but the data paths and the output folder, which the run folder decides. */
  readonly config: Omit<RunConfig, 'train_file' | 'validation_file' | 'output_dir'>;
  readonly python: string;
  readonly origin: 'cli' | 'extension';
}

export interface PreparedRun {
  readonly id: string;
  readonly dir: string;
  readonly configPath: string;
  readonly config: RunConfig;
  readonly record: RunRecord;
}

function readDataset(file: string, pinned: FormatId | undefined, label: string): { record: DatasetRecord; lines: string[] } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new RunSetupError(`cannot read the ${label} file ${file}: ${(err as Error).message}`);
  }
  const data = normalizeDataset(bytes.toString('utf8'), pinned);
  if (data.lines.length === 0) {
    const why = data.skipped.length > 0 ? `: ${data.skipped.slice(0, 3).map((s) => `line ${s.line} ${s.reason}`).join('; ')}` : ' (the file is empty)';
    throw new RunSetupError(`${file} has no sample to ${label === 'training' ? 'train on' : 'evaluate on'}${why}`);
  }
  return {
    record: { path: file, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length, samples: data.lines.length, skipped: data.skipped, lossy: data.lossy },
    lines: data.lines,
  };
}

/** Creates `<runsDir>/<id>/` with the normalized data, config.json and run.json. */
export function prepareRun(req: RunRequest, now: Date = new Date()): PreparedRun {
  // Every path the run keeps is absolute: the trainer runs in the run folder, and a run is
  // reopened from anywhere.
  const train = readDataset(path.resolve(req.trainFile), req.pinnedFormat, 'training');
  const validation = req.validationFile !== undefined ? readDataset(path.resolve(req.validationFile), req.pinnedFormat, 'validation') : undefined;
  const runsDir = path.resolve(req.runsDir);
  const config: RunConfig = {
    ...req.config,
    train_file: 'data/train.jsonl',
    validation_file: validation !== undefined ? 'data/validation.jsonl' : null,
    output_dir: '.',
  };
  const problems = runConfigProblems(config);
  if (problems.length > 0) throw new RunSetupError(`the run config is not valid: ${problems.join('; ')}`);
  const base = runId(now, req.config.model);
  let id = base;
  for (let n = 2; existsSync(path.join(runsDir, id)); n++) id = `${base}-${n}`;
  const dir = path.join(runsDir, id);
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  writeFileSync(path.join(dir, 'data', 'train.jsonl'), train.lines.join('\n') + '\n');
  if (validation !== undefined) writeFileSync(path.join(dir, 'data', 'validation.jsonl'), validation.lines.join('\n') + '\n');
  const configPath = path.join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2) + '\n');
  const record: RunRecord = {
    id, created: now.toISOString(), backend: 'local', origin: req.origin, mode: config.mode ?? 'train', model: config.model, interpreter: req.python,
    dataset: { train: train.record, ...(validation !== undefined ? { validation: validation.record } : {}) },
  };
  writeFileAtomic(path.join(dir, 'run.json'), JSON.stringify(record, null, 2) + '\n');
  return { id, dir, configPath, config, record };
}

export interface LaunchOptions {
  readonly python: string;
  /** The folder that holds the `sftstudio_trainer` package. */
  readonly trainerDir: string;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: TrainerEvent) => void;
  readonly onLog?: (line: string) => void;
  readonly onSpawn?: (pid: number) => void;
  /** How long the trainer has to save a checkpoint after SIGTERM before it is killed. */
  readonly graceMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Without a lease the trainer stops when this process's end of its stdin closes (the CLI:
   * nothing outlives it). With one, it keeps running while the lease file is touched at least
   * every `seconds` (the editor: a window reload does not stop a run, a closed editor does).
   */
  readonly lease?: { readonly file: string; readonly seconds: number };
}

/** The trainer's folder in a bundle (dist/*.js sit beside trainer/). */
export function bundledTrainerDir(): string {
  return path.resolve(__dirname, '..', 'trainer');
}

const now = () => new Date().toISOString();

/** Starts the trainer on a prepared run and resolves with its summary once the process is gone. */
export function launch(run: PreparedRun, opts: LaunchOptions): Promise<RunSummary> {
  return new Promise((resolve) => {
    const events: TrainerEvent[] = [];
    // The trainer appends each event to events.jsonl itself (so the record outlives this
    // process); the host adds only what the trainer could not say: a broken protocol line, or
    // how it ended when it died without a word.
    const eventsFile = path.join(run.dir, 'events.jsonl');
    const log = createWriteStream(path.join(run.dir, 'trainer.log'), { flags: 'a' });
    const seen = (e: TrainerEvent) => {
      events.push(e);
      opts.onEvent?.(e);
    };
    const record = (e: TrainerEvent) => {
      appendFileSync(eventsFile, JSON.stringify(e) + '\n');
      seen(e);
    };
    const hostWarning = (text: string) => record({ event: 'warning', time: now(), text, code: 'host' });
    const env = {
      ...(opts.env ?? process.env),
      PYTHONPATH: [opts.trainerDir, (opts.env ?? process.env).PYTHONPATH].filter(Boolean).join(path.delimiter),
      PYTHONUNBUFFERED: '1',
      PYTHONIOENCODING: 'utf-8',
    };
    const posix = process.platform !== 'win32';
    const watch = opts.lease !== undefined ? ['--lease-file', opts.lease.file, '--lease-seconds', String(opts.lease.seconds)] : ['--watch-stdin'];
    const child = spawn(opts.python, ['-m', 'sftstudio_trainer', '--config', run.configPath, '--events-file', eventsFile, ...watch], {
      cwd: run.dir, env, stdio: ['pipe', 'pipe', 'pipe'], detached: posix, windowsHide: true,
    });
    let cancelRequested = false;
    let killTimer: NodeJS.Timeout | undefined;
    const signalGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        if (posix) process.kill(-child.pid, sig);
        else child.kill(sig);
      } catch {
        // already gone
      }
    };
    const cancel = () => {
      if (cancelRequested) return;
      cancelRequested = true;
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), opts.graceMs ?? 30_000);
    };
    if (opts.signal?.aborted) cancel();
    opts.signal?.addEventListener('abort', cancel, { once: true });
    const pidFile = path.join(run.dir, 'pid');
    child.on('spawn', () => {
      if (child.pid === undefined) return;
      // While it runs, the run folder names its process (how the Runs view tells running from cut off).
      writeFileAtomic(pidFile, String(child.pid));
      opts.onSpawn?.(child.pid);
    });
    let spawnError: NodeJS.ErrnoException | undefined;
    child.on('error', (err: NodeJS.ErrnoException) => {
      spawnError = err;
    });
    child.stdin.on('error', () => undefined); // the trainer may exit first
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
      if (line.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        hostWarning(`the trainer wrote a line that is not JSON on stdout: ${line.slice(0, 200)}`);
        return;
      }
      const parsed = parseTrainerEvent(value);
      if ('event' in parsed) seen(parsed.event);
      else hostWarning(`the trainer wrote an event that breaks the protocol (${parsed.problem}): ${line.slice(0, 200)}`);
    });
    createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => {
      log.write(line + '\n');
      opts.onLog?.(line);
    });
    child.on('close', (code, sig) => {
      rmSync(pidFile, { force: true });
      if (killTimer !== undefined) clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', cancel);
      if (!events.some((e) => e.event === 'finished')) {
        if (spawnError !== undefined) {
          record({
            event: 'error', time: now(), kind: 'interpreter',
            message: spawnError.code === 'ENOENT' ? `the Python interpreter "${opts.python}" was not found` : `cannot start "${opts.python}": ${spawnError.message}`,
            hint: 'set the interpreter with the setting sftStudio.python.interpreter (or --python), or select one with the Python extension',
          });
        } else if (!cancelRequested) {
          record({
            event: 'error', time: now(), kind: 'exit',
            message: `the trainer stopped without finishing (${sig !== null ? `killed by ${sig}` : `exit code ${code}`})`,
            hint: `the events up to then are kept; see ${path.join(run.dir, 'trainer.log')}`,
          });
        }
        record({ event: 'finished', time: now(), status: cancelRequested ? 'cancelled' : 'failed', adapter: null, reason: cancelRequested ? 'cancelled' : null });
      }
      const summary = summarizeEvents(events);
      writeFileAtomic(path.join(run.dir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
      log.end(() => resolve(summary));
    });
  });
}
