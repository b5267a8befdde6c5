// The local trainer end to end: the real Python trainer (Debian's torch under /usr/bin/python3, or
// SFT_STUDIO_TEST_PYTHON) started by the real CLI and runner, on builtin:tiny.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { launch, prepareRun, RunSetupError } from '../../src/backends/local/runner';
import { readRunEvents } from '../../src/core/runStore';
import { BIN, ROOT, cli } from './helpers';
import { localAdvice } from '../../src/core/advice';
import { parseTrainerEvent, runConfigProblems, type TrainerEvent } from '../../src/core/runs';

const TRAINER = path.join(ROOT, 'trainer');
const PYTHON = process.env.SFT_STUDIO_TEST_PYTHON ?? '/usr/bin/python3';
const TRAIN = path.join(ROOT, 'test/fixtures/tune/train.jsonl');
const VALIDATION = path.join(ROOT, 'test/fixtures/tune/validation.jsonl');
const tmp = mkdtempSync(path.join(tmpdir(), 'sft-tune-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
if (!hasTorch) {
  throw new Error(`${PYTHON} cannot import torch: install Debian's python3-torch (apt-get install python3-torch), or point SFT_STUDIO_TEST_PYTHON at an interpreter that has it`);
}


/** Every line a valid protocol event (the test fails on the first that is not). */
function parseEvents(text: string): TrainerEvent[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((line) => {
    const parsed = parseTrainerEvent(JSON.parse(line));
    assert.ok('event' in parsed, `not a protocol event: ${'problem' in parsed ? parsed.problem : ''}\n${line}`);
    return parsed.event;
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once the process is gone, reading /proc's state (a zombie counts as gone). */
async function gone(pid: number, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let state = '';
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] ?? '';
    } catch {
      return true;
    }
    if (state === 'Z' || !isAlive(pid)) return true;
    if (Date.now() > deadline) return false;
    await new Promise<void>((r) => setImmediate(r));
  }
}

/** The run's `finished` event, once the trainer has written it to events.jsonl (watched, not polled). */
function finishedEvent(dir: string, timeoutMs = 60_000): Promise<{ status: string; reason?: string | null }> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const last = readRunEvents(dir).find((e) => e.event === 'finished');
      if (last === undefined || last.event !== 'finished') return false;
      watcher.close();
      clearTimeout(timer);
      resolve(last);
      return true;
    };
    const watcher = watch(dir, () => void check());
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`no finished event in ${dir} within ${timeoutMs} ms`));
    }, timeoutMs);
    check();
  });
}

const sampleLines = (file: string) =>
  readFileSync(file, 'utf8').split('\n').map((l, i) => ({ l, n: i + 1 })).filter(({ l }) => {
    try {
      const v = JSON.parse(l) as { contents?: { role: string }[] };
      return Array.isArray(v.contents) && v.contents.some((t) => t.role === 'model');
    } catch {
      return false;
    }
  }).map(({ n }) => n);

describe('the trainer in Python (unittest)', () => {
  test('masking, packing, resume, scoring and early stopping pass', () => {
    const r = spawnSync(PYTHON, ['-m', 'unittest', 'discover', '-s', 'trainer/tests', '-t', 'trainer'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /Ran \d+ tests[\s\S]*OK/);
  });
});

describe('sft-studio tune --backend local --model builtin:tiny', () => {
  test('trains: every event follows the protocol, the loss falls, every line gets its loss, the run is kept', async () => {
    const runs = path.join(tmp, 'runs');
    const r = await cli(['tune', TRAIN, '--backend', 'local', '--model', 'builtin:tiny', '--max-steps', '40', '--runs-dir', runs, '--python', PYTHON, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const events = parseEvents(r.stdout);
    const train = events.filter((e) => e.event === 'metrics' && e.split === 'train').map((e) => (e as { loss: number }).loss);
    const evals = events.filter((e) => e.event === 'metrics' && e.split === 'eval').map((e) => (e as { loss: number }).loss);
    assert.equal(train.length, 40);
    const head = train.slice(0, 3).reduce((a, b) => a + b) / 3;
    const tail = train.slice(-3).reduce((a, b) => a + b) / 3;
    assert.ok(tail < 0.6 * head, `train loss should fall by 40 %: ${head.toFixed(3)} → ${tail.toFixed(3)}`);
    assert.ok(evals.length >= 2 && evals[evals.length - 1]! < evals[0]!, `eval loss should fall: ${evals.join(', ')}`);
    // The validation file beside train.jsonl is paired by name.
    assert.match(r.stderr, /validating on .*validation\.jsonl \(6\)/);
    // Left-out lines are named, not dropped silently.
    assert.match(r.stderr, /train\.jsonl:11: left out: not valid JSON/);
    assert.match(r.stderr, /train\.jsonl:21: left out: no model turn to learn from/);
    const losses = events.filter((e): e is Extract<TrainerEvent, { event: 'sample_loss' }> => e.event === 'sample_loss');
    assert.deepEqual(losses.filter((e) => e.file === 'train').map((e) => e.line).sort((a, b) => a - b), sampleLines(TRAIN));
    assert.deepEqual(losses.filter((e) => e.file === 'validation').map((e) => e.line).sort((a, b) => a - b), sampleLines(VALIDATION));
    assert.ok(losses.every((e) => typeof e.loss === 'number' && e.loss > 0));
    const finished = events[events.length - 1]!;
    assert.equal(finished.event, 'finished');
    // The run folder: the same events, a valid config, the dataset's hash, the summary, the adapters.
    const id = /run (\S+) in/.exec(r.stderr)![1]!;
    const dir = path.join(runs, id);
    assert.deepEqual(readRunEvents(dir), events);
    assert.deepEqual(runConfigProblems(JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'))), []);
    const record = JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')) as { dataset: { train: { sha256: string; samples: number } } };
    assert.equal(record.dataset.train.sha256, createHash('sha256').update(readFileSync(TRAIN)).digest('hex'));
    assert.equal(record.dataset.train.samples, sampleLines(TRAIN).length);
    const summary = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8')) as { status: string; steps: number; bestEvalLoss: number };
    assert.equal(summary.status, 'completed');
    assert.equal(summary.steps, 40);
    assert.equal(summary.bestEvalLoss, Math.min(...evals));
    assert.ok(existsSync(path.join(dir, 'adapter', 'best', 'model.pt')));
    assert.ok(existsSync(path.join(dir, 'adapter', 'last', 'model.pt')));
  });

  test('without --runs-dir the run goes to .sft-studio/runs of the current folder, with absolute paths inside', async () => {
    const cwd = mkdtempSync(path.join(tmp, 'cwd-'));
    cpSync(TRAIN, path.join(cwd, 'train.jsonl'));
    const r = await cli(['tune', 'train.jsonl', '--model', 'builtin:tiny', '--max-steps', '2', '--python', PYTHON], { cwd });
    assert.equal(r.code, 0, r.stderr);
    const [id] = readdirSync(path.join(cwd, '.sft-studio', 'runs'));
    const dir = path.join(cwd, '.sft-studio', 'runs', id!);
    assert.equal(JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8')).status, 'completed');
    assert.equal(JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')).dataset.train.path, path.join(cwd, 'train.jsonl'));
  });

  test('score mode gives every line its loss and IFD with the untrained model', async () => {
    const r = await cli(['tune', path.join(ROOT, 'test/fixtures/sharegpt.jsonl'), '--model', 'builtin:tiny', '--mode', 'score', '--ifd', '--runs-dir', path.join(tmp, 'score'), '--python', PYTHON, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const losses = parseEvents(r.stdout).filter((e): e is Extract<TrainerEvent, { event: 'sample_loss' }> => e.event === 'sample_loss');
    const lines = readFileSync(path.join(ROOT, 'test/fixtures/sharegpt.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '').length;
    assert.equal(losses.length, lines);
    assert.ok(losses.every((e) => e.stage === 'score' && typeof e.ifd === 'number' && e.ifd > 0));
  });

  test('bad usage is refused before anything starts', async () => {
    const r = await cli(['tune', TRAIN, '--model', 'builtin:tiny', '--batch-size', 'four', '--runs-dir', path.join(tmp, 'bad')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--batch-size must be an integer/);
    const r2 = await cli(['tune', TRAIN, '--model', 'builtin:tiny', '--learning-rate=0', '--runs-dir', path.join(tmp, 'bad')]);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /learning_rate must be > 0/);
    assert.ok(!existsSync(path.join(tmp, 'bad')), 'no run folder for a refused config');
  });
});

describe('the local runner', () => {
  const prepare = (runsDir: string, extra: Record<string, unknown> = {}) =>
    prepareRun({
      trainFile: TRAIN, validationFile: VALIDATION, runsDir, python: PYTHON, origin: 'cli',
      config: { ...localAdvice('builtin:tiny', 37, true).config, model: 'builtin:tiny', max_steps: 400, eval_steps: 2, ...extra },
    });

  test('cancel stops the trainer cleanly: status cancelled, a checkpoint, no process left', async () => {
    const run = prepare(path.join(tmp, 'cancel'));
    const controller = new AbortController();
    let pid = 0;
    const seen: TrainerEvent[] = [];
    const summary = await launch(run, {
      python: PYTHON, trainerDir: TRAINER, signal: controller.signal,
      onSpawn: (p) => (pid = p),
      onEvent: (e) => {
        seen.push(e);
        if (e.event === 'progress' && e.step === 3) controller.abort();
      },
    });
    assert.equal(summary.status, 'cancelled');
    assert.ok(summary.steps >= 3 && summary.steps < 400);
    assert.ok(seen.some((e) => e.event === 'checkpoint'), 'a checkpoint is saved on cancel');
    const finished = seen[seen.length - 1]!;
    assert.equal(finished.event, 'finished');
    assert.ok(pid > 0);
    assert.ok(await gone(pid), 'the trainer process is gone');
    assert.throws(() => process.kill(-pid, 0), /ESRCH/, 'its whole process group is gone');
  });

  test('a killed trainer keeps its events so far, and the run says it failed', async () => {
    const run = prepare(path.join(tmp, 'killed'));
    let pid = 0;
    const summary = await launch(run, {
      python: PYTHON, trainerDir: TRAINER,
      onSpawn: (p) => (pid = p),
      onEvent: (e) => {
        if (e.event === 'metrics' && e.split === 'eval') process.kill(pid, 'SIGKILL');
      },
    });
    assert.equal(summary.status, 'failed');
    assert.match(summary.error?.message ?? '', /killed by SIGKILL/);
    const events = readRunEvents(run.dir);
    assert.ok(events.some((e) => e.event === 'metrics' && e.split === 'train'), 'the metrics before the kill are kept');
    assert.ok(events.some((e) => e.event === 'metrics' && e.split === 'eval'));
    assert.equal(events[events.length - 1]!.event, 'finished');
  });

  test('when the program that started it dies, the trainer stops on its own', async () => {
    const runs = path.join(tmp, 'orphan');
    const child = spawn(process.execPath, [BIN, 'tune', TRAIN, '--model', 'builtin:tiny', '--max-steps', '400', '--runs-dir', runs, '--python', PYTHON, '--json'], { cwd: ROOT });
    let trainerPid = 0;
    let runDir = '';
    for await (const line of createInterface({ input: child.stdout })) {
      const e = JSON.parse(line) as { event: string; pid?: number; config?: { output_dir: string } };
      if (e.event === 'started') {
        trainerPid = e.pid!;
        runDir = e.config!.output_dir;
      }
      if (e.event === 'progress') break;
    }
    assert.ok(trainerPid > 0);
    child.kill('SIGKILL');
    // The trainer says so in its own events file, then exits.
    const finished = await finishedEvent(runDir);
    assert.equal(finished.status, 'cancelled');
    assert.equal(finished.reason, 'the program that started the trainer went away');
    assert.ok(await gone(trainerPid), 'the trainer noticed its stdin closing and stopped');
  });

  test('with a lease, the run stops cleanly once nobody renews it (an editor closed for good)', async () => {
    const run = prepare(path.join(tmp, 'lease'));
    const lease = path.join(run.dir, 'lease');
    writeFileSync(lease, '');
    const summary = await launch(run, { python: PYTHON, trainerDir: TRAINER, lease: { file: lease, seconds: 2 } });
    assert.equal(summary.status, 'cancelled');
    const finished = readRunEvents(run.dir).pop();
    assert.equal(finished?.event === 'finished' ? finished.reason : undefined, 'the editor that started the run went away');
  });

  test('a Python without torch gets one error naming the install command', async () => {
    const noTorch = path.join(tmp, 'python-without-site');
    // The real interpreter, with its site-packages (and so torch) turned off.
    writeFileSync(noTorch, `#!/bin/sh\nexec ${PYTHON} -S "$@"\n`);
    chmodSync(noTorch, 0o755);
    const run = prepare(path.join(tmp, 'notorch'));
    const summary = await launch(run, { python: noTorch, trainerDir: TRAINER });
    assert.equal(summary.status, 'failed');
    assert.match(summary.error?.message ?? '', /PyTorch is not installed/);
    assert.match(summary.error?.hint ?? '', /-m pip install torch/);
  });

  test('an interpreter that does not exist is named in the error', async () => {
    const run = prepare(path.join(tmp, 'nopython'));
    const summary = await launch(run, { python: path.join(tmp, 'no-such-python'), trainerDir: TRAINER });
    assert.equal(summary.status, 'failed');
    assert.match(summary.error?.message ?? '', /no-such-python" was not found/);
  });

  test('a dataset with no sample to train on is refused with the reason', () => {
    const empty = path.join(tmp, 'empty.jsonl');
    writeFileSync(empty, '{"contents": [{"role": "user", "parts": [{"text": "q"}]}]}\nnot json\n');
    assert.throws(
      () => prepareRun({ trainFile: empty, runsDir: path.join(tmp, 'empty'), python: PYTHON, origin: 'cli', config: { model: 'builtin:tiny' } }),
      (err: unknown) => err instanceof RunSetupError && /no sample to train on: line 1 no model turn to learn from; line 2 not valid JSON/.test(err.message),
    );
  });
});
