// What the operator dashboard shows, read in one go from fila's views (FilaDb; no SQL here).
import type {
  ActiveJob, AuditRow, FilaDb, ProviderAccountOverview, QueueEntry, QueueOverview, RecentJob, RefundsToday, ToolStats,
} from '../../db/fila.ts';

export interface DashboardSnapshot {
  /** server time, so the page can age timestamps without trusting the browser's clock */
  now: string;
  development: boolean;
  overview: QueueOverview;
  /** the provider accounts: slots, use, pause, refusals */
  accounts: ProviderAccountOverview[];
  slots: ActiveJob[];
  queue: QueueEntry[];
  recent: RecentJob[];
  refunds: RefundsToday;
  audit: { ok: boolean; rows: AuditRow[] };
  tools: ToolStats[];
}

export const queueShown = 50;
export const recentShown = 25;

export async function readSnapshot(db: FilaDb, development: boolean): Promise<DashboardSnapshot> {
  const [overview, accounts, active, queue, recent, refunds, audit, tools] = await Promise.all([
    db.queueOverview(), db.providerAccounts(), db.activeJobs(), db.queue(queueShown), db.recentJobs(recentShown),
    db.refundsToday(8), db.creditAudit(), db.toolStats(),
  ]);
  return {
    now: new Date().toISOString(),
    development,
    overview,
    accounts,
    slots: active.filter((j) => j.status === 'starting' || j.status === 'running'),
    queue,
    recent,
    refunds,
    audit: { ok: audit.length === 0, rows: audit.slice(0, 10) },
    tools,
  };
}

/** The part of a snapshot that changes when something happens (not the clock). */
export function fingerprint(s: DashboardSnapshot): string {
  const { now: _now, ...rest } = s;
  return JSON.stringify(rest);
}
