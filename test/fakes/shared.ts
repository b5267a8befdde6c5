// Pieces shared by the handlers of the fake Google Cloud server (test/fakes/googleCloud.ts).
// No `vscode` import: this runs in plain Node (unit tests) and in the e2e test process.
import type { IncomingHttpHeaders } from 'node:http';

/** One request as the fake received it. */
export interface RecordedRequest {
  method: string;
  /** The path as sent (still percent-encoded), without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The body parsed as JSON when it was JSON. */
  json?: unknown;
  /** The status the fake answered with; absent while the answer is held (a `hang` fault) or when the connection was reset. */
  status?: number;
}

/** What a handler answers; the server writes it, or holds it back for a `hang` fault. */
export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: Buffer | string | object;
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const json = (status: number, body: object, headers: Record<string, string> = {}): Reply => ({ status, body, headers });

/**
 * google.rpc.Code names by HTTP status, as Google's APIs map them.
 * Reference: googleapis/googleapis google/rpc/code.proto (the HTTP mapping in each code's comment).
 */
const STATUS_BY_HTTP: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  412: 'FAILED_PRECONDITION',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export function rpcStatusName(http: number): string {
  return STATUS_BY_HTTP[http] ?? (http >= 500 ? 'INTERNAL' : 'UNKNOWN');
}

/**
 * The error body of Google's REST APIs (Vertex AI, OAuth-protected JSON APIs):
 * `{"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT"}}`.
 * Reference: https://cloud.google.com/apis/design/errors ("HTTP mapping"), google/rpc/status.proto.
 */
export function googleError(code: number, message: string, status = rpcStatusName(code), headers: Record<string, string> = {}): Reply {
  return json(code, { error: { code, message, status } }, headers);
}

/** Messages Google's front end gives for a missing / bad bearer token (seen in real 401 bodies; wording [U] beyond the first sentence). */
export const MISSING_CREDENTIAL =
  'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';
export const INVALID_CREDENTIAL =
  'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';

/** Default message per status for injected faults on the Vertex-style APIs. */
export function defaultFaultMessage(status: number): string {
  switch (status) {
    case 401: return INVALID_CREDENTIAL;
    case 429: return 'Resource exhausted. Please try again later.';
    case 500: return 'Internal error encountered.';
    case 503: return 'The service is currently unavailable.';
    case 504: return 'Deadline exceeded.';
    default: return `Injected fault ${status}.`;
  }
}

/**
 * google.protobuf.Timestamp in JSON: RFC 3339, Z-normalized, with 0, 3, 6 or 9 fractional digits
 * (google/protobuf/timestamp.proto, "JSON Mapping"). Vertex AI prints 6 (microseconds), so the fake does
 * too: a client that assumes milliseconds breaks here as it would against the service.
 */
export const timestamp = (d: Date): string => d.toISOString().replace(/Z$/, '000Z');
