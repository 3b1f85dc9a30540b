// The demo's live terminal view: slots and their holders, the queue, counts by state, a progress
// bar, the latest notable events. Plain ANSI: redraw in place on a TTY, a line every few seconds
// elsewhere (CI logs).
import type { ActiveJob, JobStatus, QueueOverview } from '../../db/fila.ts';
import { bold, cyan, dim, green, red, yellow } from '../format.ts';
import { countStatuses, TerminalView } from '../terminal-view.ts';

export interface ViewState {
  overview: QueueOverview;
  holders: ActiveJob[];
  statuses: Map<string, JobStatus>;
  elapsedMs: number;
}

const order: JobStatus[] = ['queued', 'starting', 'running', 'completed', 'failed', 'canceled'];
const paint: Record<JobStatus, (s: string) => string> = {
  queued: (s) => s, starting: cyan, running: cyan, completed: green, failed: red, canceled: yellow,
};

export class LiveView extends TerminalView<ViewState> {
  constructor(
    out: NodeJS.WritableStream,
    live: boolean,
    private readonly total: number,
    private readonly names: Map<string, string>,
  ) {
    super(out, live, { keepNotes: 5, lineEveryMs: 2000 });
  }

  private counts(s: ViewState): Record<JobStatus, number> {
    return countStatuses(s.statuses.values());
  }

  protected summary(s: ViewState): string {
    const c = this.counts(s);
    const done = c.completed + c.failed + c.canceled;
    return `[${(s.elapsedMs / 1000).toFixed(1)}s] slots ${s.overview.slots_used}/${s.overview.slots_total} · queue ${s.overview.queued} · ` +
      order.map((k) => `${k} ${c[k]}`).join(' · ') + ` · done ${done}/${this.total}`;
  }

  protected lines(s: ViewState): string[] {
    const c = this.counts(s);
    const done = c.completed + c.failed + c.canceled;
    const width = 40;
    const filled = Math.round((done / Math.max(1, this.total)) * width);
    const lines: string[] = [];
    lines.push(`${bold('fila demo')}  ${this.total} users · 4 tools   ${dim(`${(s.elapsedMs / 1000).toFixed(1)} s`)}`);
    for (let i = 0; i < s.overview.slots_total; i++) {
      const h = s.holders[i];
      const held = h?.started_at ? ((Date.now() - h.started_at.getTime()) / 1000).toFixed(1) : '';
      lines.push(h
        ? `  slot ${i + 1}  ${cyan('■')} ${h.tool.padEnd(15)} ${(this.names.get(h.user_id) ?? h.user_id.slice(0, 8)).padEnd(8)} ${h.status.padEnd(8)} ${dim(`${held}s`)}`
        : `  slot ${i + 1}  ${dim('□ free')}`);
    }
    const paused = s.overview.dispatch_paused_until ? yellow(`  dispatch paused: ${s.overview.pause_reason ?? ''}`) : '';
    lines.push(`  queue   ${bold(String(s.overview.queued))} waiting${paused}`);
    lines.push(`  states  ${order.map((k) => paint[k](`${k} ${c[k]}`)).join(dim(' · '))}`);
    lines.push(`  ${green('█'.repeat(filled))}${dim('░'.repeat(width - filled))}  ${done}/${this.total} finished`);
    lines.push(dim('  recent:'));
    for (let i = 0; i < 5; i++) lines.push(`    ${this.notes[i] ?? ''}`.slice(0, (process.stdout.columns || 120) - 1));
    return lines;
  }
}
