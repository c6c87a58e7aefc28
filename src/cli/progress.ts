/**
 * Progress on stderr: a redrawn bar on a TTY, plain lines (at most one every few seconds)
 * otherwise, nothing with --quiet. Shows items done, rate (e.g. tokens/s) and ETA.
 */
export interface ProgressOptions {
  label: string;
  total?: number;
  unit?: string;
  quiet?: boolean;
  /** Seconds between plain lines when stderr is not a TTY. */
  plainEverySeconds?: number;
  stream?: NodeJS.WriteStream;
  /** Appended to each line (e.g. per-language rates of a recording of several languages). */
  detail?: () => string;
}

/** No progress display before this much time has passed. */
export const SHOW_AFTER_MS = 2000;

export class Progress {
  private done = 0;
  private readonly start = Date.now();
  private lastPrint = 0;
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = !!this.stream.isTTY;
  }

  /** Sets the starting point (e.g. when resuming) without counting it towards the rate. */
  private base = 0;
  resumeFrom(done: number): void {
    this.done = done;
    this.base = done;
  }

  add(n: number): void {
    this.update(this.done + n);
  }

  /** Sets the absolute amount done. */
  update(done: number): void {
    this.done = done;
    this.render(false);
  }

  /** Prints the last state, but only when the display was shown (short work prints nothing). */
  finish(): void {
    if (!this.shown) return;
    this.render(true);
    if (this.tty && !this.opts.quiet) this.stream.write('\n');
  }

  line(): string {
    const secs = (Date.now() - this.start) / 1000;
    const rate = secs > 0 ? (this.done - this.base) / secs : 0;
    const unit = this.opts.unit ?? 'items';
    const total = this.opts.total;
    const parts = [this.opts.label];
    const showRate = secs >= 1 && this.done > this.base;
    if (total) {
      const frac = Math.min(1, this.done / total);
      if (this.tty) parts.push(`[${'#'.repeat(Math.round(frac * 24)).padEnd(24, '.')}]`);
      parts.push(`${(frac * 100).toFixed(1)}%`, `${this.done}/${total} ${unit}`);
    } else parts.push(`${this.done} ${unit}`);
    if (showRate) parts.push(`${rate.toFixed(rate < 10 ? 2 : 0)} ${unit}/s`);
    if (total && showRate && rate > 0 && this.done < total) parts.push(`ETA ${formatSeconds((total - this.done) / rate)}`);
    else parts.push(`${formatSeconds(secs)} elapsed`);
    const detail = this.opts.detail?.();
    if (detail) parts.push(detail);
    return parts.join('  ');
  }

  private shown = false;

  private render(force: boolean): void {
    if (this.opts.quiet) return;
    const now = Date.now();
    // Work shorter than SHOW_AFTER_MS gets no display at all (no bar for 1.4 s of work).
    if (!this.shown && now - this.start < SHOW_AFTER_MS) return;
    this.shown = true;
    if (this.tty) {
      if (!force && now - this.lastPrint < 100) return;
      this.stream.write(`\r\x1b[K${this.line()}`);
    } else {
      if (!force && now - this.lastPrint < (this.opts.plainEverySeconds ?? 5) * 1000) return;
      this.stream.write(`${this.line()}\n`);
    }
    this.lastPrint = now;
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}
