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

const SYLLABLES = 'ka ro mi ten sel pra dor li ven ta nis ol ur be cha gri ple sto fu an er in on ex qua mo ne si la ve'.split(' ');
const HANZI = '的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该由'.split('');

/** A word from a vocabulary of thousands, so unrelated samples share few n-grams, as in real data. */
function word(rand: () => number, zh: boolean): string {
  if (zh) return (HANZI[Math.floor(rand() * HANZI.length)] as string) + (HANZI[Math.floor(rand() * HANZI.length)] as string);
  if (rand() < 0.5) return EN[Math.floor(rand() * EN.length)] as string;
  const n = 1 + Math.floor(rand() * 3);
  let w = '';
  for (let k = 0; k < n; k++) w += SYLLABLES[Math.floor(rand() * SYLLABLES.length)] as string;
  return w;
}

function sentence(rand: () => number, words: number, zh: boolean): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(zh && rand() < 0.3 ? (ZH[Math.floor(rand() * ZH.length)] as string) : word(rand, zh));
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
