/** The hover on a sample: what it is, how big, and what is wrong with it. */
import { turnsOfLine } from '../core/analyze';
import { DatasetDocument, Diagnostic } from '../core/document';
import { FORMATS } from '../core/formats';
import type { LintOptions } from '../core/options';
import { estimateTokens } from '../core/tokens';
import { diffWords, summarizeDiff } from '../core/dedupe';

/** Escape text from the dataset so Markdown shows it as written (it is data, never markup). */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>~&]/g, (c) => '\\' + c).replace(/\r?\n/g, ' ⏎ ');
}

const preview = (text: string, max = 80): string => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? flat.slice(0, max - 1) + '…' : flat;
};

const fmt = (n: number) => n.toLocaleString('en-US');

export function hoverMarkdown(doc: DatasetDocument, line: number, options: LintOptions, diagnostics: readonly Diagnostic[]): string | undefined {
  const analysis = doc.analysis(line);
  if (analysis.kind === 'blank') return undefined;
  const text = doc.lineText(line);
  const parts: string[] = [];
  const ctx = doc.context();
  const parsed = analysis.kind === 'sample' ? turnsOfLine(text, ctx.format) : undefined;
  if (parsed !== undefined) {
    const label = FORMATS[parsed.format].label;
    const limit = Number.isFinite(options.tokenLimit) ? `; limit ${fmt(options.tokenLimit)} for \`${options.targetModel.replace(/`/g, '')}\`` : '';
    parts.push(`**Sample ${fmt(line + 1)}** · ${label}`);
    parts.push(`${parsed.turns.length} turn${parsed.turns.length === 1 ? '' : 's'} · ${fmt(text.length)} characters · ~${fmt(analysis.tokens)} tokens (estimated${options.targets.length > 0 ? '' : limit})`);
    for (const t of options.targets) {
      const exact = t.tokenizer !== 'estimate' ? doc.exactTokens(t.tokenizer, line) : undefined;
      const counted = exact !== undefined ? `${fmt(exact)} tokens (counted with ${t.tokenizer})` : `~${fmt(analysis.tokens)} tokens (${t.tokenizer === 'estimate' ? 'estimated' : 'estimated, counting…'})`;
      parts.push(`\`${t.id}\`: ${counted}${Number.isFinite(t.tokenLimit) ? ` of ${fmt(t.tokenLimit)} allowed` : ''}`);
    }
    const rows = parsed.turns.slice(0, 12).map((t) => `| ${escapeMarkdown(t.role)} | ${fmt(t.text.length)} | ~${fmt(estimateTokens(t.text))} | ${escapeMarkdown(preview(t.text)) || '*(empty)*'} |`);
    if (rows.length > 0) {
      parts.push(['| turn | chars | tokens | text |', '|---|--:|--:|---|', ...rows].join('\n'));
      if (parsed.turns.length > 12) parts.push(`…and ${parsed.turns.length - 12} more turns`);
    }
  } else {
    parts.push(`**Line ${fmt(line + 1)}** · not a sample (${fmt(text.length)} characters)`);
  }
  const id = doc.idOfLine(line);
  const cluster = id !== undefined ? doc.duplicates.clusterOf(id) : undefined;
  if (id !== undefined && cluster !== undefined) {
    const lines = cluster.members.map((m) => doc.lineOf(m)).filter((l): l is number => l !== undefined).sort((a, b) => a - b);
    const shown = lines.slice(0, 12).map((l) => (l === line ? `**${fmt(l + 1)}**` : fmt(l + 1))).join(', ');
    let section = `**Duplicate cluster** · ${lines.length} samples${cluster.exact ? ', all exact copies' : ''}: lines ${shown}${lines.length > 12 ? ', …' : ''}`;
    const twin = doc.duplicates.closestTwin(id);
    const twinLine = twin !== undefined ? doc.lineOf(twin.id) : undefined;
    if (twin !== undefined && twinLine !== undefined && !twin.exact) {
      const a = doc.duplicates.textOf(id);
      const b = doc.duplicates.textOf(twin.id);
      const diff = a !== undefined && b !== undefined ? summarizeDiff(diffWords(a, b)) : undefined;
      section += `\n\nClosest twin: line ${fmt(twinLine + 1)}, similarity ${twin.similarity.toFixed(2)}`;
      if (diff !== undefined && (diff.removed.length > 0 || diff.added.length > 0)) {
        section += `: ${diff.removed.length > 0 ? `this sample has ${diff.removed.slice(0, 8).map((w) => `\`${w.replace(/`/g, '')}\``).join(' ')}` : ''}${diff.removed.length > 0 && diff.added.length > 0 ? '; ' : ''}${diff.added.length > 0 ? `line ${fmt(twinLine + 1)} has ${diff.added.slice(0, 8).map((w) => `\`${w.replace(/`/g, '')}\``).join(' ')}` : ''}`;
      }
    }
    parts.push(section);
  }
  const mine = diagnostics.filter((d) => d.line === line);
  if (mine.length > 0) {
    parts.push(`**${mine.length} problem${mine.length === 1 ? '' : 's'}**\n\n` + mine.map((d) => `- ${d.severity} \`${d.code}\`: ${escapeMarkdown(d.message)}`).join('\n'));
  } else {
    parts.push('No problems.');
  }
  return parts.join('\n\n');
}
