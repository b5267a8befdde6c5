/**
 * Light-bulb fixes and "Fix all" for a dataset. Every edit names the document
 * version it was computed for, so the editor refuses it once the text has moved on.
 */
import { CodeAction, CodeActionKind, CodeActionParams, CreateFile, Diagnostic, OptionalVersionedTextDocumentIdentifier, TextDocumentEdit, TextEdit } from 'vscode-languageserver/node';
import type { DatasetDocument } from '../core/document';
import { LineFix, RegionEdit, fixAllLines, lineFixes, sampleRefactors } from '../core/fixes';
import { FIX_ALL_KIND, REMOVE_BOM_COMMAND, USE_LF_COMMAND } from '../shared/protocol';

function lineRangeEdit(doc: DatasetDocument, line: number, endLine: number, newText: string, deleteLines: boolean): TextEdit {
  const endChar = doc.lineText(endLine).length;
  if (deleteLines) {
    if (endLine + 1 < doc.lineCount) return TextEdit.del({ start: { line, character: 0 }, end: { line: endLine + 1, character: 0 } });
    if (line > 0) return TextEdit.del({ start: { line: line - 1, character: doc.lineText(line - 1).length }, end: { line: endLine, character: endChar } });
  }
  return TextEdit.replace({ start: { line, character: 0 }, end: { line: endLine, character: endChar } }, newText);
}

function regionEdit(doc: DatasetDocument, r: RegionEdit): TextEdit {
  return lineRangeEdit(doc, r.line, r.endLine, r.lines.join('\n'), r.lines.length === 0);
}

function versioned(uri: string, version: number, edits: TextEdit[]): CodeAction['edit'] {
  return { documentChanges: [TextDocumentEdit.create({ uri, version }, edits)] };
}

export function fixAllAction(doc: DatasetDocument, uri: string, version: number, kind: string): CodeAction | undefined {
  const lines = Array.from({ length: doc.lineCount }, (_, i) => doc.lineText(i));
  const { edits, applied } = fixAllLines(lines, doc.context().format);
  if (applied === 0) return undefined;
  return { title: `Fix all SFT Studio problems that have a safe fix (${applied})`, kind, edit: versioned(uri, version, edits.map((r) => regionEdit(doc, r))) };
}

/** "Keep the first of each cluster in this file": one edit deleting every later member of every cluster. */
export function keepFirstOfEachCluster(doc: DatasetDocument, uri: string, version: number): CodeAction | undefined {
  const doomed: number[] = [];
  for (const cluster of doc.duplicates.clusters()) {
    const lines = cluster.members.map((id) => doc.lineOf(id)).filter((l): l is number => l !== undefined).sort((a, b) => a - b);
    doomed.push(...lines.slice(1));
  }
  if (doomed.length === 0) return undefined;
  doomed.sort((a, b) => a - b);
  return {
    title: `Keep the first of each duplicate cluster in this file (delete ${doomed.length} sample${doomed.length === 1 ? '' : 's'})`,
    kind: CodeActionKind.QuickFix,
    edit: versioned(uri, version, doomed.map((l) => lineRangeEdit(doc, l, l, '', true))),
  };
}

/** The file over-long samples are moved to: `train.jsonl` → `train.too-long.jsonl`, beside it. */
export function tooLongFileOf(uri: string): string {
  const slash = uri.lastIndexOf('/');
  const dot = uri.lastIndexOf('.');
  return (dot > slash ? uri.slice(0, dot) : uri) + '.too-long.jsonl';
}

/**
 * "Move the samples over the limit to another file": one edit that appends the
 * samples, whole and unchanged, to the `.too-long.jsonl` file beside the dataset
 * (created if missing) and deletes them here. Nothing is truncated or dropped.
 */
export function moveTooLongAction(doc: DatasetDocument, uri: string, version: number, lines: readonly number[], existingText: string | undefined): CodeAction | undefined {
  const sorted = [...new Set(lines)].filter((l) => l < doc.lineCount).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const target = tooLongFileOf(uri);
  const old = existingText ?? '';
  const oldLines = old.split('\n');
  const end = { line: oldLines.length - 1, character: (oldLines[oldLines.length - 1] as string).length };
  const moved = (old.length > 0 && !old.endsWith('\n') ? '\n' : '') + sorted.map((l) => doc.lineText(l)).join('\n') + '\n';
  const name = target.slice(target.lastIndexOf('/') + 1);
  return {
    title: `Move ${sorted.length === 1 ? 'the sample' : `the ${sorted.length} samples`} over the token limit to ${name}`,
    kind: CodeActionKind.QuickFix,
    edit: {
      documentChanges: [
        CreateFile.create(target, { ignoreIfExists: true }),
        TextDocumentEdit.create(OptionalVersionedTextDocumentIdentifier.create(target, null), [TextEdit.insert(end, moved)]),
        TextDocumentEdit.create({ uri, version }, sorted.map((l) => lineRangeEdit(doc, l, l, '', true))),
      ],
    },
  };
}

export interface TooLongContext {
  /** Lines with a too-long diagnostic, for any target. */
  readonly lines: readonly number[];
  /** The text of the `.too-long.jsonl` file when it exists. */
  readonly existingText: (uri: string) => string | undefined;
}

export function codeActions(doc: DatasetDocument, uri: string, version: number, params: CodeActionParams, tooLong?: TooLongContext): CodeAction[] {
  const only = params.context.only;
  if (only !== undefined && only.some((k) => FIX_ALL_KIND.startsWith(k) && k.startsWith(CodeActionKind.Source))) {
    const all = fixAllAction(doc, uri, version, FIX_ALL_KIND);
    return all ? [all] : [];
  }
  const actions: CodeAction[] = [];
  const format = doc.context().format;
  const byLine = new Map<number, LineFix[]>();
  const mine = params.context.diagnostics.filter((d) => d.source === 'sft-studio');
  for (const d of mine) {
    const line = d.range.start.line;
    if (d.code === 'crlf') {
      actions.push({ title: 'Use LF line endings for this file', kind: CodeActionKind.QuickFix, diagnostics: [d], isPreferred: true, command: { title: 'Use LF line endings', command: USE_LF_COMMAND, arguments: [uri] } });
      continue;
    }
    if (d.code === 'bom') {
      actions.push({ title: 'Save the file without the byte-order mark', kind: CodeActionKind.QuickFix, diagnostics: [d], isPreferred: true, command: { title: 'Remove the BOM', command: REMOVE_BOM_COMMAND, arguments: [uri] } });
      continue;
    }
    if (line >= doc.lineCount) continue;
    if (d.code === 'too-long') {
      if (tooLong !== undefined && !actions.some((a) => a.title.includes('over the token limit'))) {
        const move = moveTooLongAction(doc, uri, version, tooLong.lines, tooLong.existingText(tooLongFileOf(uri)));
        if (move !== undefined) actions.push({ ...move, diagnostics: [d] });
      }
      continue;
    }
    if (d.code === 'duplicate' || d.code === 'near-duplicate') {
      actions.push({
        title: `Delete this ${d.code === 'duplicate' ? 'duplicate' : 'near duplicate'} (line ${line + 1})`, kind: CodeActionKind.QuickFix, diagnostics: [d],
        edit: versioned(uri, version, [lineRangeEdit(doc, line, line, '', true)]),
      });
      const keepFirst = keepFirstOfEachCluster(doc, uri, version);
      if (keepFirst !== undefined) actions.push({ ...keepFirst, diagnostics: [d] });
      continue;
    }
    let fixes = byLine.get(line);
    if (fixes === undefined) byLine.set(line, (fixes = lineFixes(doc, line, format)));
    for (const f of fixes) {
      if (f.code !== d.code || f.span.start !== d.range.start.character) continue;
      actions.push({
        title: f.title,
        kind: CodeActionKind.QuickFix,
        diagnostics: [d as Diagnostic],
        isPreferred: f.preferred,
        edit: versioned(uri, version, [lineRangeEdit(doc, f.line, f.endLine, f.newText, f.deleteLines === true)]),
      });
    }
  }
  if (mine.length > 0) {
    const all = fixAllAction(doc, uri, version, CodeActionKind.QuickFix);
    if (all) actions.push(all);
  }
  const line = params.range.start.line;
  if (line < doc.lineCount && (only === undefined || only.some((k) => CodeActionKind.RefactorRewrite.startsWith(k)))) {
    for (const r of sampleRefactors(doc.lineText(line), line, format, doc.usualSystemInstruction())) {
      actions.push({ title: r.title, kind: CodeActionKind.RefactorRewrite, edit: versioned(uri, version, [lineRangeEdit(doc, line, line, r.newText, false)]) });
    }
  }
  return actions;
}
