/**
 * Overfitting, as a user reads it off the curves: the validation loss rises while the training
 * loss keeps falling, for several evaluations in a row.
 */
export interface LossPoint {
  readonly step: number;
  readonly loss: number;
}

export interface OverfittingVerdict {
  /** The evaluation from which the validation loss has risen. */
  readonly sinceStep: number;
  /** The evaluation with the lowest validation loss (where the best adapter was saved). */
  readonly bestStep: number;
  readonly bestEvalLoss: number;
}

/** Mean training loss over the steps in (from, to]. */
function meanTrain(train: readonly LossPoint[], from: number, to: number): number | undefined {
  let sum = 0, n = 0;
  for (const p of train) {
    if (p.step > from && p.step <= to) {
      sum += p.loss;
      n++;
    }
  }
  return n > 0 ? sum / n : undefined;
}

/**
 * Overfitting when each of the last `evaluations` evaluations has a higher validation loss than
 * the one before it, while the mean training loss between evaluations went down each time.
 */
export function detectOverfitting(train: readonly LossPoint[], evals: readonly LossPoint[], evaluations = 3): OverfittingVerdict | undefined {
  if (evals.length < evaluations + 1) return undefined;
  const recent = evals.slice(-(evaluations + 1));
  for (let i = 1; i < recent.length; i++) {
    if (!(recent[i]!.loss > recent[i - 1]!.loss)) return undefined;
  }
  // Training loss over the window before each of those evaluations must fall.
  let previous: number | undefined;
  for (let i = 0; i < recent.length; i++) {
    const before = evals[evals.length - recent.length + i - 1];
    const m = meanTrain(train, before?.step ?? 0, recent[i]!.step);
    if (m === undefined) return undefined;
    if (previous !== undefined && !(m < previous)) return undefined;
    previous = m;
  }
  let best = evals[0]!;
  for (const e of evals) if (e.loss < best.loss) best = e;
  return { sinceStep: recent[0]!.step, bestStep: best.step, bestEvalLoss: best.loss };
}
