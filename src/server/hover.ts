/** The hover on a sample: what it is, how big, and what is wrong with it. */
import { turnsOfLine } from '../core/analyze';
import { DatasetDocument, Diagnostic } from '../core/document';
import { FORMATS } from '../core/formats';
import type { LintOptions } from '../core/options';
import { estimateTokens } from '../core/tokens';

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
    parts.push(`${parsed.turns.length} turn${parsed.turns.length === 1 ? '' : 's'} · ${fmt(text.length)} characters · ~${fmt(analysis.tokens)} tokens (estimated${limit})`);
    const rows = parsed.turns.slice(0, 12).map((t) => `| ${escapeMarkdown(t.role)} | ${fmt(t.text.length)} | ~${fmt(estimateTokens(t.text))} | ${escapeMarkdown(preview(t.text)) || '*(empty)*'} |`);
    if (rows.length > 0) {
      parts.push(['| turn | chars | tokens | text |', '|---|--:|--:|---|', ...rows].join('\n'));
      if (parsed.turns.length > 12) parts.push(`…and ${parsed.turns.length - 12} more turns`);
    }
  } else {
    parts.push(`**Line ${fmt(line + 1)}** · not a sample (${fmt(text.length)} characters)`);
  }
  const mine = diagnostics.filter((d) => d.line === line);
  if (mine.length > 0) {
    parts.push(`**${mine.length} problem${mine.length === 1 ? '' : 's'}**\n\n` + mine.map((d) => `- ${d.severity} \`${d.code}\`: ${escapeMarkdown(d.message)}`).join('\n'));
  } else {
    parts.push('No problems.');
  }
  return parts.join('\n\n');
}
