import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { DatasetDocument, Diagnostic } from '../../src/core/document';
import { RawSettings, resolveOptions } from '../../src/core/options';

export function lint(text: string, settings: RawSettings = {}, file = '/data/train.jsonl'): Diagnostic[] {
  return new DatasetDocument(text, resolveOptions(settings, file).options).lint().diagnostics;
}

/** The text a diagnostic's range covers, on a one-line sample. */
export function covered(line: string, d: Diagnostic): string {
  return line.slice(d.column, d.endColumn);
}

export const vertex = (turns: [string, string][], system?: string): string =>
  JSON.stringify({
    ...(system !== undefined ? { systemInstruction: { parts: [{ text: system }] } } : {}),
    contents: turns.map(([role, text]) => ({ role, parts: [{ text }] })),
  });

export const openai = (turns: [string, string][]): string =>
  JSON.stringify({ messages: turns.map(([role, content]) => ({ role, content })) });

export const ROOT = path.resolve(__dirname, '../../..');
export const BIN = path.join(ROOT, 'bin', 'sft-studio.js');

export interface CliRun { code: number | null; stdout: string; stderr: string }

/** The CLI as a real process (bin/sft-studio.js over the built bundle). */
export function cli(args: string[], opts: { cwd?: string; node?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(opts.node ?? []), BIN, ...args], { cwd: opts.cwd ?? ROOT, ...(opts.env ? { env: opts.env } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
