// Markdown tables from the JSON files scripts/fast-measure.ts writes (for docs/fast.md and the README).
//   node --import tsx scripts/fast-table.ts docs/fast-digits-vit.json docs/fast-mnist-jepa.json
import { readFileSync } from 'node:fs';

interface Row {
  method: string;
  sketches: number;
  rows: number;
  spearman: number;
  spearmanMin: number;
  pearson: number;
  spearmanIn: number;
  meanOffset: number;
  auroc: Record<string, number>;
}

for (const file of process.argv.slice(2)) {
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const ood = Object.keys(r.exactAuroc);
  const f = (v: number, d = 3) => v.toFixed(d);
  console.log(`\n### ${r.model} (K = ${r.K}, D = ${r.D}; ${r.imagesPerSet} images from each of ${r.sets.join(', ')}; sketch seeds ${r.seeds.join(', ')})\n`);
  console.log(`| estimator | r | Spearman (min over seeds) | Pearson | Spearman, ${r.sets[0]} only | mean(approx - exact) | ${ood.map((o) => `AUROC ${o}`).join(' | ')} |`);
  console.log(`|---|---:|---:|---:|---:|---:|${ood.map(() => '---:').join('|')}|`);
  console.log(`| exact | ${r.K} | 1 | 1 | 1 | 0 | ${ood.map((o) => f(r.exactAuroc[o])).join(' | ')} |`);
  for (const e of r.estimators as Row[]) {
    const name = e.method === 'sketch' ? (e.sketches > 1 ? `sketch, ${e.sketches} x ${e.rows / e.sketches}` : 'sketch') : e.method === 'basis' ? `basis (${r.calibrationImages} calibration images)` : e.method;
    console.log(`| ${name} | ${e.rows} | ${f(e.spearman)} (${f(e.spearmanMin)}) | ${f(e.pearson)} | ${f(e.spearmanIn)} | ${f(e.meanOffset, 1)} | ${ood.map((o) => f(e.auroc[o])).join(' | ')} |`);
  }
  const t = r.timing;
  console.log(`\nSeconds per image (${t.images} images, onnxruntime ${t.threads} thread, median of ${t.repeats} interleaved passes): ` + t.modes.map((m: { mode: string; secondsPerImage: number; speedup: number }) => `${m.mode} ${(m.secondsPerImage * 1000).toFixed(1)} ms (${m.speedup.toFixed(2)}x)`).join(', ') + '.');
}
