/**
 * A reproducible dataset for the benchmarks: mostly well-formed Vertex AI Gemini
 * samples of about 1 KB, a third of them in Chinese, with a share of broken
 * lines of every kind the linter reports.
 */
import { createWriteStream } from 'node:fs';

/** mulberry32: a small seeded PRNG, so every run writes the same file. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EN = 'the router firmware update reset button light network wireless password signal channel band speed cable port modem settings admin page device guest parity'.split(' ');
const ZH = '路由器 固件 更新 重置 按钮 指示灯 网络 无线 密码 信号 信道 频段 速度 网线 端口 调制解调器 设置 管理 页面 设备 访客'.split(' ');
const SYSTEM = 'You are a concise, friendly support agent for Acme home routers. Answer in the language of the question.';

function sentence(rand: () => number, words: number, zh: boolean): string {
  const pool = zh ? ZH : EN;
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(pool[Math.floor(rand() * pool.length)] as string);
  return zh ? out.join('') + '。' : out.join(' ') + '.';
}

export function sampleLine(rand: () => number, i: number): string {
  const zh = i % 3 === 0;
  const words = zh ? 60 : 70;
  const turns = [
    { role: 'user', parts: [{ text: sentence(rand, words, zh) }] },
    { role: 'model', parts: [{ text: sentence(rand, words * 1.4, zh) }] },
  ];
  const good = { systemInstruction: { parts: [{ text: SYSTEM }] }, contents: turns };
  const kind = rand();
  if (kind < 0.9) return JSON.stringify(good);
  const bad = Math.floor(rand() * 7);
  switch (bad) {
    case 0: return JSON.stringify(good).slice(0, -2); // cut short: invalid JSON
    case 1: return JSON.stringify({ ...good, contents: [turns[0], { ...turns[1], role: 'assistant' }] });
    case 2: return JSON.stringify({ ...good, contents: [turns[0], turns[0], turns[1]] });
    case 3: return JSON.stringify({ ...good, contents: [turns[0], { role: 'model', parts: [{ text: '  ' }] }] });
    case 4: return JSON.stringify({ messages: [{ role: 'user', content: turns[0]?.parts[0]?.text }, { role: 'assistant', content: turns[1]?.parts[0]?.text }] });
    case 5: return JSON.stringify({ ...good, systemInstruction: { parts: [{ text: 'You are a pirate.' }] } });
    default: return JSON.stringify({ ...good, contents: [{ role: 'user', parts: 'not a list' }, turns[1]] });
  }
}

export async function writeDataset(file: string, lines: number, seed = 42): Promise<number> {
  const rand = rng(seed);
  const out = createWriteStream(file);
  let bytes = 0;
  let buf = '';
  for (let i = 0; i < lines; i++) {
    buf += sampleLine(rand, i) + '\n';
    if (buf.length > 1 << 20) {
      bytes += Buffer.byteLength(buf);
      if (!out.write(buf)) await new Promise<void>((r) => out.once("drain", () => r()));
      buf = '';
    }
  }
  bytes += Buffer.byteLength(buf);
  out.end(buf);
  await new Promise<void>((r) => out.once("finish", () => r()));
  return bytes;
}
