/**
 * Hard samples inline in the editor: after a run (or a scoring pass) the samples with the highest
 * loss get a gutter mark and a tint that grows with their loss percentile, an information
 * diagnostic ("hard sample: loss 3.2, top 5 %", code `hard-sample`) and a hover with the loss of
 * each turn. Marks follow edits and go when the sample's text changes (src/core/hardSamples.ts
 * does the bookkeeping). Commands: "Show Hard Samples of a Run…" (a run folder as argument, or a
 * quick pick of the workspace's runs) and "Clear Hard Sample Marks".
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { RunRecord } from '../backends/local/runner';
import { readRunEvents } from '../core/runStore';
import {
  LineMarks, PERCENTILE_BANDS, hardSampleHover, hardSampleMessage, isHard, percentileBand, rankSampleLosses, runSampleKey, trainingKey,
  type DatasetFile, type LineSource, type RankedSample, type SampleRanking,
} from '../core/hardSamples';
import type { TrainerEvent } from '../core/runs';
import { LANGUAGE_ID, SETTINGS_SECTION } from '../shared/protocol';

export const SHOW_HARD_SAMPLES_COMMAND = 'sftStudio.showHardSamples';
export const CLEAR_HARD_SAMPLES_COMMAND = 'sftStudio.clearHardSamples';
export const HARD_SAMPLE_CODE = 'hard-sample';
/** The setting (under `sftStudio`) that says which share of the samples is marked. */
export const TOP_PERCENT_SETTING = 'hardSamples.topPercent';
const DEFAULT_TOP_PERCENT = 10;

export interface ShowOptions {
  /** Which of the run's files the dataset is (default `train`): events of the other are ignored. */
  readonly file?: DatasetFile;
  /**
   * The samples the run saw, by 1-based line (`trainingKey` of each; `readRunSampleKeys` reads
   * them from a run folder). A sample no longer on its line is looked for on the others (lines
   * added or removed since the run); one that is nowhere, because it changed, is not marked.
   */
  readonly expected?: ReadonlyMap<number, string>;
}

export interface ShowResult {
  readonly ranking: SampleRanking;
  /** Samples within the top N % setting. */
  readonly hard: number;
  /** Hard samples marked in the document. */
  readonly marked: number;
  /** 1-based lines (in the run) of scored samples that the document no longer holds (not marked). */
  readonly changed: readonly number[];
}

interface Entry {
  readonly ranking: SampleRanking;
  readonly marks: LineMarks<RankedSample>;
  readonly run: string;
}

const lines = (doc: vscode.TextDocument): LineSource => ({ lineCount: doc.lineCount, lineAt: (i) => doc.lineAt(i).text });

function topPercent(uri: vscode.Uri): number {
  const v = vscode.workspace.getConfiguration(SETTINGS_SECTION, uri).get<number>(TOP_PERCENT_SETTING, DEFAULT_TOP_PERCENT);
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.min(100, v) : DEFAULT_TOP_PERCENT;
}

/** The marks of hard samples in every document they were shown in; owned by the extension's Context. */
export class HardSampleMarks implements vscode.Disposable {
  private readonly entries = new Map<string, Entry>();
  private readonly diagnostics = vscode.languages.createDiagnosticCollection('sft-studio-hard-samples');
  private readonly bands: vscode.TextEditorDecorationType[];
  private readonly disposables: vscode.Disposable[] = [];

  constructor(extensionUri: vscode.Uri, private readonly docsUri?: vscode.Uri) {
    this.bands = PERCENTILE_BANDS.map((_, i) => {
      const icon = (kind: 'dark' | 'light') => vscode.Uri.joinPath(extensionUri, 'media', `hard-sample-${i + 1}-${kind}.svg`);
      return vscode.window.createTextEditorDecorationType({
        isWholeLine: true,
        backgroundColor: new vscode.ThemeColor(`sftStudio.hardSample.background${i + 1}`),
        outlineColor: new vscode.ThemeColor('sftStudio.hardSample.border'),
        outlineStyle: 'dotted',
        outlineWidth: '1px',
        overviewRulerColor: new vscode.ThemeColor('sftStudio.hardSample.overviewRuler'),
        overviewRulerLane: vscode.OverviewRulerLane.Right,
        gutterIconSize: '70%',
        light: { gutterIconPath: icon('light') },
        dark: { gutterIconPath: icon('dark') },
      });
    });
    this.disposables.push(
      this.diagnostics,
      ...this.bands,
      vscode.languages.registerHoverProvider([{ language: LANGUAGE_ID }], { provideHover: (doc, pos) => this.hover(doc, pos) }),
      vscode.workspace.onDidChangeTextDocument((e) => {
        const entry = this.entries.get(e.document.uri.toString());
        if (entry !== undefined && entry.marks.applyChanges(e.contentChanges, lines(e.document))) this.render(e.document.uri);
      }),
      vscode.workspace.onDidOpenTextDocument((doc) => {
        const entry = this.entries.get(doc.uri.toString());
        if (entry === undefined) return;
        entry.marks.relocate(lines(doc));
        this.render(doc.uri);
      }),
      vscode.workspace.onDidCloseTextDocument((doc) => this.diagnostics.delete(doc.uri)),
      vscode.window.onDidChangeVisibleTextEditors((editors) => {
        for (const uri of new Set(editors.map((e) => e.document.uri.toString()))) if (this.entries.has(uri)) this.render(vscode.Uri.parse(uri));
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        for (const [key, entry] of this.entries) {
          const uri = vscode.Uri.parse(key);
          if (!e.affectsConfiguration(`${SETTINGS_SECTION}.${TOP_PERCENT_SETTING}`, uri)) continue;
          const top = topPercent(uri);
          entry.marks.setFilter((s) => isHard(s, top));
          this.render(uri);
        }
      }),
    );
  }

  /**
   * Marks the hard samples of `datasetUri` from a run's `sample_loss` events (other events are
   * ignored), replacing the marks it had. `runLabel` names the run in hovers.
   */
  async show(datasetUri: vscode.Uri, events: readonly TrainerEvent[], runLabel: string, options: ShowOptions = {}): Promise<ShowResult> {
    const doc = await vscode.workspace.openTextDocument(datasetUri);
    const ranking = rankSampleLosses(events, options.file ?? 'train');
    const top = topPercent(doc.uri);
    const changed: number[] = [];
    const entries: { line: number; data: RankedSample }[] = [];
    const moved: RankedSample[] = [];
    const expected = options.expected;
    for (const s of ranking.samples) {
      const line = s.line - 1;
      if (expected === undefined) {
        if (line < doc.lineCount) entries.push({ line, data: s });
        else changed.push(s.line);
      } else if (line < doc.lineCount && expected.get(s.line) !== undefined && trainingKey(doc.lineAt(line).text) === expected.get(s.line)) {
        entries.push({ line, data: s });
      } else {
        moved.push(s);
      }
    }
    if (moved.length > 0 && expected !== undefined) {
      // Lines were added or removed since the run: find each sample the run saw where it is now.
      const taken = new Set(entries.map((e) => e.line));
      const where = new Map<string, number[]>();
      for (let i = 0; i < doc.lineCount; i++) {
        if (taken.has(i)) continue;
        const key = trainingKey(doc.lineAt(i).text);
        if (key === undefined) continue;
        const list = where.get(key);
        if (list === undefined) where.set(key, [i]);
        else list.push(i);
      }
      for (const s of moved) {
        const key = expected.get(s.line);
        let best: number | undefined;
        for (const i of (key !== undefined ? where.get(key) : undefined) ?? []) {
          if (!taken.has(i) && (best === undefined || Math.abs(i - (s.line - 1)) < Math.abs(best - (s.line - 1)))) best = i;
        }
        if (best === undefined) changed.push(s.line);
        else {
          taken.add(best);
          entries.push({ line: best, data: s });
        }
      }
    }
    const marks = new LineMarks(entries, lines(doc));
    marks.setFilter((s) => isHard(s, top));
    this.entries.set(doc.uri.toString(), { ranking, marks, run: runLabel });
    this.render(doc.uri);
    return { ranking, hard: ranking.samples.filter((s) => isHard(s, top)).length, marked: marks.marks().length, changed: changed.sort((a, b) => a - b) };
  }

  /** Removes the marks of one document, or of all. */
  clear(uri?: vscode.Uri): void {
    const keys = uri !== undefined ? [uri.toString()] : [...this.entries.keys()];
    for (const key of keys) {
      this.entries.delete(key);
      this.render(vscode.Uri.parse(key));
    }
  }

  /** The hard samples shown now in a document, with their 0-based lines (for the panel and tests). */
  marksOf(uri: vscode.Uri): { readonly line: number; readonly sample: RankedSample }[] {
    return this.entries.get(uri.toString())?.marks.marks().map((m) => ({ line: m.line, sample: m.data })) ?? [];
  }

  dispose(): void {
    this.entries.clear();
    for (const d of this.disposables.splice(0).reverse()) d.dispose();
  }

  private render(uri: vscode.Uri): void {
    const key = uri.toString();
    const entry = this.entries.get(key);
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === key);
    const marks = entry !== undefined && doc !== undefined ? entry.marks.marks() : [];
    if (doc === undefined || marks.length === 0) this.diagnostics.delete(uri);
    else {
      this.diagnostics.set(uri, marks.map(({ line, data }) => {
        const d = new vscode.Diagnostic(doc.lineAt(line).range, hardSampleMessage(data), vscode.DiagnosticSeverity.Information);
        d.source = 'sft-studio';
        d.code = this.docsUri !== undefined ? { value: HARD_SAMPLE_CODE, target: this.docsUri.with({ fragment: 'hard-samples' }) } : HARD_SAMPLE_CODE;
        return d;
      }));
    }
    const byBand = this.bands.map((): vscode.Range[] => []);
    if (doc !== undefined) for (const { line, data } of marks) byBand[percentileBand(data)]!.push(doc.lineAt(line).range);
    for (const editor of vscode.window.visibleTextEditors) {
      if (editor.document.uri.toString() !== key) continue;
      this.bands.forEach((type, i) => editor.setDecorations(type, byBand[i]!));
    }
  }

  private hover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    const entry = this.entries.get(doc.uri.toString());
    const sample = entry?.marks.at(pos.line);
    if (entry === undefined || sample === undefined) return undefined;
    const text = hardSampleHover({ sample, total: entry.ranking.samples.length, run: entry.run, lineText: doc.lineAt(pos.line).text });
    const md = new vscode.MarkdownString(text);
    md.isTrusted = false;
    md.supportHtml = false;
    md.supportThemeIcons = false;
    return new vscode.Hover(md, doc.lineAt(pos.line).range);
  }
}

// ---------------------------------------------------------------------------------------------
// Runs on disk

/** The keys of the samples a run trained on, by line, from its data/<file>.jsonl. */
export function readRunSampleKeys(runDir: string, file: DatasetFile): Map<number, string> | undefined {
  const p = path.join(runDir, 'data', `${file}.jsonl`);
  if (!existsSync(p)) return undefined;
  const keys = new Map<number, string>();
  for (const line of readFileSync(p, 'utf8').split('\n')) {
    const k = runSampleKey(line);
    if (k !== undefined) keys.set(k.line, k.key);
  }
  return keys;
}

function readRecord(runDir: string): RunRecord {
  const file = path.join(runDir, 'run.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${runDir} is not a run folder: cannot read run.json (${(err as Error).message})`);
  }
  let record: RunRecord | null;
  try {
    record = JSON.parse(text) as RunRecord | null;
  } catch (err) {
    throw new Error(`${file} is not valid JSON (${(err as Error).message})`);
  }
  if (record === null || typeof record !== 'object' || typeof record.dataset?.train?.path !== 'string') throw new Error(`${file} names no dataset file`);
  return record;
}

/** A dataset path from run.json: absolute, or relative to the workspace that holds `.sft-studio/runs/<id>`. */
export function datasetPath(runDir: string, recorded: string): string {
  if (path.isAbsolute(recorded)) return recorded;
  const runs = path.dirname(runDir);
  const root = path.basename(runs) === 'runs' && path.basename(path.dirname(runs)) === '.sft-studio' ? path.dirname(path.dirname(runs)) : undefined;
  const folder = root ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? runDir;
  return path.resolve(folder, recorded);
}

function stamp(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** How a run is named in hovers: `builtin:tiny, 2026-11-23 17:12 (20261123-171247-tiny)`. */
export function runLabel(record: RunRecord): string {
  return `${record.model}, ${stamp(record.created)} (${record.id})`;
}

export interface HardSamplesShown {
  readonly runDir: string;
  readonly files: readonly { readonly file: DatasetFile; readonly uri: vscode.Uri; readonly result: ShowResult }[];
}

/**
 * Marks the hard samples of a run folder's dataset files; unless `reveal` is false (the tuning
 * panel, which lists them itself and must keep its place), opens the training file and goes to
 * its hardest sample.
 */
export async function showRunHardSamples(marks: HardSampleMarks, runDir: string, reveal = true): Promise<HardSamplesShown> {
  const record = readRecord(runDir);
  const events = readRunEvents(runDir);
  if (!events.some((e) => e.event === 'sample_loss')) throw new Error(`the run ${record.id} has no sample losses (it did not finish scoring its samples)`);
  const label = runLabel(record);
  const files: { file: DatasetFile; uri: vscode.Uri; result: ShowResult }[] = [];
  for (const file of ['train', 'validation'] as const) {
    const ds = record.dataset[file];
    if (ds === undefined || !events.some((e) => e.event === 'sample_loss' && e.file === file)) continue;
    const p = datasetPath(runDir, ds.path);
    if (!existsSync(p)) throw new Error(`the ${file === 'train' ? 'training' : 'validation'} file of run ${record.id} is gone: ${p}`);
    const uri = vscode.Uri.file(p);
    // Unchanged since the run (same bytes): every line holds the sample the run scored on it.
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    const same = open?.isDirty !== true && createHash('sha256').update(readFileSync(p)).digest('hex') === ds.sha256;
    const expected = same ? undefined : readRunSampleKeys(runDir, file);
    files.push({ file, uri, result: await marks.show(uri, events, label, { file, ...(expected !== undefined ? { expected } : {}) }) });
  }
  const main = files.find((f) => f.file === 'train') ?? files[0];
  if (main !== undefined && reveal) {
    const editor = await vscode.window.showTextDocument(main.uri, { preview: false });
    const first = marks.marksOf(main.uri).sort((a, b) => b.sample.loss - a.sample.loss)[0];
    if (first !== undefined) {
      const at = new vscode.Position(first.line, 0);
      editor.selection = new vscode.Selection(at, at);
      editor.revealRange(new vscode.Range(at, at), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    }
  }
  const changed = files.reduce((n, f) => n + f.result.changed.length, 0);
  if (changed > 0) {
    void vscode.window.showInformationMessage(`${changed} sample${changed === 1 ? '' : 's'} scored in run ${record.id} changed since; ${changed === 1 ? 'its mark is' : 'their marks are'} not shown.`);
  }
  return { runDir, files };
}

/** The workspace's runs with sample losses, newest first. */
export function findRunsWithSampleLosses(): { dir: string; record: RunRecord; scored: number }[] {
  const out: { dir: string; record: RunRecord; scored: number }[] = [];
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    if (folder.uri.scheme !== 'file') continue;
    const runs = path.join(folder.uri.fsPath, '.sft-studio', 'runs');
    if (!existsSync(runs)) continue;
    for (const entry of readdirSync(runs, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const dir = path.join(runs, entry.name);
      let record: RunRecord;
      try {
        record = readRecord(dir);
      } catch {
        continue; // not a run folder (yet)
      }
      const scored = readRunEvents(dir).filter((e) => e.event === 'sample_loss').length;
      if (scored > 0) out.push({ dir, record, scored });
    }
  }
  return out.sort((a, b) => b.record.created.localeCompare(a.record.created));
}

async function pickRun(): Promise<string | undefined> {
  const runs = findRunsWithSampleLosses();
  if (runs.length === 0) {
    void vscode.window.showInformationMessage('No run in this workspace has sample losses yet: start a tuning run, or score the dataset, first.');
    return undefined;
  }
  type Item = vscode.QuickPickItem & { dir: string };
  const pick = await vscode.window.showQuickPick(runs.map(({ dir, record, scored }): Item => ({
    label: `${record.model} · ${stamp(record.created)}`,
    description: vscode.workspace.asRelativePath(datasetPath(dir, record.dataset.train.path)),
    detail: `${record.mode === 'score' ? 'scored' : record.mode === 'train' ? 'trained' : 'evaluated'} · ${scored} sample losses · ${record.id}`,
    dir,
  })), { title: 'SFT Studio: hard samples of which run?', matchOnDescription: true, matchOnDetail: true });
  return pick?.dir;
}

/** The two commands; the show command takes a run folder (a path or a Uri), or asks for one. */
export function registerHardSampleCommands(marks: HardSampleMarks): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand(SHOW_HARD_SAMPLES_COMMAND, async (runDir?: string | vscode.Uri, options?: { reveal?: boolean }): Promise<HardSamplesShown | undefined> => {
      const dir = runDir instanceof vscode.Uri ? runDir.fsPath : typeof runDir === 'string' ? runDir : await pickRun();
      if (dir === undefined) return undefined;
      try {
        return await showRunHardSamples(marks, dir, options?.reveal !== false);
      } catch (err) {
        void vscode.window.showErrorMessage(`SFT Studio: ${(err as Error).message}`);
        return undefined;
      }
    }),
    vscode.commands.registerCommand(CLEAR_HARD_SAMPLES_COMMAND, () => marks.clear()),
  ];
}
