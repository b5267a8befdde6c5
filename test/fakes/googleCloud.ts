// A loopback HTTP server that answers as Google Cloud's documented REST APIs do, for the tests of the
// Vertex AI backend: the OAuth 2.0 token endpoint (and STS token exchange), the Cloud Storage JSON API
// (object metadata, simple / multipart / resumable upload), Vertex AI v1 tuningJobs, the job's experiment
// (metadata contexts) and TensorBoard time series, and generateContent. It records every request so tests
// assert the exact requests, and injects the service's faults (429, 5xx, 401 after a token expires, a create
// that never answers, a connection reset).
//
// Plain node:http, no `vscode`: usable from unit tests and from the e2e test process (which points VS Code's
// settings at `fake.url`). One origin serves everything: use it as the Vertex apiEndpoint, the storage
// endpoint and the token endpoint base (`${url}/token`).
//
// Every handler cites its reference in test/fakes/gcs.ts and test/fakes/vertex.ts. [U] marks behaviour
// (mostly error wording) no reference pinned down.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { FakeStorage, STORAGE_UNAUTHENTICATED, storageError } from './gcs';
import {
  defaultFaultMessage,
  googleError,
  INVALID_CREDENTIAL,
  json,
  MISSING_CREDENTIAL,
  type RecordedRequest,
  type Reply,
} from './shared';
import { echoResponder, FakeTuningJob, FakeVertex, DEFAULT_TUNABLE_MODELS, type JobScript, type Responder, type RpcStatus } from './vertex';

export type { RecordedRequest, Reply } from './shared';
export {
  ADAPTER_SIZES,
  DEFAULT_TUNABLE_MODELS,
  dataStats,
  echoResponder,
  estimateTokens,
  FakeTuningJob,
  type GenerateContentRequest,
  type JobScript,
  type JobState,
  type MetricPoint,
  type Responder,
  type RpcStatus,
} from './vertex';
export { RESUMABLE_CHUNK } from './gcs';

export interface FaultRule {
  /** HTTP method to match (any when absent). */
  method?: string;
  /** A string matches the request path exactly (as sent, percent-encoded); a RegExp is tested against path + query. */
  path: RegExp | string;
  /** Status to answer instead of handling the request (ignored with `hang` / `reset`). Default 503. */
  status?: number;
  /** How many matching requests it applies to. Default 1; Infinity for all. */
  times?: number;
  /** Body to answer; default Google's error shape for the status (the storage shape on storage paths). */
  body?: unknown;
  headers?: Record<string, string>;
  /** The request is handled (a job is created, an object stored) but no answer comes until `releaseHeld()` or `close()`: a timeout. */
  hang?: boolean;
  /** The connection is destroyed without an answer, before the request is handled (a network error). */
  reset?: boolean;
}

/** A rule as the fake keeps it: `hits` counts the requests it applied to. */
export interface ActiveFault extends Readonly<FaultRule> {
  readonly hits: number;
}

export interface IssuedToken {
  token: string;
  source: 'refresh_token' | 'jwt_bearer' | 'token_exchange' | 'static';
  /** Set by `tokens.expire`; a token is also expired once the fake's clock passes `expiresAt`. */
  expired: boolean;
  /** Issue time + expires_in, on the fake's clock (`now` option); absent for static tokens. */
  expiresAt?: Date;
}

export interface FakeTokens {
  /** Every access token the fake knows, in the order issued or added. */
  readonly all: readonly IssuedToken[];
  /** Registers a token the API accepts without any exchange (what `--access-token` passes). */
  addStatic(token: string): void;
  /** API calls with this token (default: the last one issued or added) get 401 from now on. Returns it. */
  expire(token?: string): string;
  /** Refresh tokens the token endpoint accepts (authorized_user ADC). */
  readonly refreshTokens: Set<string>;
  /** Issues a token as the token endpoint would (for tests that need one without a request). */
  issue(): string;
}

export interface FakeGoogleCloudOptions {
  /** Project ids the APIs answer for; any when absent. The project number is always accepted. */
  projects?: string[];
  /** The project number the service puts in resource names it returns. Default '123456789012'. */
  projectNumber?: string;
  /** Refresh tokens the token endpoint accepts. Default ['fake-refresh-token']. */
  refreshTokens?: string[];
  /** When set, the token endpoint also checks client_id / client_secret of a refresh. */
  client?: { id: string; secret: string };
  /** Access tokens accepted from the start (as with `tokens.addStatic`). */
  staticTokens?: string[];
  /** expires_in of issued tokens. Default 3600. */
  tokenLifetimeSeconds?: number;
  /** Buckets that exist; any when absent. */
  buckets?: string[];
  /** Base models tunable. Default DEFAULT_TUNABLE_MODELS. */
  tunableModels?: string[];
  /** Answers generateContent. Default `echoResponder`. */
  responder?: Responder;
  /** The clock for every timestamp the fake writes. Default real time. */
  now?: () => Date;
}

export interface FakeGoogleCloud {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** Every request, in order of arrival. */
  readonly requests: RecordedRequest[];
  /** 'bucket/objectName' -> bytes stored in Cloud Storage. */
  readonly objects: Map<string, Buffer>;
  /** Tuning jobs by resource name (projects/{number}/locations/{l}/tuningJobs/{id}). */
  readonly jobs: ReadonlyMap<string, FakeTuningJob>;
  readonly tokens: FakeTokens;
  /** Injects a fault; see FaultRule. */
  fail(rule: FaultRule): ActiveFault;
  /** How jobs created from now on evolve (`once`: only the next created job). */
  script(script: JobScript, opts?: { once?: boolean }): void;
  /** Ticks a job as a GET would, without a request. Default one tick. */
  advance(name: string, ticks?: number): FakeTuningJob;
  /** Ends a job now: 'succeed' runs its remaining steps; { fail } ends it FAILED with that error. */
  finish(name: string, outcome: 'succeed' | { fail: RpcStatus }): FakeTuningJob;
  /** Stores an object as if uploaded before. */
  putObject(bucket: string, name: string, data: Buffer | string, contentType?: string): void;
  /** Replaces the generateContent responder. */
  respondWith(responder: Responder): void;
  /** Sends the answers that `hang` faults held back (late answers, e.g. after the client gave up). Returns how many. */
  releaseHeld(): number;
  /** Requests whose path matches (string: exact path; RegExp: path + query), optionally of one method. */
  requestsTo(path: RegExp | string, method?: string): RecordedRequest[];
  /**
   * Resolves with the `count`-th matching request (default the first; earlier ones count) once it has been
   * answered (or held, or reset): for e2e tests, which wait on events, not sleeps. Rejects after `timeoutMs`
   * (default 10 s) listing what did arrive.
   */
  waitForRequest(path: RegExp | string, opts?: { method?: string; count?: number; timeoutMs?: number }): Promise<RecordedRequest>;
  close(): Promise<void>;
}

const STORAGE_PATH = /^\/(?:(?:upload|download)\/)?storage\/v1\//;
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

export async function startFakeGoogleCloud(opts: FakeGoogleCloudOptions = {}): Promise<FakeGoogleCloud> {
  const now = opts.now ?? (() => new Date());
  const lifetime = opts.tokenLifetimeSeconds ?? 3600;
  const requests: RecordedRequest[] = [];
  const faults: (FaultRule & { hits: number; remaining: number })[] = [];
  const tokenList: IssuedToken[] = [];
  const refreshTokens = new Set(opts.refreshTokens ?? ['fake-refresh-token']);
  let responder: Responder = opts.responder ?? echoResponder;
  let origin = '';
  let tokenCounter = 0;

  const storage = new FakeStorage({ get origin() { return origin; }, now }, opts.buckets ? new Set(opts.buckets) : null);
  const vertex = new FakeVertex({
    now,
    projectNumber: opts.projectNumber ?? '123456789012',
    projects: opts.projects ? new Set(opts.projects) : null,
    tunableModels: opts.tunableModels ?? DEFAULT_TUNABLE_MODELS,
    readObject: (uri) => {
      const m = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
      return m ? storage.objects.get(`${m[1]}/${m[2]}`) : undefined;
    },
    responder: () => responder,
  });

  const issue = (source: IssuedToken['source']): string => {
    const token = `ya29.fake-${++tokenCounter}-${randomBytes(12).toString('base64url')}`;
    tokenList.push({ token, source, expired: false, expiresAt: new Date(now().getTime() + lifetime * 1000) });
    return token;
  };
  const tokens: FakeTokens = {
    all: tokenList,
    addStatic: (token) => void tokenList.push({ token, source: 'static', expired: false }),
    expire: (token) => {
      const entry = token === undefined ? tokenList[tokenList.length - 1] : tokenList.find((t) => t.token === token);
      if (!entry) throw new Error(token === undefined ? 'no token issued yet' : `unknown token ${token}`);
      entry.expired = true;
      return entry.token;
    },
    refreshTokens,
    issue: () => issue('refresh_token'),
  };
  for (const t of opts.staticTokens ?? []) tokens.addStatic(t);

  /** null when the bearer token is valid, else the 401 to answer. */
  const authProblem = (req: IncomingMessage, storagePath: boolean): Reply | null => {
    const header = req.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    const known = m ? tokenList.find((t) => t.token === m[1]) : undefined;
    if (known && !known.expired && !(known.expiresAt && now() >= known.expiresAt)) return null;
    const challenge = { 'WWW-Authenticate': 'Bearer realm="https://accounts.google.com/"' };
    if (storagePath) return { ...STORAGE_UNAUTHENTICATED(), headers: challenge };
    return googleError(401, header ? INVALID_CREDENTIAL : MISSING_CREDENTIAL, 'UNAUTHENTICATED', challenge);
  };

  /**
   * POST /token — Google's OAuth 2.0 token endpoint (https://oauth2.googleapis.com/token) for the refresh
   * grant of authorized_user credentials: form fields grant_type=refresh_token, refresh_token, client_id,
   * client_secret (what google-auth-library's OAuth2Client.refreshTokenNoCache sends); answer
   * {access_token, expires_in, scope, token_type: "Bearer"}; a bad refresh token gets 400
   * {error: "invalid_grant", error_description} (RFC 6749 §5.2; Google's description text [U]).
   * https://developers.google.com/identity/protocols/oauth2/web-server#offline
   *
   * POST /v1/token — STS token exchange (https://sts.googleapis.com/v1/token, RFC 8693) for workload
   * identity federation (external_account credentials, whose token_url the library does read):
   * grant_type=urn:ietf:params:oauth:grant-type:token-exchange, subject_token, subject_token_type; answer
   * {access_token, issued_token_type, token_type, expires_in}.
   * https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token
   */
  const tokenEndpoint = (body: Buffer, contentType: string): Reply => {
    const form = /json/i.test(contentType)
      ? new URLSearchParams(Object.entries(safeJson(body) ?? {}).map(([k, v]) => [k, String(v)]))
      : new URLSearchParams(body.toString('utf8'));
    const grant = form.get('grant_type');
    if (grant === 'refresh_token') {
      if (opts.client && (form.get('client_id') !== opts.client.id || form.get('client_secret') !== opts.client.secret)) {
        return json(401, { error: 'invalid_client', error_description: 'The OAuth client was not found.' });
      }
      const refresh = form.get('refresh_token');
      if (!refresh) return json(400, { error: 'invalid_request', error_description: 'Missing required parameter: refresh_token' });
      if (!refreshTokens.has(refresh)) {
        return json(400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
      }
      return json(200, { access_token: issue('refresh_token'), expires_in: lifetime, scope: CLOUD_PLATFORM_SCOPE, token_type: 'Bearer' });
    }
    if (grant === 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      // Service-account keys (RFC 7523): google-auth-library posts a signed JWT here, but to a hard-coded
      // https://oauth2.googleapis.com/token, so only a client with its own transport reaches the fake. The
      // signature is not checked; the assertion must be a JWT with iss and scope claims.
      const claims = jwtClaims(form.get('assertion') ?? '');
      if (!claims || typeof claims.iss !== 'string' || typeof claims.scope !== 'string') {
        return json(400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
      }
      return json(200, { access_token: issue('jwt_bearer'), expires_in: lifetime, token_type: 'Bearer' });
    }
    if (grant === 'urn:ietf:params:oauth:grant-type:token-exchange') {
      if (!form.get('subject_token') || !form.get('subject_token_type')) {
        return json(400, { error: 'invalid_request', error_description: 'subject_token and subject_token_type are required.' });
      }
      return json(200, {
        access_token: issue('token_exchange'),
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        token_type: 'Bearer',
        expires_in: lifetime,
      });
    }
    return json(400, { error: 'unsupported_grant_type', error_description: `Invalid grant_type: ${grant ?? ''}` });
  };

  const route = (req: IncomingMessage, path: string, query: URLSearchParams, body: Buffer, parsed: unknown): Reply => {
    const method = req.method ?? 'GET';
    const contentType = String(req.headers['content-type'] ?? '');
    if (method === 'POST' && (path === '/token' || path === '/v1/token')) return tokenEndpoint(body, contentType);

    if (STORAGE_PATH.test(path)) {
      let m: RegExpExecArray | null;
      // PUT to a resumable session URI: the upload_id is the credential (no Authorization needed).
      if (method === 'PUT' && (m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path)) && query.has('upload_id')) {
        return storage.chunk(query, req.headers, body);
      }
      const denied = authProblem(req, true);
      if (denied) return denied;
      if (method === 'GET' && (m = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path))) {
        return storage.get(decodeURIComponent(m[1]), decodeURIComponent(m[2]), query);
      }
      if (method === 'GET' && (m = /^\/download\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path))) {
        const q = new URLSearchParams(query);
        q.set('alt', 'media');
        return storage.get(decodeURIComponent(m[1]), decodeURIComponent(m[2]), q);
      }
      if (method === 'POST' && (m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path))) {
        return storage.insert(decodeURIComponent(m[1]), query, req.headers, body);
      }
      return storageError(404, `Not Found: ${method} ${path}`, 'notFound');
    }

    if (path.startsWith('/v1/')) {
      const denied = authProblem(req, false);
      if (denied) return denied;
      const isJson = parsed !== undefined;
      if (method === 'POST' && body.length > 0 && !isJson) {
        return googleError(400, 'Invalid JSON payload received. Unexpected token.', 'INVALID_ARGUMENT');
      }
      const reply = vertex.route(method, path.slice('/v1/'.length), query, parsed, isJson);
      if (reply) return reply;
    }
    return googleError(404, `The requested URL ${path} was not found on this server.`, 'NOT_FOUND');
  };

  const held = new Map<ServerResponse, { record: RecordedRequest; reply: Reply }>();
  // Requests that are done (answered, held or reset), in order, and who waits for them.
  const done: RecordedRequest[] = [];
  const waiters = new Set<() => void>();
  const finished = (record: RecordedRequest): void => {
    done.push(record);
    for (const w of [...waiters]) w();
  };
  const matches = (r: RecordedRequest, path: RegExp | string, method?: string): boolean =>
    (!method || r.method === method.toUpperCase()) &&
    (typeof path === 'string' ? r.path === path : path.test(r.path + (r.query.size ? `?${r.query.toString()}` : '')));

  const send = (res: ServerResponse, record: RecordedRequest, reply: Reply): void => {
    const body =
      reply.body === undefined ? Buffer.alloc(0)
        : Buffer.isBuffer(reply.body) ? reply.body
          : typeof reply.body === 'string' ? Buffer.from(reply.body)
            : Buffer.from(JSON.stringify(reply.body, null, 2));
    const headers: Record<string, string> = {
      ...(reply.body !== undefined && !Buffer.isBuffer(reply.body) && typeof reply.body === 'object'
        ? { 'Content-Type': 'application/json; charset=UTF-8' }
        : {}),
      ...reply.headers,
      'Content-Length': String(body.length),
    };
    record.status = reply.status;
    res.writeHead(reply.status, headers);
    res.end(body);
    if (!done.includes(record)) finished(record);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const parsed = safeJson(body);
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body,
      ...(parsed !== undefined ? { json: parsed } : {}),
    };
    requests.push(record);

    const fault = faults.find(
      (f) =>
        f.remaining > 0 &&
        (!f.method || f.method.toUpperCase() === record.method) &&
        (typeof f.path === 'string' ? f.path === url.pathname : f.path.test(url.pathname + url.search)),
    );
    if (fault) {
      fault.remaining--;
      fault.hits++;
      if (fault.reset) {
        req.socket.destroy();
        finished(record);
        return;
      }
      if (!fault.hang) {
        const status = fault.status ?? 503;
        const reply: Reply =
          fault.body !== undefined
            ? { status, body: fault.body as object, headers: fault.headers ?? {} }
            : STORAGE_PATH.test(url.pathname)
              ? { ...storageError(status, defaultFaultMessage(status), status === 429 ? 'rateLimitExceeded' : 'backendError'), headers: fault.headers ?? {} }
              : googleError(status, defaultFaultMessage(status), undefined, fault.headers ?? {});
        send(res, record, reply);
        return;
      }
    }
    let reply: Reply;
    try {
      reply = route(req, url.pathname, url.searchParams, body, parsed);
    } catch (e) {
      reply = googleError(500, `Fake Google Cloud bug: ${(e as Error).stack ?? String(e)}`, 'INTERNAL');
    }
    if (fault?.hang) {
      // Handled, but the answer never comes: the client times out and must not create a second job.
      held.set(res, { record, reply });
      res.on('close', () => held.delete(res));
      finished(record);
      return;
    }
    send(res, record, reply);
  };

  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const jobNamed = (name: string): FakeTuningJob => {
    const job = vertex.jobs.get(name);
    if (!job) throw new Error(`no tuning job ${name}; jobs: ${[...vertex.jobs.keys()].join(', ') || '(none)'}`);
    return job;
  };

  return {
    url: origin,
    requests,
    objects: storage.objects,
    jobs: vertex.jobs,
    tokens,
    fail(rule) {
      const active = { ...rule, hits: 0, remaining: rule.times ?? 1 };
      faults.push(active);
      return active;
    },
    script(script, o) {
      vertex.script(script, o?.once ?? false);
    },
    advance(name, ticks = 1) {
      const job = jobNamed(name);
      for (let i = 0; i < ticks; i++) vertex.tick(job);
      return job;
    },
    finish(name, outcome) {
      const job = jobNamed(name);
      vertex.finish(job, outcome);
      return job;
    },
    putObject(bucket, name, data, contentType) {
      storage.put(bucket, name, data, contentType);
    },
    respondWith(r) {
      responder = r;
    },
    requestsTo(path, method) {
      return requests.filter((r) => matches(r, path, method));
    },
    waitForRequest(path, o = {}) {
      const count = o.count ?? 1;
      const timeoutMs = o.timeoutMs ?? 10_000;
      return new Promise<RecordedRequest>((resolve, reject) => {
        const check = (): void => {
          const found = done.filter((r) => matches(r, path, o.method));
          if (found.length < count) return;
          cleanup();
          resolve(found[count - 1]);
        };
        const timer = setTimeout(() => {
          cleanup();
          const seen = done.slice(-20).map((r) => `${r.method} ${r.path} -> ${r.status ?? '(no answer)'}`).join('\n  ');
          reject(new Error(`no ${count > 1 ? `${count}th ` : ''}${o.method ? `${o.method} ` : ''}request to ${String(path)} within ${timeoutMs} ms; the last ones:\n  ${seen || '(none)'}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    releaseHeld() {
      const waiting = [...held];
      held.clear();
      for (const [res, { record, reply }] of waiting) send(res, record, reply);
      return waiting.length;
    },
    async close() {
      for (const res of held.keys()) res.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function jwtClaims(jwt: string): Record<string, unknown> | undefined {
  const parts = jwt.split('.');
  if (parts.length !== 3) return undefined;
  return safeJson(Buffer.from(parts[1], 'base64url'));
}

function safeJson(body: Buffer): Record<string, unknown> | undefined {
  if (body.length === 0) return undefined;
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
