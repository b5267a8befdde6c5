/**
 * Train/validation leakage: a training sample that also appears, exactly or
 * nearly, in the validation file of the same dataset (or the other way round)
 * makes the validation loss lie. Files are paired by setting, or by the
 * conventional names found automatically.
 */
import * as path from 'node:path';
import { DedupeText, DuplicateIndex, ResolvedDedupeOptions, Twin, dedupeTextOfLine } from './dedupe';
import type { LineDiagnostic } from './analyze';
import type { RelatedLine } from './document';
import type { Span } from './locate';

const TRAIN_WORDS = ['train', 'training'];
const HELDOUT_WORDS = ['validation', 'valid', 'val', 'eval', 'dev', 'test'];

/** Files that would be this file's other split, by the conventional names, in the order they are tried. */
export function conventionalPartners(file: string): string[] {
  const dir = path.dirname(file);
  const base = path.basename(file);
  const out: string[] = [];
  const swap = (from: readonly string[], to: readonly string[]) => {
    for (const word of from) {
      const re = new RegExp(`(^|[^a-z])${word}(?=[^a-z]|$)`, 'i');
      const m = re.exec(base);
      if (m === null) continue;
      const at = m.index + (m[1] ?? '').length;
      for (const other of to) out.push(path.join(dir, base.slice(0, at) + other + base.slice(at + word.length)));
    }
  };
  swap(TRAIN_WORDS, HELDOUT_WORDS);
  swap(HELDOUT_WORDS, TRAIN_WORDS);
  return out;
}

/**
 * The other split of `file`: from `pairs` (training path → validation path, both
 * absolute or relative to `root`; either side finds the other), else the first
 * conventional name that exists.
 */
export function findPartner(file: string, pairs: Readonly<Record<string, string>>, root: string | undefined, exists: (p: string) => boolean): string | undefined {
  const abs = (p: string) => path.resolve(root ?? path.dirname(file), p);
  const me = path.resolve(file);
  for (const [train, validation] of Object.entries(pairs)) {
    if (abs(train) === me) return abs(validation);
    if (abs(validation) === me) return abs(train);
  }
  return conventionalPartners(me).find((p) => p !== me && exists(p));
}

/**
 * The validation file a training file is paired with by name, for a tuning run: only a file
 * named for training gets one, and never its test split.
 */
export function pairedValidationFile(trainPath: string, exists: (p: string) => boolean): string | undefined {
  const me = path.resolve(trainPath);
  if (!/train/i.test(path.basename(me))) return undefined;
  return conventionalPartners(me).find((p) => p !== me && exists(p) && !/test/i.test(path.basename(p)));
}

/** The other split of a dataset, asked "is this sample in there too?". */
export interface Partner {
  readonly file: string;
  /** Lines (0-based) of the other split that hold this sample, exact copies first, then by similarity. */
  find(sample: DedupeText | undefined): Twin[];
}

/** The samples of the other split as read from disk, indexed for "is this sample in there too?". */
export class PartnerIndex implements Partner {
  private readonly index: DuplicateIndex;

  constructor(readonly file: string, lines: readonly string[], readonly options: ResolvedDedupeOptions) {
    this.index = new DuplicateIndex({ ...options, expectedSize: lines.length });
    lines.forEach((line, i) => this.index.set(i, dedupeTextOfLine(line, options.turns)));
  }

  /** Lines of the other split that hold this sample, exact copies first, then by similarity. */
  find(sample: DedupeText | undefined): Twin[] {
    return sample === undefined ? [] : this.index.query(sample);
  }
}

/** The leakage diagnostic of a sample found in the other split, or undefined. */
export function leakageDiagnostic(twins: readonly Twin[], partnerFile: string, span: Span): { diagnostic: LineDiagnostic; related: RelatedLine[] } | undefined {
  const best = twins[0];
  if (best === undefined) return undefined;
  const name = path.basename(partnerFile);
  const what = best.exact ? 'an exact copy' : `a near copy, similarity ${best.similarity.toFixed(2)}`;
  const more = twins.length > 1 ? ` and ${twins.length - 1} more` : '';
  return {
    diagnostic: { ...span, code: 'leakage', message: `also in ${name}, line ${best.id + 1}${more} (${what}): a sample in both splits makes the validation score lie` },
    related: twins.slice(0, 20).map((t) => ({ file: partnerFile, line: t.id, message: t.exact ? 'exact copy in the other split' : `near copy in the other split (similarity ${t.similarity.toFixed(2)})` })),
  };
}
