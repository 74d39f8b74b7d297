// A progress bar on stderr with items/s and ETA; plain periodic lines when stderr is not a terminal.
import cliProgress from 'cli-progress';

export class Progress {
  private bar?: cliProgress.SingleBar;
  private done = 0;
  private failed = 0;
  private lastLog = 0;
  private readonly start = Date.now();

  constructor(
    private readonly total: number,
    private readonly label: string,
    private readonly unit = 'images',
    /** show a count of failed items (see fail()) */
    private readonly showFailed = false,
  ) {
    if (process.stderr.isTTY && !process.env.CI) {
      this.bar = new cliProgress.SingleBar(
        {
          format: `${label} [{bar}] {value}/{total} | {rate} ${unit}/s | ETA {eta_formatted}` + (showFailed ? ' | {failed} failed' : ''),
          stream: process.stderr,
          hideCursor: true,
          etaBuffer: 20,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, 0, { rate: '0.0', failed: 0 });
    }
  }

  get rate(): number {
    return this.done / Math.max((Date.now() - this.start) / 1000, 1e-3);
  }

  tick(n = 1): void {
    this.done += n;
    if (this.bar) {
      this.bar.update(this.done, { rate: this.rate.toFixed(this.rate < 10 ? 2 : 1), failed: this.failed });
      return;
    }
    const now = Date.now();
    if (now - this.lastLog > 5000 || this.done === this.total) {
      this.lastLog = now;
      const eta = this.rate > 0 ? (this.total - this.done) / this.rate : 0;
      const f = this.showFailed ? `, ${this.failed} failed` : '';
      process.stderr.write(`${this.label}: ${this.done}/${this.total} (${this.rate.toFixed(2)} ${this.unit}/s, ETA ${formatSeconds(eta)}${f})\n`);
    }
  }

  /** Counts n failed items (and ticks them). */
  fail(n = 1): void {
    this.failed += n;
    this.tick(n);
  }

  stop(): void {
    this.bar?.stop();
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${Math.round(s % 60).toString().padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${Math.round((s % 3600) / 60).toString().padStart(2, '0')}m`;
}
