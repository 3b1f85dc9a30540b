// The chaos run's live terminal view (redrawn in place on a TTY, a line every few seconds
// elsewhere) and its closing table: one row per rule, with the figures and the breaks.
import type { JobStatus, QueueOverview } from '../../db/fila.ts';
import { bold, dim, green, red, yellow } from '../format.ts';
import { countStatuses, TerminalView } from '../terminal-view.ts';
import type { CheckResult } from './checker.ts';

export interface FaultCounts {
  sigkills: number;
  workerRestarts: number;
  workerCrashes: number;
  apiRestarts: number;
  postgresRestarts: number;
  /** DATABASE_URL: the PostgreSQL restart is skipped (never someone else's server) */
  postgresSkipped: boolean;
  providerOutages: number;
  refusals: number;
  lostWebhooks: number;
  duplicateWebhooks: number;
  scriptedFailures: number;
  hangs: number;
  createTimeouts: number;
  cancels: number;
  abandons: number;
  submitRetries: number;
}

export interface ViewState {
  elapsedMs: number;
  overview: QueueOverview | null;
  statuses: Map<string, JobStatus>;
  submitted: number;
  faults: FaultCounts;
  sampler: { maxOccupancy: number; maxProviderActive: number; failedSamples: number };
}

const order: JobStatus[] = ['queued', 'starting', 'running', 'completed', 'failed', 'canceled'];

export class ChaosView extends TerminalView<ViewState> {
  constructor(out: NodeJS.WritableStream, live: boolean, private readonly total: number) {
    super(out, live, { keepNotes: 6, lineEveryMs: 5000 });
  }

  override note(line: string): void {
    super.note(`${new Date().toISOString().slice(11, 19)} ${line}`);
  }

  private counts(s: ViewState): Record<JobStatus, number> {
    return countStatuses(s.statuses.values());
  }

  protected summary(s: ViewState): string {
    const c = this.counts(s);
    const done = c.completed + c.failed + c.canceled;
    const o = s.overview;
    return `[${(s.elapsedMs / 1000).toFixed(0)}s] ${done}/${this.total} done · slots ${o ? `${o.slots_used}/${o.slots_total}` : '?'} · queue ${o?.queued ?? '?'} · ` +
      `${c.completed} completed · ${c.failed} failed · ${c.canceled} canceled · faults: ${faultLine(s.faults)}`;
  }

  protected lines(s: ViewState): string[] {
    const c = this.counts(s);
    const done = c.completed + c.failed + c.canceled;
    const width = 40;
    const filled = Math.round((done / Math.max(1, this.total)) * width);
    const o = s.overview;
    return [
      `${bold('fila chaos')}  ${this.total} jobs   ${dim(`${(s.elapsedMs / 1000).toFixed(0)} s`)}`,
      `  [${'█'.repeat(filled)}${'·'.repeat(width - filled)}] ${done}/${this.total}   submitted ${s.submitted}`,
      `  slots ${o ? `${o.slots_used}/${o.slots_total}` : '? (PostgreSQL away)'}   queue ${o?.queued ?? '?'}${o?.dispatch_paused_until && new Date(o.dispatch_paused_until) > new Date() ? yellow('   dispatch paused') : ''}` +
        `   peak occupancy ${s.sampler.maxOccupancy}, provider ${s.sampler.maxProviderActive}`,
      `  ${order.map((k) => `${k} ${c[k]}`).join(' · ')}`,
      `  faults: ${faultLine(s.faults)}`,
      ...this.notes.map((n) => dim(`  ${n}`)),
    ];
  }
}

export function faultLine(f: FaultCounts): string {
  return `${f.sigkills} SIGKILLs, ${f.apiRestarts} API restarts, ${f.postgresSkipped ? 'PostgreSQL restart skipped' : `${f.postgresRestarts} PostgreSQL restarts`}, ` +
    `${f.providerOutages} provider outages, ${f.refusals} refusals`;
}

export interface TableInput {
  check: CheckResult;
  faults: FaultCounts;
  durationMs: number;
  troubles: string[];
}

/** The closing table (also valid Markdown, for RELIABILITY.md). */
export function closingTable(r: TableInput, color = true): string {
  const mark = (ok: boolean) => (color ? (ok ? green('✓') : red('✗')) : ok ? '✓' : '✗');
  const f = r.faults;
  const c = r.check.counts;
  const lines = [
    `| | rule | breaks | figures |`,
    `|---|---|---:|---|`,
    ...r.check.rows.map((row) => `| ${mark(row.breaks === 0)} | ${row.rule} | ${row.breaks} | ${row.detail.replaceAll('|', '\\|')} |`),
    '',
    `jobs: ${c.jobs} (${c.completed ?? 0} completed, ${c.failed ?? 0} failed, ${c.canceled ?? 0} canceled, ${(c.queued ?? 0) + (c.starting ?? 0) + (c.running ?? 0)} active) in ${(r.durationMs / 1000).toFixed(0)} s`,
    `faults: ${f.sigkills} workers SIGKILLed (${f.workerRestarts} restarts, ${f.workerCrashes} exits on their own), ${f.apiRestarts} API restarts, ` +
      `${f.postgresSkipped ? 'no PostgreSQL restart (DATABASE_URL: not our server)' : `${f.postgresRestarts} PostgreSQL restarts (fast shutdown)`}, ` +
      `${f.providerOutages} provider outages, ${f.refusals} create refusals (421), ${f.lostWebhooks} lost webhooks, ${f.duplicateWebhooks} duplicate/late webhooks, ` +
      `${f.scriptedFailures} task failures, ${f.hangs} hangs, ${f.createTimeouts} creates timed out after the task was created, ` +
      `${f.cancels} cancels, ${f.abandons} pages closed while queued, ${f.submitRetries} submit retries`,
    r.check.eta
      ? `ETA shown to waiting pages vs the real wait (${r.check.eta.samples} readings of ${r.check.eta.jobs} jobs): error median ${r.check.eta.medianS.toFixed(1)} s ` +
        `(${r.check.eta.medianPct.toFixed(0)} %), p90 ${r.check.eta.p90S.toFixed(1)} s (${r.check.eta.p90Pct.toFixed(0)} %)`
      : 'ETA: no page saw one (no job waited)',
    ...(r.troubles.length ? [`run notes: ${r.troubles.join('; ')}`] : []),
  ];
  return lines.join('\n');
}
