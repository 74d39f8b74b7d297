// The jepa-score command line.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { packageRoot } from '../models/builtin.js';

const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };

const program = new Command();
program
  .name('jepa-score')
  .description('Exact JEPA-SCORE (log-density read off the Jacobian of a JEPA encoder) for images and data sets')
  .version(pkg.version)
  .showHelpAfterError();

// One line per command module.
const commands: Array<() => Promise<{ register(p: Command): void }>> = [
  () => import('./score.js'),
  () => import('./worker.js'),
  () => import('./merge.js'),
  () => import('./report.js'),
  () => import('./train.js'),
  () => import('./ood.js'),
  () => import('./demo.js'),
  () => import('./synth.js'),
  () => import('./langevin.js'),
];

for (const load of commands) (await load()).register(program);

await program.parseAsync(process.argv);
