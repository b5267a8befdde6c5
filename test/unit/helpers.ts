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
