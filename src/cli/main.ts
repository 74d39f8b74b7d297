// The jepa-score command line.
import { Command } from 'commander';

const program = new Command();
program
  .name('jepa-score')
  .description('Exact JEPA-SCORE (log-density read off the Jacobian of a JEPA encoder) for images and data sets')
  .showHelpAfterError();

// One line per command module.
const commands: Array<() => Promise<{ register(p: Command): void }>> = [
  () => import('./score.js'),
  () => import('./report.js'),
  () => import('./train.js'),
  () => import('./ood.js'),
  () => import('./demo.js'),
  () => import('./synth.js'),
  () => import('./langevin.js'),
];

for (const load of commands) (await load()).register(program);

await program.parseAsync(process.argv);
