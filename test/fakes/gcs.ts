// Cloud Storage JSON API, as much of it as SFT Studio uses: object metadata and download, simple,
// multipart and resumable uploads, the ifGenerationMatch precondition.
//
// References (checked, see the report in the commit that added this file):
// - Object resource fields: storage v1 discovery document (googleapis/google-api-go-client
//   storage/v1/storage-api.json, "Object" schema) — size, generation, metageneration are strings;
//   md5Hash and crc32c are base64 (crc32c big-endian, RFC 4960 Appendix B).
// - objects.get / objects.insert: https://cloud.google.com/storage/docs/json_api/v1/objects/get,
//   https://cloud.google.com/storage/docs/json_api/v1/objects/insert (uploadType=media|multipart|resumable,
//   ifGenerationMatch).
// - Resumable uploads: https://cloud.google.com/storage/docs/performing-resumable-uploads (initiate with
//   POST ...?uploadType=resumable, 200 + Location session URI; PUT chunks with Content-Range; 308 with
//   Range for an incomplete upload; status query with "Content-Range: bytes */SIZE").
// - Service behaviour pinned by Google's own system tests against the real service
//   (googleapis/google-resumable-media-python tests/system/requests/test_upload.py): initiate answers 200
//   with an empty body and an X-GUploader-UploadID header equal to the session URI's upload_id; a chunk
//   smaller than 262144 bytes that is not the last one gets 400 with a plain-text message; a finished
//   upload's object has metageneration "1", storageClass "STANDARD", size as a string, no "metadata" key
//   when none was given.
// - Error body of the JSON API: {"error": {"code", "message", "errors": [{"domain", "reason", "message"}]}}
//   (https://cloud.google.com/storage/docs/json_api/v1/status-codes).
import { createHash, randomBytes } from 'node:crypto';
import { CRC32C } from '@google-cloud/storage';
import { isObject, json, type Reply, timestamp } from './shared';

/** The JSON API's error body (note: no "status" field, unlike the Vertex AI APIs). */
export function storageError(code: number, message: string, reason: string, extra: Record<string, string> = {}): Reply {
  return json(code, { error: { code, message, errors: [{ message, domain: 'global', reason, ...extra }] } });
}

export const STORAGE_UNAUTHENTICATED = (): Reply =>
  storageError(401, 'Invalid Credentials', 'authError', { locationType: 'header', location: 'Authorization' });

/** Chunk granularity of resumable uploads: every chunk but the last is a multiple of 256 KiB. */
export const RESUMABLE_CHUNK = 256 * 1024;

interface ObjectInfo {
  generation: string;
  contentType: string;
  created: Date;
  metadata?: Record<string, string>;
}

interface UploadSession {
  id: string;
  bucket: string;
  name: string;
  contentType: string;
  metadata?: Record<string, string>;
  ifGenerationMatch: string | null;
  /** From X-Upload-Content-Length, or the first Content-Range that states it. */
  total: number | null;
  data: Buffer[];
  received: number;
  done: boolean;
}

export interface StorageContext {
  origin: string;
  now(): Date;
}

export class FakeStorage {
  /** 'bucket/objectName' -> bytes. */
  readonly objects = new Map<string, Buffer>();
  private readonly info = new Map<string, ObjectInfo>();
  private readonly sessions = new Map<string, UploadSession>();
  private generation = 1_700_000_000_000_000;

  constructor(private readonly ctx: StorageContext, private readonly buckets: Set<string> | null) {}

  /** Puts an object as if it had been uploaded before the test (or by someone else). */
  put(bucket: string, name: string, data: Buffer | string, contentType = 'application/octet-stream'): void {
    this.store(bucket, name, Buffer.from(data), contentType);
  }

  private store(bucket: string, name: string, data: Buffer, contentType: string, metadata?: Record<string, string>): ObjectInfo {
    const key = `${bucket}/${name}`;
    this.objects.set(key, data);
    const info: ObjectInfo = { generation: String(++this.generation), contentType, created: this.ctx.now(), ...(metadata ? { metadata } : {}) };
    this.info.set(key, info);
    return info;
  }

  /** The Object resource, as objects.get and the uploads answer it. */
  resource(bucket: string, name: string): Record<string, unknown> | undefined {
    const key = `${bucket}/${name}`;
    const data = this.objects.get(key);
    if (!data) return undefined;
    let info = this.info.get(key);
    if (!info) {
      // A test wrote `objects` directly: give it metadata now.
      info = { generation: String(++this.generation), contentType: 'application/octet-stream', created: this.ctx.now() };
      this.info.set(key, info);
    }
    const enc = encodeURIComponent(name);
    const crc = new CRC32C();
    crc.update(data);
    const time = timestamp(info.created);
    return {
      kind: 'storage#object',
      id: `${bucket}/${name}/${info.generation}`,
      selfLink: `${this.ctx.origin}/storage/v1/b/${bucket}/o/${enc}`,
      mediaLink: `${this.ctx.origin}/download/storage/v1/b/${bucket}/o/${enc}?generation=${info.generation}&alt=media`,
      name,
      bucket,
      generation: info.generation,
      metageneration: '1',
      contentType: info.contentType,
      storageClass: 'STANDARD',
      size: String(data.length),
      md5Hash: createHash('md5').update(data).digest('base64'),
      crc32c: crc.toString(),
      etag: Buffer.from(info.generation).toString('base64'),
      timeCreated: time,
      updated: time,
      timeStorageClassUpdated: time,
      ...(info.metadata ? { metadata: info.metadata } : {}),
    };
  }

  private bucketMissing(bucket: string): Reply | null {
    return this.buckets && !this.buckets.has(bucket) ? storageError(404, 'The specified bucket does not exist.', 'notFound') : null;
  }

  /** ifGenerationMatch: "0" means "only if no live object"; another number must equal the live generation. */
  private precondition(bucket: string, name: string, ifGenerationMatch: string | null): Reply | null {
    if (ifGenerationMatch === null) return null;
    const current = this.objects.has(`${bucket}/${name}`) ? this.resource(bucket, name)?.generation : undefined;
    const holds = ifGenerationMatch === '0' ? current === undefined : current === ifGenerationMatch;
    return holds
      ? null
      : storageError(412, 'At least one of the pre-conditions you specified did not hold.', 'conditionNotMet', {
          locationType: 'header',
          location: 'If-Match',
        });
  }

  /** GET /storage/v1/b/{bucket}/o/{object}[?alt=media] */
  get(bucket: string, name: string, query: URLSearchParams): Reply {
    const missing = this.bucketMissing(bucket);
    if (missing) return missing;
    const data = this.objects.get(`${bucket}/${name}`);
    if (!data) return storageError(404, `No such object: ${bucket}/${name}`, 'notFound');
    const resource = this.resource(bucket, name) as Record<string, string>;
    if (query.get('alt') === 'media') {
      return { status: 200, headers: { 'Content-Type': resource.contentType, 'X-Goog-Generation': resource.generation }, body: data };
    }
    return json(200, resource);
  }

  /** POST /upload/storage/v1/b/{bucket}/o?uploadType=media|multipart|resumable */
  insert(bucket: string, query: URLSearchParams, headers: Record<string, string | string[] | undefined>, body: Buffer): Reply {
    const missing = this.bucketMissing(bucket);
    if (missing) return missing;
    const uploadType = query.get('uploadType');
    const ifGenerationMatch = query.get('ifGenerationMatch');
    const contentType = String(headers['content-type'] ?? '');
    if (uploadType === 'media') {
      const name = query.get('name');
      if (!name) return storageError(400, 'Required parameter: name', 'required');
      const failed = this.precondition(bucket, name, ifGenerationMatch);
      if (failed) return failed;
      this.store(bucket, name, body, contentType || 'application/octet-stream');
      return json(200, this.resource(bucket, name) as object);
    }
    if (uploadType === 'multipart') {
      const parts = parseMultipart(contentType, body);
      if (!parts || parts.length !== 2) return storageError(400, 'Invalid multipart request.', 'invalid');
      let meta: unknown;
      try {
        meta = JSON.parse(parts[0].body.toString('utf8'));
      } catch {
        return storageError(400, 'Metadata part is not JSON.', 'parseError');
      }
      if (!isObject(meta)) return storageError(400, 'Metadata part is not a JSON object.', 'parseError');
      const name = typeof meta.name === 'string' ? meta.name : query.get('name');
      if (!name) return storageError(400, 'Required parameter: name', 'required');
      const failed = this.precondition(bucket, name, ifGenerationMatch);
      if (failed) return failed;
      const type = typeof meta.contentType === 'string' ? meta.contentType : parts[1].contentType || 'application/octet-stream';
      this.store(bucket, name, parts[1].body, type, stringMap(meta.metadata));
      return json(200, this.resource(bucket, name) as object);
    }
    if (uploadType === 'resumable') {
      let meta: Record<string, unknown> = {};
      if (body.length > 0) {
        try {
          const parsed: unknown = JSON.parse(body.toString('utf8'));
          if (isObject(parsed)) meta = parsed;
        } catch {
          return storageError(400, 'Metadata is not JSON.', 'parseError');
        }
      }
      const name = typeof meta.name === 'string' ? meta.name : query.get('name');
      if (!name) return storageError(400, 'Required parameter: name', 'required');
      const failed = this.precondition(bucket, name, ifGenerationMatch);
      if (failed) return failed;
      const declared = headers['x-upload-content-length'];
      const id = randomBytes(24).toString('base64url');
      const uploadContentType = headers['x-upload-content-type'];
      this.sessions.set(id, {
        id,
        bucket,
        name,
        contentType:
          (typeof meta.contentType === 'string' ? meta.contentType : undefined) ??
          (typeof uploadContentType === 'string' ? uploadContentType : undefined) ??
          'application/octet-stream',
        ...(stringMap(meta.metadata) ? { metadata: stringMap(meta.metadata) } : {}),
        ifGenerationMatch,
        total: typeof declared === 'string' && /^\d+$/.test(declared) ? Number(declared) : null,
        data: [],
        received: 0,
        done: false,
      });
      const location = new URL(`${this.ctx.origin}/upload/storage/v1/b/${bucket}/o`);
      location.searchParams.set('uploadType', 'resumable');
      location.searchParams.set('name', name);
      location.searchParams.set('upload_id', id);
      return { status: 200, headers: { Location: location.toString(), 'X-GUploader-UploadID': id }, body: '' };
    }
    return storageError(400, `Invalid upload type: ${uploadType ?? '(none)'}`, 'invalidParameter');
  }

  /** The resumable sessions, by upload_id (for tests that check what was received). */
  session(uploadId: string): { received: number; total: number | null; done: boolean } | undefined {
    const s = this.sessions.get(uploadId);
    return s && { received: s.received, total: s.total, done: s.done };
  }

  /** PUT {session URI}: one chunk, the whole rest, or a status query. */
  chunk(query: URLSearchParams, headers: Record<string, string | string[] | undefined>, body: Buffer): Reply {
    const s = this.sessions.get(query.get('upload_id') ?? '');
    if (!s) return storageError(404, 'No such upload session.', 'notFound');
    const range = headers['content-range'];
    const persisted = (): Reply =>
      s.received > 0 ? { status: 308, headers: { Range: `bytes=0-${s.received - 1}` }, body: '' } : { status: 308, body: '' };
    if (s.done) return json(200, this.resource(s.bucket, s.name) as object);

    let start: number;
    let end: number | null; // inclusive; null for a status query
    let total: number | null;
    if (range === undefined) {
      // The whole object in one request (single-request resumable upload).
      start = 0;
      end = body.length - 1;
      total = body.length;
    } else if (/^bytes \d+-\*\/(\d+|\*)$/.test(String(range).trim())) {
      // "bytes N-*/TOTAL" or "bytes N-*/*": everything from N to the end in this request — the form
      // @google-cloud/storage's resumable-upload.js sends when it streams without a chunk size.
      const [, from, size] = /^bytes (\d+)-\*\/(\d+|\*)$/.exec(String(range).trim()) as RegExpExecArray;
      start = Number(from);
      end = start + body.length - 1;
      total = size === '*' ? start + body.length : Number(size);
    } else {
      const m = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/.exec(String(range).trim());
      if (!m) return storageError(400, `Invalid Content-Range header: ${String(range)}`, 'invalid');
      total = m[3] === '*' ? null : Number(m[3]);
      if (m[1] === undefined) {
        start = s.received;
        end = null;
      } else {
        start = Number(m[1]);
        end = Number(m[2]);
      }
    }
    if (total !== null) {
      if (s.total !== null && s.total !== total) return storageError(400, `The total size ${total} does not match the size ${s.total} declared before.`, 'invalid');
      s.total = total;
    }
    if (end === null) {
      // Status query ("bytes */TOTAL" or "bytes */*"); with the total known and every byte received it finishes the upload.
      if (s.total !== null && s.received === s.total) return this.finish(s);
      return persisted();
    }
    if (end < start || body.length !== end - start + 1) {
      return storageError(400, `The Content-Range ${start}-${end} does not match the ${body.length} bytes sent.`, 'invalid');
    }
    if (start > s.received) {
      return storageError(
        400,
        `Invalid request. According to the Content-Range header, the upload offset is ${start} byte(s), which exceeds already uploaded size of ${s.received} byte(s).`,
        'invalid',
      );
    }
    if (s.total !== null && end + 1 > s.total) return storageError(400, `The chunk ends after the declared size ${s.total}.`, 'invalid');
    const last = s.total !== null && end + 1 === s.total;
    if (!last && body.length < RESUMABLE_CHUNK) {
      // The service's own wording (text/plain), pinned by google-resumable-media-python's system test.
      return {
        status: 400,
        headers: { 'Content-Type': 'text/plain; charset=utf-8' },
        body:
          `Invalid request.  The number of bytes uploaded is required to be equal or greater than ${RESUMABLE_CHUNK}, except for the final request ` +
          `(it's recommended to be the exact multiple of ${RESUMABLE_CHUNK}).  The received request contained ${body.length} bytes, which does not meet this requirement.`,
      };
    }
    // Bytes already persisted are skipped; a non-final chunk is persisted up to the last 256 KiB boundary
    // (the service may keep less than was sent; the client must read Range).
    const upTo = last ? end + 1 : Math.floor((end + 1) / RESUMABLE_CHUNK) * RESUMABLE_CHUNK;
    if (upTo > s.received) {
      s.data.push(body.subarray(s.received - start, upTo - start));
      s.received = upTo;
    }
    return last ? this.finish(s) : persisted();
  }

  private finish(s: UploadSession): Reply {
    const failed = this.precondition(s.bucket, s.name, s.ifGenerationMatch);
    if (failed) return failed;
    this.store(s.bucket, s.name, Buffer.concat(s.data), s.contentType, s.metadata);
    s.done = true;
    s.data = [];
    return json(200, this.resource(s.bucket, s.name) as object);
  }
}

function stringMap(v: unknown): Record<string, string> | undefined {
  if (!isObject(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) out[k] = String(x);
  return out;
}

/** multipart/related body: [{contentType, body}], or null when it cannot be split. */
function parseMultipart(contentType: string, body: Buffer): { contentType: string; body: Buffer }[] | null {
  const m = /boundary="?([^";]+)"?/i.exec(contentType);
  if (!/^multipart\/related/i.test(contentType) || !m) return null;
  const delimiter = Buffer.from(`--${m[1]}`);
  const parts: { contentType: string; body: Buffer }[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const from = at + delimiter.length;
    if (body.subarray(from, from + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, from);
    if (next < 0) return null;
    const part = body.subarray(from, next);
    const split = part.indexOf('\r\n\r\n');
    if (split < 0) return null;
    const head = part.subarray(0, split).toString('utf8');
    let content = part.subarray(split + 4);
    if (content.subarray(content.length - 2).toString() === '\r\n') content = content.subarray(0, content.length - 2);
    parts.push({ contentType: /content-type:\s*([^\r\n]+)/i.exec(head)?.[1]?.trim() ?? '', body: content });
    at = next;
  }
  return parts;
}
