// Out-of-distribution detection metrics. Convention: a higher score means "more in-distribution";
// in-distribution samples are the positive class.

export interface OodMetrics {
  /** area under the ROC curve: P(score_in > score_out), ties count one half */
  auroc: number;
  /** fraction of OOD samples scored at or above the threshold that keeps 95% of in-distribution samples */
  fpr95: number;
  /** area under the precision-recall curve with in-distribution as positive (average precision) */
  aupr: number;
}

function check(name: string, a: ArrayLike<number>) {
  if (a.length === 0) throw new Error(`${name}: no scores`);
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new Error(`${name}: score ${i} is not finite (${a[i]})`);
  }
}

interface Ranked {
  /** distinct thresholds, descending */
  thresholds: number[];
  /** number of in / out samples with score >= thresholds[i] */
  inAtOrAbove: number[];
  outAtOrAbove: number[];
}

// Sorts all scores descending and counts, per distinct value, how many of each kind lie at or above it.
function rank(scoresIn: ArrayLike<number>, scoresOut: ArrayLike<number>): Ranked {
  const n = scoresIn.length + scoresOut.length;
  const values = new Float64Array(n);
  const isIn = new Uint8Array(n);
  for (let i = 0; i < scoresIn.length; i++) {
    values[i] = scoresIn[i];
    isIn[i] = 1;
  }
  for (let i = 0; i < scoresOut.length; i++) values[scoresIn.length + i] = scoresOut[i];
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[b] - values[a]);
  const thresholds: number[] = [];
  const inAtOrAbove: number[] = [];
  const outAtOrAbove: number[] = [];
  let tin = 0;
  let tout = 0;
  for (let j = 0; j < n; ) {
    const v = values[order[j]];
    while (j < n && values[order[j]] === v) {
      if (isIn[order[j]]) tin++;
      else tout++;
      j++;
    }
    thresholds.push(v);
    inAtOrAbove.push(tin);
    outAtOrAbove.push(tout);
  }
  return { thresholds, inAtOrAbove, outAtOrAbove };
}

/** AUROC, FPR at 95% TPR and AUPR-In for in-distribution scores vs out-of-distribution scores. */
export function oodMetrics(scoresIn: ArrayLike<number>, scoresOut: ArrayLike<number>, tpr = 0.95): OodMetrics {
  check('in-distribution scores', scoresIn);
  check('out-of-distribution scores', scoresOut);
  const nIn = scoresIn.length;
  const nOut = scoresOut.length;
  const r = rank(scoresIn, scoresOut);
  // ROC by the trapezoid rule over the distinct thresholds (exact with ties counted one half).
  let auc = 0;
  let prevTpr = 0;
  let prevFpr = 0;
  // AUPR as average precision: sum over thresholds of (recall step) * precision.
  let ap = 0;
  let fpr95 = 1;
  let found = false;
  for (let i = 0; i < r.thresholds.length; i++) {
    const t = r.inAtOrAbove[i] / nIn;
    const f = r.outAtOrAbove[i] / nOut;
    auc += (f - prevFpr) * (t + prevTpr) / 2;
    const precision = r.inAtOrAbove[i] / (r.inAtOrAbove[i] + r.outAtOrAbove[i]);
    ap += (t - prevTpr) * precision;
    if (!found && t >= tpr - 1e-12) {
      fpr95 = f;
      found = true;
    }
    prevTpr = t;
    prevFpr = f;
  }
  return { auroc: auc, fpr95, aupr: ap };
}
