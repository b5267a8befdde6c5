/**
 * Credentials for Vertex AI and Cloud Storage: Application Default Credentials through
 * google-auth-library (the file `gcloud auth application-default login` writes, a service-account
 * key named by GOOGLE_APPLICATION_CREDENTIALS, workload identity federation), or an access token
 * given as it is (`--access-token`, SFT_STUDIO_ACCESS_TOKEN). Failures become one CredentialsError
 * whose message says which command fixes them. Tokens are never put in a message or a log.
 */
import { GoogleAuth, OAuth2Client, type AuthClient } from 'google-auth-library';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { gcloudConfigDir, type VertexSettings } from './settings';

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

export const ADC_FIX = 'run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or give an access token with --access-token or SFT_STUDIO_ACCESS_TOKEN: `gcloud auth print-access-token`)';
export const TOKEN_FIX = 'get a fresh one with `gcloud auth print-access-token` and give it with --access-token or SFT_STUDIO_ACCESS_TOKEN (or leave it out to use Application Default Credentials)';

/** Missing, expired or rejected credentials, with the command that fixes them. */
export class CredentialsError extends Error {
  constructor(message: string, readonly fix: string) {
    super(`${message}: ${fix}`);
  }
}

export interface Credentials {
  readonly kind: 'adc' | 'access-token';
  /** The google-auth-library client, for libraries that take one (@google/genai). */
  readonly client: AuthClient;
  /** A current access token (cached by the client, refreshed when it expires). */
  token(): Promise<string>;
  /** Drops the cached token and gets a new one (after a 401); throws CredentialsError when it cannot. */
  refresh(): Promise<string>;
}

/** Why google-auth-library failed, in the user's words; never includes the library's request dump (which may hold secrets). */
function credentialsError(err: unknown, kind: Credentials['kind']): CredentialsError {
  if (err instanceof CredentialsError) return err;
  if (kind === 'access-token') return new CredentialsError('the access token was rejected or has expired', TOKEN_FIX);
  const text = err instanceof Error ? err.message : String(err);
  if (/could not load the default credentials/i.test(text)) return new CredentialsError('no Google Cloud credentials found', ADC_FIX);
  if (/invalid_grant|invalid_rapt|reauth|expired|revoked/i.test(text)) {
    return new CredentialsError('the Application Default Credentials have expired or been revoked', 'run `gcloud auth application-default login`');
  }
  if (/ENOENT|no such file/i.test(text)) return new CredentialsError('the credentials file named by GOOGLE_APPLICATION_CREDENTIALS cannot be read', ADC_FIX);
  // A short reason without the request details gaxios puts in its messages.
  const first = text.split('\n')[0]!.slice(0, 200);
  return new CredentialsError(`cannot get a Google Cloud access token (${first})`, ADC_FIX);
}

export interface CredentialsOptions {
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The credentials the settings ask for: the access token when one is given (settings, then
 * SFT_STUDIO_ACCESS_TOKEN), else ADC. `tokenEndpoint` replaces Google's OAuth token URL for user
 * credentials (authorized_user), which is how a private endpoint, or a test's server, is reached.
 */
export async function loadCredentials(settings: Pick<VertexSettings, 'accessToken' | 'tokenEndpoint'>, opts: CredentialsOptions = {}): Promise<Credentials> {
  const env = opts.env ?? process.env;
  const fixed = settings.accessToken || env.SFT_STUDIO_ACCESS_TOKEN;
  if (fixed) {
    const client = new OAuth2Client();
    client.setCredentials({ access_token: fixed.trim() });
    return {
      kind: 'access-token',
      client,
      token: async () => fixed.trim(),
      // A bare token cannot be renewed: the service said no to it.
      refresh: async () => {
        throw new CredentialsError('the access token was rejected (it lasts about an hour)', TOKEN_FIX);
      },
    };
  }
  // The credentials file, found as google-auth-library would (GOOGLE_APPLICATION_CREDENTIALS, else
  // gcloud's application_default_credentials.json) but in `env`, so a caller's environment holds.
  // Without one, google-auth-library goes on to the metadata server (Compute Engine, GKE, Cloud Run).
  const wellKnown = path.join(gcloudConfigDir(env), 'application_default_credentials.json');
  const keyFilename = env.GOOGLE_APPLICATION_CREDENTIALS || (existsSync(wellKnown) ? wellKnown : undefined);
  const auth = new GoogleAuth({
    scopes: [CLOUD_PLATFORM_SCOPE],
    ...(keyFilename ? { keyFilename } : {}),
    ...(settings.tokenEndpoint ? { clientOptions: { endpoints: { oauth2TokenUrl: settings.tokenEndpoint } } } : {}),
  });
  let client: AuthClient;
  try {
    client = await auth.getClient();
  } catch (err) {
    throw credentialsError(err, 'adc');
  }
  const token = async (): Promise<string> => {
    try {
      const t = await client.getAccessToken();
      if (!t.token) throw new CredentialsError('the credentials gave no access token', ADC_FIX);
      return t.token;
    } catch (err) {
      throw credentialsError(err, 'adc');
    }
  };
  return {
    kind: 'adc',
    client,
    token,
    refresh: async () => {
      // OAuth2Client and its subclasses (user credentials, service accounts) refresh when the
      // cached token is gone or expiring; other clients refresh on their own expiry only.
      if (client instanceof OAuth2Client) client.credentials = { ...client.credentials, access_token: null, expiry_date: 1 };
      return token();
    },
  };
}
