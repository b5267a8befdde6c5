/**
 * The evaluation's model calls (core/evaluate.ts `Generate`) on Vertex AI: generateContent of a
 * publisher model through VertexClient (@google/genai over the retrying transport: 429, 5xx and
 * network errors are retried with backoff, a 401 renews the token once).
 */
import type { Content, GenerateContentConfig } from '@google/genai' with { 'resolution-mode': 'import' };
import type { Generate } from '../../core/evaluate';
import { checkVertexAccess, openVertexClient } from './access';
import type { VertexSettings } from './settings';
import type { Fetch, RetryNote, RetryOptions } from './transport';

/** Where the model runs: what an evaluation needs of the Vertex settings (no bucket). */
export type VertexTarget = Pick<VertexSettings, 'project' | 'location' | 'apiEndpoint' | 'tokenEndpoint' | 'accessToken'>;

export interface VertexGenerateOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly retry?: RetryOptions;
  readonly onRetry?: (note: RetryNote) => void;
  readonly fetch?: Fetch;
}

export async function vertexGenerate(target: VertexTarget, opts: VertexGenerateOptions = {}): Promise<{ generate: Generate; resolved: { project: string; location: string; apiEndpoint: string } }> {
  // Asking a model needs no bucket. The credentials are checked once now: missing or broken ones
  // are one clear message, not one failed call per sample.
  const env = opts.env ?? process.env;
  const { settings, credentials } = await checkVertexAccess({ ...target, bucket: '' }, env, { bucket: 'optional' });
  const client = await openVertexClient(settings, {
    env, credentials,
    ...(opts.retry !== undefined ? { retry: opts.retry } : {}),
    ...(opts.onRetry !== undefined ? { onRetry: opts.onRetry } : {}),
    ...(opts.fetch !== undefined ? { fetch: opts.fetch } : {}),
  });
  const generate: Generate = async (req) => {
    const contents: Content[] = req.contents.map((c) => ({ role: c.role, parts: [{ text: c.text }] }));
    const config: GenerateContentConfig = {
      ...(req.systemInstruction !== undefined ? { systemInstruction: { parts: [{ text: req.systemInstruction }] } } : {}),
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
      ...(req.json === true ? { responseMimeType: 'application/json' } : {}),
      ...(req.signal !== undefined ? { abortSignal: req.signal } : {}),
    };
    const res = await client.generateContent(req.model, contents, config);
    const candidate = res.candidates?.[0];
    const text = (candidate?.content?.parts ?? []).map((p) => (typeof p.text === 'string' && p.thought !== true ? p.text : '')).join('');
    const finishReason = candidate?.finishReason ?? (res.promptFeedback?.blockReason !== undefined ? `BLOCKED_${res.promptFeedback.blockReason}` : undefined);
    return { text, ...(finishReason !== undefined ? { finishReason: String(finishReason) } : {}) };
  };
  return { generate, resolved: { project: settings.project, location: settings.location, apiEndpoint: settings.apiEndpoint } };
}
