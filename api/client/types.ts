// The shapes the API answers with. The job's shape is the one SQL produces (fila.job_json): its
// type comes from db/fila.ts as a type-only import, erased from the browser bundle.
import type { JobJson, JobStatus, UserJobsPage } from '../../db/fila.ts';

export type { JobOutput, JobOutputJson, JobStatus } from '../../db/fila.ts';
/** A job as the API shows it: the job row's columns plus `position` and `eta` while queued. */
export type Job = JobJson;
/** A page of the caller's jobs (GET /v1/me/jobs): each job also says what was refunded for it. */
export type JobPage = UserJobsPage;
export type HistoryJob = JobPage['jobs'][number];

export const terminalStatuses: readonly JobStatus[] = ['completed', 'failed', 'canceled'];

export function isTerminalStatus(status: JobStatus): boolean {
  return terminalStatuses.includes(status);
}

export interface LedgerEntry {
  id: number;
  user_id: string;
  job_id: string | null;
  kind: 'grant' | 'debit' | 'refund';
  amount: number;
  reason: string | null;
  created_at: string;
}

export interface Credits { balance: number; recent: LedgerEntry[] }

export interface Upload { url: string; name: string; content_type: string; size: number }
