/**
 * A fast token estimate, with no tokenizer: about four characters per token for
 * text in Latin script (the rule of thumb the providers publish), one token per
 * character for CJK and other scripts (their tokenizers rarely merge those), plus
 * a few tokens per turn for the chat template's markers.
 */
export const TOKENS_PER_TURN = 4;

export function estimateTokens(text: string): number {
  let ascii = 0;
  let other = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) ascii++;
    else if (c >= 0xdc00 && c <= 0xdfff) continue; // low surrogate: counted with its pair
    else if (c < 0x300) ascii += 2; // accented Latin: a little denser than ASCII
    else other++;
  }
  return Math.ceil(ascii / 4) + other;
}

export function estimateSampleTokens(texts: readonly string[]): number {
  let n = 0;
  for (const t of texts) n += estimateTokens(t) + TOKENS_PER_TURN;
  return n;
}
