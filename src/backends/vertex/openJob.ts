/**
 * A tuning job started elsewhere (the console, gcloud, a colleague's notebook) opened as a run: a
 * run folder like the ones SFT Studio makes, with the job's training and validation data copied
 * from Cloud Storage when they can be read, so its curves sit beside its data and it compares with
 * every other run. The backend's reattach then watches it as it watches its own.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { runId } from '../../core/runs';
import { listRuns, writeFileAtomic } from '../../core/runStore';
import type { TuningJob, VertexClient } from './client';
import type { VertexRunConfig, VertexRunRecord } from './backend';
import type { VertexDatasetRecord } from './dataset';
import { HttpError } from './transport';

const ADAPTER_NUMBERS: Readonly<Record<string, number>> = {
  ADAPTER_SIZE_ONE: 1, ADAPTER_SIZE_TWO: 2, ADAPTER_SIZE_FOUR: 4, ADAPTER_SIZE_EIGHT: 8, ADAPTER_SIZE_SIXTEEN: 16, ADAPTER_SIZE_THIRTY_TWO: 32,
};

/** The run folder that already follows this job, if any. */
export function runOfJob(runsDir: string, jobName: string): string | undefined {
  for (const r of listRuns(runsDir)) {
    const v = (r.record as unknown as Partial<VertexRunRecord>).vertex;
    if (r.record.backend === 'vertex' && v?.job === jobName) return r.dir;
  }
  return undefined;
}

/** `gs://bucket/a/b.jsonl` → bucket and object name. */
function parseGcsUri(uri: string): { bucket: string; object: string } | undefined {
  const m = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
  return m === null ? undefined : { bucket: m[1]!, object: m[2]! };
}

/** The bytes of a Cloud Storage object (objects.get with alt=media), or why not. */
async function download(client: VertexClient, uri: string): Promise<Buffer | string> {
  const where = parseGcsUri(uri);
  if (where === undefined) return `${uri} is not a gs:// URI`;
  const url = `${client.settings.storageEndpoint}/storage/v1/b/${encodeURIComponent(where.bucket)}/o/${encodeURIComponent(where.object)}?alt=media`;
  try {
    const r = await client.transport.fetch(url);
    if (!r.ok) return `${uri}: HTTP ${r.status}`;
    return Buffer.from(await r.arrayBuffer());
  } catch (err) {
    return `${uri}: ${err instanceof HttpError || err instanceof Error ? err.message : String(err)}`;
  }
}

function datasetRecord(uri: string, local: string | undefined, data: Buffer | undefined): VertexDatasetRecord {
  const sha256 = data ? createHash('sha256').update(data).digest('hex') : '';
  const samples = data ? data.toString('utf8').split('\n').filter((l) => l.trim() !== '').length : 0;
  return {
    path: local ?? uri, sha256, bytes: data?.length ?? 0, samples, formats: ['vertex-gemini'], converted: false, lossy: [],
    upload_sha256: sha256, upload_bytes: data?.length ?? 0, uri,
  };
}

export interface OpenedJob {
  readonly dir: string;
  /** False when a run folder for this job was there already. */
  readonly created: boolean;
  /** What could not be copied (the run opens without it). */
  readonly notes: readonly string[];
}

/**
 * Makes (or finds) the run folder of a job: run.json naming the job, config.json with its
 * hyper-parameters, data/ with its datasets. Events come from watching it (VertexBackend.reattach).
 */
export async function openJobAsRun(client: VertexClient, jobName: string, runsDir: string, origin: 'cli' | 'extension'): Promise<OpenedJob> {
  const known = runOfJob(runsDir, jobName);
  if (known !== undefined) return { dir: known, created: false, notes: [] };
  const job: TuningJob = await client.getTuningJob(jobName);
  const spec = job.supervisedTuningSpec;
  const model = job.baseModel ?? 'gemini';
  const created = job.createTime ? new Date(job.createTime) : new Date();
  const base = runId(created, model);
  let id = base;
  for (let n = 2; existsSync(path.join(runsDir, id)); n++) id = `${base}-${n}`;
  const dir = path.join(path.resolve(runsDir), id);
  mkdirSync(path.join(dir, 'data'), { recursive: true });

  const notes: string[] = [];
  const copy = async (uri: string | undefined, file: string): Promise<VertexDatasetRecord | undefined> => {
    if (uri === undefined) return undefined;
    const got = await download(client, uri);
    if (typeof got === 'string') {
      notes.push(`could not copy the data (${got})`);
      return datasetRecord(uri, undefined, undefined);
    }
    const local = path.join(dir, 'data', file);
    writeFileSync(local, got);
    return datasetRecord(uri, local, got);
  };
  const train = (await copy(spec?.trainingDatasetUri, 'train.jsonl')) ?? datasetRecord('(no training data named)', undefined, undefined);
  const validation = await copy(spec?.validationDatasetUri, 'validation.jsonl');

  const h = spec?.hyperParameters;
  const epochs = h?.epochCount !== undefined ? Number(h.epochCount) : null;
  const adapter = h?.adapterSize !== undefined ? (ADAPTER_NUMBERS[h.adapterSize] ?? null) : null;
  const s = client.settings;
  const display = job.tunedModelDisplayName ?? jobName.replace(/^.*\//, '');
  const config: VertexRunConfig = {
    backend: 'vertex', model, train_file: train.path, validation_file: validation?.path ?? null,
    epoch_count: epochs, learning_rate_multiplier: h?.learningRateMultiplier ?? null, adapter_size: adapter,
    tuned_model_display_name: display, project: s.project, location: s.location, bucket: s.bucket,
  };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  const record: VertexRunRecord = {
    id, created: created.toISOString(), backend: 'vertex', origin, mode: 'train', model,
    vertex: {
      project: s.project, location: s.location, bucket: s.bucket, api_endpoint: s.apiEndpoint, storage_endpoint: s.storageEndpoint,
      ...(s.tokenEndpoint ? { token_endpoint: s.tokenEndpoint } : {}),
      poll_interval_seconds: s.pollIntervalSeconds ?? 30,
      tuned_model_display_name: display,
      hyper_parameters: { epoch_count: config.epoch_count, learning_rate_multiplier: config.learning_rate_multiplier, adapter_size: config.adapter_size },
      labels: { ...(job.labels ?? {}) },
      job: jobName,
    },
    dataset: { train, ...(validation ? { validation } : {}) },
  };
  writeFileAtomic(path.join(dir, 'run.json'), JSON.stringify(record, null, 2) + '\n');
  return { dir, created: true, notes };
}
