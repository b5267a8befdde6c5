/**
 * The local backend: the Python trainer as a child process, kept alive across window reloads by a
 * lease file the editor touches, and re-attached by reading the run's events.jsonl.
 */
import { appendFileSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { readRun, readRunEvents, runProcessAlive, writeFileAtomic } from '../../core/runStore';
import { summarizeEvents, type RunSummary, type TrainerEvent } from '../../core/runs';
import { followEvents } from '../follow';
import { Replay, type RunHandle, type StartRequest, type TuningBackend } from '../types';
import { launch, prepareRun } from './runner';

export const LEASE_SECONDS = 120;

export interface LocalBackendOptions {
  readonly python: () => string;
  readonly trainerDir: string;
  readonly leaseSeconds?: number;
}

export class LocalBackend implements TuningBackend {
  readonly id = 'local' as const;
  private readonly leases = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: LocalBackendOptions) {}

  private get leaseSeconds(): number {
    return this.opts.leaseSeconds ?? LEASE_SECONDS;
  }

  /** Touch every lease we hold, so their trainers keep going while this editor is there. */
  private holdLease(file: string): void {
    writeFileSync(file, '');
    this.leases.add(file);
    if (this.timer === undefined) {
      this.timer = setInterval(() => {
        const now = new Date();
        for (const f of this.leases) {
          try {
            utimesSync(f, now, now);
          } catch {
            this.leases.delete(f);
          }
        }
      }, (this.leaseSeconds * 1000) / 4);
      this.timer.unref();
    }
  }

  private releaseLease(file: string): void {
    this.leases.delete(file);
    rmSync(file, { force: true });
    if (this.leases.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  start(request: StartRequest): RunHandle {
    const python = request.python ?? this.opts.python();
    const run = prepareRun({ ...request, python, origin: 'extension' });
    const log = new Replay<TrainerEvent>();
    const lines = new Replay<string>();
    const controller = new AbortController();
    const lease = path.join(run.dir, 'lease');
    this.holdLease(lease);
    const done = launch(run, {
      python, trainerDir: this.opts.trainerDir, signal: controller.signal, lease: { file: lease, seconds: this.leaseSeconds },
      onEvent: (e) => log.push(e),
      onLog: (line) => lines.push(line),
    }).finally(() => {
      this.releaseLease(lease);
      log.close();
      lines.close();
    });
    return { id: run.id, dir: run.dir, events: () => log, logs: () => lines, cancel: () => controller.abort(), done };
  }

  reattach(dir: string): RunHandle | undefined {
    const item = readRun(dir);
    if (item === undefined || item.record.backend !== 'local' || item.status !== 'running') return undefined;
    const pid = Number(readFileSync(path.join(dir, 'pid'), 'utf8'));
    const lease = path.join(dir, 'lease');
    this.holdLease(lease);
    const log = new Replay<TrainerEvent>();
    const file = path.join(dir, 'events.jsonl');
    // The trainer is not our child after a reload: its end is noticed by its pid.
    const done = followEvents(dir, (e) => log.push(e), () => runProcessAlive(dir)).then((how): RunSummary => {
      if (how === 'gone') {
        const now = new Date().toISOString();
        const last: TrainerEvent[] = [
          { event: 'error', time: now, kind: 'exit', message: 'the trainer stopped without finishing', hint: `the events up to then are kept; see ${path.join(dir, 'trainer.log')}` },
          { event: 'finished', time: now, status: 'failed', adapter: null },
        ];
        for (const e of last) {
          appendFileSync(file, JSON.stringify(e) + '\n');
          log.push(e);
        }
      }
      rmSync(path.join(dir, 'pid'), { force: true });
      this.releaseLease(lease);
      log.close();
      const summary = summarizeEvents(readRunEvents(dir));
      writeFileAtomic(path.join(dir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
      return summary;
    });
    const cancel = () => {
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    };
    const lines = new Replay<string>();
    try {
      for (const l of readFileSync(path.join(dir, 'trainer.log'), 'utf8').split('\n').slice(-50)) if (l !== '') lines.push(l);
    } catch {
      // no log yet
    }
    lines.close();
    return { id: item.id, dir, events: () => log, logs: () => lines, cancel, done };
  }
}
