/**
 * Where a Vertex AI run goes (project, region, bucket, endpoints) and how it authenticates. Project
 * and region fall back to the gcloud CLI's active configuration, read from its files (gcloud is
 * never executed).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';

export interface VertexSettings {
  /** Google Cloud project id; default: gcloud's `[core] project`. */
  readonly project?: string;
  /** Region, e.g. us-central1; default: gcloud's `[compute] region`. */
  readonly location?: string;
  /** Where datasets are uploaded: `gs://BUCKET` or `gs://BUCKET/prefix`. */
  readonly bucket: string;
  /** Vertex AI API root (private endpoints, tests): default `https://{location}-aiplatform.googleapis.com`. */
  readonly apiEndpoint?: string;
  /** Cloud Storage JSON API root: default `https://storage.googleapis.com`. */
  readonly storageEndpoint?: string;
  /** OAuth token endpoint for refreshing user credentials (private Google access): default `https://oauth2.googleapis.com/token`. */
  readonly tokenEndpoint?: string;
  /** An OAuth access token (`gcloud auth print-access-token`) used instead of Application Default Credentials. */
  readonly accessToken?: string;
  /** Seconds between two looks at the job while it changes (the wait grows while nothing does). Default 30. */
  readonly pollIntervalSeconds?: number;
}

/** What a Vertex AI tuning job is asked for; undefined leaves the service's default. */
export interface VertexJobOptions {
  /** Base model id, e.g. gemini-2.5-flash. */
  readonly model: string;
  readonly epochs?: number;
  readonly learningRateMultiplier?: number;
  /** 1, 2, 4, 8, 16 or 32 (ADAPTER_SIZE_ONE...). */
  readonly adapterSize?: number;
  /** Default: "sft-studio <run id>". */
  readonly tunedModelDisplayName?: string;
}

/** StartRequest.vertex: where, how to authenticate, and what to tune. */
export type VertexStartOptions = VertexSettings & VertexJobOptions;

export class VertexSetupError extends Error {}

/** Settings with project and location known. */
export interface ResolvedVertexSettings extends VertexSettings {
  readonly project: string;
  readonly location: string;
  readonly bucketName: string;
  /** Object-name prefix inside the bucket, without leading or trailing slash ('' for none). */
  readonly prefix: string;
  readonly apiEndpoint: string;
  readonly storageEndpoint: string;
}

export interface GcloudConfig {
  readonly project?: string;
  readonly region?: string;
  /** The file the values came from. */
  readonly file?: string;
}

/** The gcloud CLI's configuration folder: $CLOUDSDK_CONFIG, else %APPDATA%\gcloud on Windows, else ~/.config/gcloud. */
export function gcloudConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CLOUDSDK_CONFIG) return env.CLOUDSDK_CONFIG;
  if (process.platform === 'win32' && env.APPDATA) return path.join(env.APPDATA, 'gcloud');
  return path.join(env.HOME ?? homedir(), '.config', 'gcloud');
}

/**
 * `[section] key = value` from an INI text as gcloud writes it (Python configparser: `=` or `:`,
 * `#`/`;` comment lines). Only the two keys needed here are read.
 */
function iniValue(text: string, section: string, key: string): string | undefined {
  let current = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec !== null) {
      current = sec[1]!.trim();
      continue;
    }
    if (current !== section) continue;
    const m = /^([^=:]+)[=:](.*)$/.exec(line);
    if (m !== null && m[1]!.trim() === key) {
      const v = m[2]!.trim();
      return v === '' ? undefined : v;
    }
  }
  return undefined;
}

/** The active gcloud configuration's project and region (`$CLOUDSDK_ACTIVE_CONFIG_NAME`, else `active_config`, else `default`). */
export function readGcloudConfig(env: NodeJS.ProcessEnv = process.env): GcloudConfig {
  const dir = gcloudConfigDir(env);
  let name = env.CLOUDSDK_ACTIVE_CONFIG_NAME;
  if (!name) {
    try {
      name = readFileSync(path.join(dir, 'active_config'), 'utf8').trim() || 'default';
    } catch {
      name = 'default';
    }
  }
  const file = path.join(dir, 'configurations', `config_${name}`);
  if (!existsSync(file)) return {};
  const text = readFileSync(file, 'utf8');
  const project = env.CLOUDSDK_CORE_PROJECT || iniValue(text, 'core', 'project');
  const region = env.CLOUDSDK_COMPUTE_REGION || iniValue(text, 'compute', 'region');
  return { ...(project ? { project } : {}), ...(region ? { region } : {}), file };
}

/** `gs://bucket/some/prefix/` → bucket and prefix; throws VertexSetupError on anything else. */
export function parseBucket(uri: string): { bucket: string; prefix: string } {
  const m = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(\/.*)?$/.exec(uri.trim());
  if (m === null) throw new VertexSetupError(`the bucket must be a Cloud Storage URI like gs://my-bucket or gs://my-bucket/some/prefix, not "${uri}"`);
  return { bucket: m[1]!, prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, '') };
}

const trimSlash = (s: string) => s.replace(/\/+$/, '');

/** Fills project and region from gcloud's config, checks what must be there, and derives the endpoints. */
export function resolveVertexSettings(s: VertexSettings, env: NodeJS.ProcessEnv = process.env, opts: { bucket?: 'required' | 'optional' } = {}): ResolvedVertexSettings {
  const gcloud = s.project && s.location ? {} : readGcloudConfig(env);
  const project = s.project || gcloud.project;
  const location = s.location || gcloud.region;
  if (!project) throw new VertexSetupError('no Google Cloud project: give it (--project, or the setting sftStudio.vertex.project), or set a default with `gcloud config set project PROJECT_ID`');
  if (!location) throw new VertexSetupError('no region: give it (--location, or the setting sftStudio.vertex.location, e.g. us-central1), or set a default with `gcloud config set compute/region REGION`');
  if (!/^[a-z0-9-]+$/.test(location)) throw new VertexSetupError(`"${location}" is not a region name (e.g. us-central1)`);
  if (!s.bucket && opts.bucket !== 'optional') throw new VertexSetupError('no Cloud Storage bucket for the dataset: give it as gs://BUCKET/prefix (--bucket, or the setting sftStudio.vertex.bucket)');
  // Watching a job, or asking a model, needs no bucket.
  const { bucket, prefix } = s.bucket ? parseBucket(s.bucket) : { bucket: '', prefix: '' };
  if (s.pollIntervalSeconds !== undefined && !(s.pollIntervalSeconds > 0)) throw new VertexSetupError('the poll interval must be a positive number of seconds');
  const apiEndpoint = trimSlash(s.apiEndpoint || (location === 'global' ? 'https://aiplatform.googleapis.com' : `https://${location}-aiplatform.googleapis.com`));
  const storageEndpoint = trimSlash(s.storageEndpoint || 'https://storage.googleapis.com');
  for (const [name, url] of [['API endpoint', apiEndpoint], ['storage endpoint', storageEndpoint], ['token endpoint', s.tokenEndpoint]] as const) {
    if (url === undefined) continue;
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new VertexSetupError(`the ${name} "${url}" is not a URL`);
    }
    // Requests carry a bearer token (and the token endpoint a refresh token): plain http only to this machine.
    const loopback = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/.test(u.hostname);
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) throw new VertexSetupError(`the ${name} must be an https URL (http only for this machine: localhost, 127.0.0.1), not "${url}"`);
  }
  return { ...s, project, location, bucketName: bucket, prefix, apiEndpoint, storageEndpoint };
}
