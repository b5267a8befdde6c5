/**
 * Every HTTP call to Google goes through here (Vertex AI through @google/genai's `httpOptions.fetch`,
 * Cloud Storage and the metadata/TensorBoard reads directly): the bearer token from the
 * credentials; retries with exponential backoff and full jitter on 429, 5xx and network errors
 * (Retry-After honoured); a 401 renews the token once and tries again. A request that is not safe
 * to repeat (creating a job) is retried only when the service surely did not act on it (429, 401);
 * any other failure is thrown as AmbiguousRequestError for the caller to resolve.
 */
import { ADC_FIX, CredentialsError, TOKEN_FIX, type Credentials } from './auth';

export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface RetryOptions {
  /** Tries in all, the first included. Default 6. */
  readonly attempts?: number;
  /** Backoff base: the n-th retry waits a random time in [0, min(max, base·2ⁿ)). Default 1000 ms. */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** One try's time limit. Default 60 s. */
  readonly timeoutMs?: number;
  /** Injectable for tests: random in [0, 1) and a sleep that honours an abort signal. */
  readonly random?: () => number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface RetryNote {
  readonly method: string;
  /** The URL without its query (a resumable upload's session id is a credential). */
  readonly url: string;
  readonly attempt: number;
  readonly delayMs: number;
  readonly reason: string;
}

export interface TransportOptions {
  readonly credentials: Credentials;
  readonly retry?: RetryOptions;
  readonly onRetry?: (note: RetryNote) => void;
  /** The fetch underneath (default: the global one). */
  readonly fetch?: Fetch;
}

/** A non-2xx answer, with Google's error message when the body has one. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly method: string, readonly url: string, readonly body: string) {
    super(`${method} ${url} answered ${status}: ${googleErrorMessage(body) ?? (body.slice(0, 300) || 'no details')}`);
  }
}

/** A request that may or may not have been carried out (a time-out, a dropped connection, a 5xx). */
export class AmbiguousRequestError extends Error {
  constructor(readonly reason: string, readonly status?: number) {
    super(reason);
  }
}

/** `{"error":{"message":…}}`, the shape of Google's JSON errors. */
export function googleErrorMessage(body: string): string | undefined {
  try {
    const v = JSON.parse(body) as { error?: { message?: unknown; status?: unknown } | string; error_description?: unknown };
    if (typeof v.error === 'object' && v.error !== null && typeof v.error.message === 'string') return v.error.message;
    if (typeof v.error_description === 'string') return v.error_description;
    if (typeof v.error === 'string') return v.error;
  } catch {
    // not JSON
  }
  return undefined;
}

export const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Retry-After in milliseconds: delta-seconds or an HTTP date. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);
const bare = (url: string) => url.replace(/[?#].*$/, '');

export interface Transport {
  /** Authenticated, retried; for requests safe to repeat. */
  readonly fetch: Fetch;
  /** Authenticated; retried only on 429/401; other failures throw AmbiguousRequestError. */
  readonly fetchOnce: Fetch;
  /** fetch + JSON answer; a non-2xx answer throws HttpError. */
  json<T>(url: string, init?: RequestInit): Promise<T>;
  readonly credentials: Credentials;
}

export function createTransport(opts: TransportOptions): Transport {
  const r = opts.retry ?? {};
  const attempts = Math.max(1, r.attempts ?? 6);
  const base = r.baseDelayMs ?? 1000;
  const max = r.maxDelayMs ?? 32_000;
  const timeoutMs = r.timeoutMs ?? 60_000;
  const random = r.random ?? Math.random;
  const sleep = r.sleep ?? defaultSleep;
  const underlying: Fetch = opts.fetch ?? ((i, init) => fetch(i, init));

  const send = async (input: string | URL | Request, init: RequestInit | undefined, idempotent: boolean): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const caller = init?.signal ?? undefined;
    let refreshed = false;
    let token = await opts.credentials.token();
    for (let attempt = 1; ; attempt++) {
      const headers = new Headers(init?.headers);
      headers.set('authorization', `Bearer ${token}`);
      const signal = caller ? AbortSignal.any([caller, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
      let response: Response | undefined;
      let failure: string;
      try {
        response = await underlying(url, { ...init, method, headers, signal, redirect: init?.redirect ?? 'manual' });
      } catch (err) {
        if (caller?.aborted) throw caller.reason;
        const e = err as Error & { cause?: { code?: string } };
        failure = e.name === 'TimeoutError' ? `no answer within ${Math.round(timeoutMs / 1000)} s` : `network error (${e.cause?.code ?? e.message})`;
        if (!idempotent) throw new AmbiguousRequestError(`${method} ${bare(url)}: ${failure}`);
      }
      let wait: number | undefined;
      if (response !== undefined) {
        if (response.status === 401 && !refreshed) {
          await response.body?.cancel();
          refreshed = true;
          token = await opts.credentials.refresh();
          attempt--; // a renewed token is not a retry
          continue;
        }
        if (response.status === 401) {
          // Renewed and still refused: the credentials are what is wrong.
          const body = await response.text();
          throw new CredentialsError(`Google refused the renewed credentials (${googleErrorMessage(body) ?? 'HTTP 401'})`, opts.credentials.kind === 'adc' ? ADC_FIX : TOKEN_FIX);
        }
        if (!RETRYABLE.has(response.status) || attempt >= attempts) {
          if (!idempotent && response.status >= 500) {
            const body = await response.text();
            throw new AmbiguousRequestError(`${method} ${bare(url)} answered ${response.status}: ${googleErrorMessage(body) ?? body.slice(0, 200)}`, response.status);
          }
          return response;
        }
        if (!idempotent && response.status !== 429) {
          const body = await response.text();
          throw new AmbiguousRequestError(`${method} ${bare(url)} answered ${response.status}: ${googleErrorMessage(body) ?? body.slice(0, 200)}`, response.status);
        }
        failure = `HTTP ${response.status}`;
        wait = retryAfterMs(response.headers.get('retry-after'));
        await response.body?.cancel();
      } else if (attempt >= attempts) {
        throw new AmbiguousRequestError(`${method} ${bare(url)}: ${failure!} (${attempts} tries)`);
      }
      const backoff = Math.floor(random() * Math.min(max, base * 2 ** (attempt - 1)));
      const delayMs = wait !== undefined ? Math.max(wait, backoff) : backoff;
      opts.onRetry?.({ method, url: bare(url), attempt, delayMs, reason: failure! });
      await sleep(delayMs, caller);
    }
  };

  const fetchRetried: Fetch = (i, init) => send(i, init, true);
  return {
    fetch: fetchRetried,
    fetchOnce: (i, init) => send(i, init, false),
    credentials: opts.credentials,
    async json<T>(url: string, init?: RequestInit): Promise<T> {
      const res = await fetchRetried(url, init);
      const body = await res.text();
      if (!res.ok) throw new HttpError(res.status, (init?.method ?? 'GET').toUpperCase(), bare(url), body);
      return (body === '' ? {} : JSON.parse(body)) as T;
    },
  };
}
