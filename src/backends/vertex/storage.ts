/**
 * Datasets to Cloud Storage with the JSON API: the object is named after the content's SHA-256
 * (`<prefix>/sft-studio/datasets/<sha256>.jsonl`), so the same data is uploaded once; an object
 * already there with the same size and MD5 is used as it is. Small files go in one request
 * (uploadType=media); larger ones in a resumable session, chunk by chunk, with progress, resuming
 * from what the service says it holds after a failed chunk.
 *
 * Written on fetch rather than @google-cloud/storage (8.4.0, tried first): pointed at a loopback
 * `apiEndpoint` with `useAuthWithCustomEndpoint` and an auth client, its metadata GET and simple
 * upload carried the token but its resumable upload's session request went out with no
 * Authorization header (401); and it sends every request through its own gaxios/retry stack, so our
 * transport (one credentials object renewed on a 401, Retry-After, injectable backoff for fast tests,
 * AmbiguousRequestError for requests not safe to repeat) would not cover them. Three documented JSON
 * API calls are all this needs.
 */
import { createHash } from 'node:crypto';
import { AmbiguousRequestError, googleErrorMessage, HttpError, type Transport } from './transport';

/** Resumable chunks must be multiples of 256 KiB (the last one excepted). */
export const CHUNK_QUANTUM = 256 * 1024;

export interface UploadOptions {
  readonly storageEndpoint: string;
  readonly bucket: string;
  /** Object-name prefix, '' for none. */
  readonly prefix: string;
  /** Files of at least this many bytes use a resumable upload. Default 8 MiB. */
  readonly resumableThreshold?: number;
  /** Bytes per resumable chunk, rounded down to a multiple of 256 KiB. Default 8 MiB. */
  readonly chunkBytes?: number;
  readonly onProgress?: (sentBytes: number, totalBytes: number) => void;
  readonly signal?: AbortSignal;
}

export interface UploadResult {
  readonly uri: string;
  readonly object: string;
  readonly sha256: string;
  readonly bytes: number;
  /** False when an identical object was already in the bucket. */
  readonly uploaded: boolean;
  readonly method: 'existing' | 'simple' | 'resumable';
}

interface StorageObject {
  readonly name?: string;
  readonly size?: string;
  readonly md5Hash?: string;
}

export function datasetObjectName(prefix: string, sha256: string): string {
  return `${prefix ? `${prefix}/` : ''}sft-studio/datasets/${sha256}.jsonl`;
}

const CONTENT_TYPE = 'application/jsonl';

/** Puts `data` in the bucket under its content hash unless it is there already. */
export async function uploadDataset(transport: Transport, data: Buffer, opts: UploadOptions): Promise<UploadResult> {
  const sha256 = createHash('sha256').update(data).digest('hex');
  const md5 = createHash('md5').update(data).digest('base64');
  const object = datasetObjectName(opts.prefix, sha256);
  const uri = `gs://${opts.bucket}/${object}`;
  const root = opts.storageEndpoint.replace(/\/+$/, '');
  const bucketPath = `b/${encodeURIComponent(opts.bucket)}/o`;
  const result = (method: UploadResult['method']): UploadResult => ({ uri, object, sha256, bytes: data.length, uploaded: method !== 'existing', method });
  const init = (extra: RequestInit = {}): RequestInit => ({ ...extra, ...(opts.signal ? { signal: opts.signal } : {}) });

  const existing = await transport.fetch(`${root}/storage/v1/${bucketPath}/${encodeURIComponent(object)}`, init());
  if (existing.ok) {
    const o = (await existing.json()) as StorageObject;
    if (o.size === String(data.length) && o.md5Hash === md5) return result('existing');
  } else if (existing.status !== 404) {
    throw new HttpError(existing.status, 'GET', `gs://${opts.bucket}/${object}`, await existing.text());
  } else {
    await existing.body?.cancel();
  }

  const uploadUrl = (type: 'media' | 'resumable') => `${root}/upload/storage/v1/${bucketPath}?uploadType=${type}&name=${encodeURIComponent(object)}`;
  const check = (o: StorageObject) => {
    if (o.md5Hash !== undefined && o.md5Hash !== md5) throw new Error(`the upload of ${uri} arrived damaged (MD5 ${o.md5Hash}, expected ${md5}); try again`);
  };

  if (data.length < (opts.resumableThreshold ?? 8 * 1024 * 1024)) {
    const res = await transport.fetch(uploadUrl('media'), init({ method: 'POST', headers: { 'content-type': CONTENT_TYPE }, body: new Uint8Array(data) }));
    const body = await res.text();
    if (!res.ok) throw new HttpError(res.status, 'POST', `upload of ${uri}`, body);
    check(JSON.parse(body) as StorageObject);
    opts.onProgress?.(data.length, data.length);
    return result('simple');
  }

  // Resumable: open a session, then send the bytes chunk by chunk.
  const start = await transport.fetch(uploadUrl('resumable'), init({
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=UTF-8', 'x-upload-content-type': CONTENT_TYPE, 'x-upload-content-length': String(data.length) },
    body: JSON.stringify({ name: object, contentType: CONTENT_TYPE }),
  }));
  if (!start.ok) throw new HttpError(start.status, 'POST', `resumable upload of ${uri}`, await start.text());
  await start.body?.cancel();
  const location = start.headers.get('location');
  if (location === null) throw new Error(`Cloud Storage opened no upload session for ${uri} (no Location header)`);
  const session = new URL(location, root).toString();
  const chunk = Math.max(CHUNK_QUANTUM, Math.floor((opts.chunkBytes ?? 8 * 1024 * 1024) / CHUNK_QUANTUM) * CHUNK_QUANTUM);
  const total = data.length;
  // "Range: bytes=0-N" on a 308: the service holds bytes 0..N.
  const heldUpTo = (res: Response): number => {
    const m = /bytes=0-(\d+)/.exec(res.headers.get('range') ?? '');
    return m === null ? 0 : Number(m[1]) + 1;
  };
  let offset = 0;
  let failures = 0;
  for (;;) {
    const end = Math.min(total, offset + chunk);
    let res: Response;
    try {
      res = await transport.fetchOnce(session, init({ method: 'PUT', headers: { 'content-range': `bytes ${offset}-${end - 1}/${total}` }, body: new Uint8Array(data.subarray(offset, end)) }));
    } catch (err) {
      if (!(err instanceof AmbiguousRequestError) || ++failures > 5) throw err;
      // Ask the service how much it has, and go on from there.
      const status = await transport.fetch(session, init({ method: 'PUT', headers: { 'content-range': `bytes */${total}` } }));
      if (status.status === 200 || status.status === 201) {
        check((await status.json()) as StorageObject);
        opts.onProgress?.(total, total);
        return result('resumable');
      }
      if (status.status !== 308) throw new HttpError(status.status, 'PUT', `resumable upload of ${uri}`, await status.text());
      await status.body?.cancel();
      offset = heldUpTo(status);
      continue;
    }
    if (res.status === 308) {
      await res.body?.cancel();
      offset = heldUpTo(res);
      opts.onProgress?.(offset, total);
      continue;
    }
    const body = await res.text();
    if (!res.ok) throw new HttpError(res.status, 'PUT', `resumable upload of ${uri}`, googleErrorMessage(body) ?? body);
    check(JSON.parse(body) as StorageObject);
    opts.onProgress?.(total, total);
    return result('resumable');
  }
}
