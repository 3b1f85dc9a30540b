// A live terminal view for the demo and the chaos run: redrawn in place on a TTY, a summary line
// every few seconds elsewhere (CI logs), and the latest notable events. Plain ANSI.
import type { JobStatus } from '../db/fila.ts';
import { dim } from './format.ts';

export function countStatuses(statuses: Iterable<JobStatus>): Record<JobStatus, number> {
  const c: Record<JobStatus, number> = { queued: 0, starting: 0, running: 0, completed: 0, failed: 0, canceled: 0 };
  for (const st of statuses) c[st]++;
  return c;
}

export abstract class TerminalView<S extends { elapsedMs: number }> {
  private drawn = 0;
  private lastLine = 0;
  protected readonly notes: string[] = [];
  private state: S | null = null;
  private stopped = false;

  constructor(
    protected readonly out: NodeJS.WritableStream,
    protected readonly live: boolean,
    private readonly opts: { keepNotes: number; lineEveryMs: number },
  ) {}

  /** the view redrawn in place */
  protected abstract lines(s: S): string[];
  /** one line for logs */
  protected abstract summary(s: S): string;

  note(line: string): void {
    this.notes.push(line);
    if (this.notes.length > this.opts.keepNotes) this.notes.shift();
    if (!this.live && !this.stopped) this.out.write(`  ${dim('·')} ${line}\n`);
  }

  update(state: S): void {
    this.state = state;
    if (this.stopped) return;
    if (this.live) this.draw();
    else if (state.elapsedMs - this.lastLine >= this.opts.lineEveryMs) {
      this.lastLine = state.elapsedMs;
      this.out.write(`${this.summary(state)}\n`);
    }
  }

  stop(): void {
    if (this.stopped) return;
    if (this.live) this.draw();
    else if (this.state) this.out.write(`${this.summary(this.state)}\n`);
    this.stopped = true;
  }

  private draw(): void {
    if (!this.state) return;
    const lines = this.lines(this.state);
    const up = this.drawn ? `\x1b[${this.drawn}F` : '';
    this.out.write(`${up}${lines.map((l) => `\x1b[2K${l}`).join('\n')}\n`);
    this.drawn = lines.length;
  }
}
