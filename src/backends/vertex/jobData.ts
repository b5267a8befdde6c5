/**
 * The data of a tuning job started elsewhere, copied beside its run from Cloud Storage when it can
 * be read, so the run's curves sit beside its data (hard samples, leakage, comparing) like ours.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { VertexClient } from './client';
import type { VertexDatasetRecord } from './dataset';
import { parseBucket } from './settings';

/** The bytes of a Cloud Storage object (objects.get with alt=media), or why not. */
async function download(client: VertexClient, uri: string): Promise<Buffer | string> {
  let where: { bucket: string; prefix: string };
  try {
    where = parseBucket(uri); // gs://bucket/object: the "prefix" is the object's name
  } catch {
    return `${uri} is not a gs:// URI of an object`;
  }
  if (where.prefix === '') return `${uri} names a bucket, not an object`;
  const url = `${client.settings.storageEndpoint}/storage/v1/b/${encodeURIComponent(where.bucket)}/o/${encodeURIComponent(where.prefix)}?alt=media`;
  try {
    const r = await client.transport.fetch(url);
    if (!r.ok) return `${uri}: HTTP ${r.status}`;
    return Buffer.from(await r.arrayBuffer());
  } catch (err) {
    return `${uri}: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * The dataset record of `uri`, copied to `file` when it can be read; when it cannot, the record
 * names the URI only (no hash: the run's data is then "remote") and `note` says why.
 */
export async function copyJobData(client: VertexClient, uri: string, file: string): Promise<{ record: VertexDatasetRecord; note?: string }> {
  const got = await download(client, uri);
  if (typeof got === 'string') {
    return {
      record: { path: uri, sha256: '', bytes: 0, samples: 0, formats: [], converted: false, lossy: [], upload_sha256: '', upload_bytes: 0, uri },
      note: `could not copy the data (${got}); the run shows without it`,
    };
  }
  writeFileSync(file, got);
  const sha256 = createHash('sha256').update(got).digest('hex');
  const samples = got.toString('utf8').split('\n').filter((l) => l.trim() !== '').length;
  return { record: { path: file, sha256, bytes: got.length, samples, formats: ['vertex-gemini'], converted: false, lossy: [], upload_sha256: sha256, upload_bytes: got.length, uri } };
}
