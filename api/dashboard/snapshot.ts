// What the operator dashboard shows, read in one go from fila's views (FilaDb; no SQL here).
import type {
  ActiveJob, ActivityBucket, AuditRow, FilaDb, ProviderAccountOverview, QueueEntry, QueueOverview, RecentJob, RefundsToday, ToolStats,
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
  /** the last hours from the event log (fila.activity_history), for the charts */
  history: HistoryWindow;
}

/** The charts' data: one bucket per `bucket_seconds`, oldest first; the last one is partial. */
export interface HistoryWindow {
  hours: number;
  bucket_seconds: number;
  buckets: ActivityBucket[];
}

export const historyHours = 3;
export const historyBucketSeconds = 60;

export const queueShown = 50;
export const recentShown = 25;

/** The charts' window, computed in SQL from job_events and the ledger. */
export async function readHistory(db: FilaDb): Promise<HistoryWindow> {
  return { hours: historyHours, bucket_seconds: historyBucketSeconds, buckets: await db.activityHistory(historyHours, historyBucketSeconds) };
}

/** The present (`history` is read on its own schedule: see SnapshotFeed). */
export async function readSnapshot(db: FilaDb, development: boolean): Promise<Omit<DashboardSnapshot, 'history'>> {
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
