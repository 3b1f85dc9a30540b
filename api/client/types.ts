// The shapes the API answers with, inferred from their zod schemas (common/api-json.ts), the same
// that generate /openapi.json and that the SQL's JSON is tested against. Type-only imports: erased
// from the browser bundle.
import type { JobJson, UserCredits, UserJobsPage } from '../../common/api-json.ts';
import type { JobStatus } from '../../db/fila.ts';

export type { JobOutput, JobOutputJson } from '../../common/api-json.ts';
export type { JobStatus } from '../../db/fila.ts';
/** A job as the API shows it: the job row's columns plus `position` and `eta` while queued. */
export type Job = JobJson;
/** A page of the caller's jobs (GET /v1/me/jobs): each job also says what was refunded for it. */
export type JobPage = UserJobsPage;
export type HistoryJob = JobPage['jobs'][number];

export const terminalStatuses: readonly JobStatus[] = ['completed', 'failed', 'canceled'];

export function isTerminalStatus(status: JobStatus): boolean {
  return terminalStatuses.includes(status);
}

/** Terminal, and no output still being copied into fila's store: what the job shows changes no more
 *  (an output's url becomes fila's copy after the job completed; the event stream pushes it). */
export function isSettled(job: Pick<Job, 'status' | 'outputs'>): boolean {
  return isTerminalStatus(job.status) && !(job.outputs ?? []).some((o) => o.copy_status === 'pending');
}

export type Credits = UserCredits;
export type LedgerEntry = Credits['recent'][number];

export interface Upload { url: string; name: string; content_type: string; size: number }
