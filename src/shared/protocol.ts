/**
 * Custom messages between the extension and the language server, declared once
 * and imported by both sides. Neither side imports `vscode` here.
 */
import { NotificationType } from 'vscode-languageserver-protocol';
import type { FormatId } from '../core/formats';
import type { FormatSource } from '../core/document';

export const LANGUAGE_ID = 'jsonl';

/** What the status bar shows for one dataset. */
export interface DatasetSummaryParams {
  readonly uri: string;
  readonly version: number;
  readonly format: FormatId | null;
  readonly formatLabel: string;
  readonly formatSource: FormatSource;
  readonly samples: number;
  readonly errors: number;
  readonly warnings: number;
  readonly infos: number;
}

export const DatasetSummaryNotification = new NotificationType<DatasetSummaryParams>('sftStudio/datasetSummary');

/** Options the client hands the server at start. */
export interface ServerInitializationOptions {
  /** URI of docs/rules.md; each diagnostic links to its rule's section. */
  readonly rulesDocUri: string;
}

/** The settings section both sides read. */
export const SETTINGS_SECTION = 'sftStudio';
