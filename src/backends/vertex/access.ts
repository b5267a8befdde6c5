/** Settings and credentials checked at once, and a client for calls outside a run. */
import { loadCredentials, type Credentials } from './auth';
import { VertexClient, type VertexClientOptions } from './client';
import { resolveVertexSettings, type ResolvedVertexSettings, type VertexSettings } from './settings';

/**
 * Resolves the settings (gcloud's config for what is missing) and gets an access token, so a run is
 * not prepared for nothing. Throws VertexSetupError or CredentialsError, whose message is the one
 * to show.
 */
export async function checkVertexAccess(settings: VertexSettings, env: NodeJS.ProcessEnv = process.env, opts: { bucket?: 'required' | 'optional' } = {}): Promise<{ settings: ResolvedVertexSettings; credentials: Credentials }> {
  const resolved = resolveVertexSettings(settings, env, opts);
  const credentials = await loadCredentials(resolved, { env });
  await credentials.token();
  return { settings: resolved, credentials };
}

/** A Vertex AI client for these settings (generateContent, tuning jobs); the bucket may be left out. */
export async function openVertexClient(settings: Omit<VertexSettings, 'bucket'> & { bucket?: string }, opts: Omit<VertexClientOptions, 'settings' | 'credentials'> & { env?: NodeJS.ProcessEnv; credentials?: Credentials } = {}): Promise<VertexClient> {
  const env = opts.env ?? process.env;
  const resolved = resolveVertexSettings({ ...settings, bucket: settings.bucket ?? '' }, env, { bucket: 'optional' });
  const credentials = opts.credentials ?? (await loadCredentials(resolved, { env }));
  return VertexClient.create({ ...opts, settings: resolved, credentials });
}
