/**
 * Custom messages between the extension and the language server, declared once
 * and imported by both sides. Neither side imports `vscode` here.
 */
import { NotificationType, RequestType } from 'vscode-languageserver-protocol';
import type { FormatId } from '../core/formats';
import type { LintSummary } from '../core/document';

export const LANGUAGE_ID = 'jsonl';

/** What the status bar shows for one dataset: the lint summary of one document version. */
export interface DatasetSummaryParams extends Omit<LintSummary, 'format'> {
  readonly uri: string;
  readonly version: number;
  /** null where the summary has undefined: JSON carries no undefined. */
  readonly format: FormatId | null;
}

export const DatasetSummaryNotification = new NotificationType<DatasetSummaryParams>('sftStudio/datasetSummary');

export interface ConvertDatasetParams {
  readonly uri: string;
  readonly to: FormatId;
}

export interface ConvertDatasetResult {
  /** The whole converted file. */
  readonly text: string;
  readonly converted: number;
  /** 0-based lines that could not be carried over whole, and what was lost. */
  readonly problems: readonly { readonly line: number; readonly lost: readonly string[] }[];
}

/** Convert an open dataset to another format (the server holds its text; the client writes the copy). */
export const ConvertDatasetRequest = new RequestType<ConvertDatasetParams, ConvertDatasetResult, void>('sftStudio/convertDataset');

/** Options the client hands the server at start. */
export interface ServerInitializationOptions {
  /** URI of docs/rules.md; each diagnostic links to its rule's section. */
  readonly rulesDocUri: string;
}

/** Code action kind of "Fix all" (so `editor.codeActionsOnSave` can name it). */
export const FIX_ALL_KIND = 'source.fixAll.sftStudio';

/** Client command that switches a document's line endings to LF (the crlf fix). */
export const USE_LF_COMMAND = 'sftStudio.useLf';

/** Client command that saves a dataset without its UTF-8 byte-order mark (the bom fix). */
export const REMOVE_BOM_COMMAND = 'sftStudio.removeBom';

/** Client command that chooses the tuning target of the active dataset (the status bar's target entry). */
export const PICK_TARGET_COMMAND = 'sftStudio.pickTarget';

/** The settings section both sides read. */
export const SETTINGS_SECTION = 'sftStudio';
