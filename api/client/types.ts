// The shapes the API answers with (kept here so the client has no server-side imports).
export type JobStatus = 'queued' | 'starting' | 'running' | 'completed' | 'failed' | 'canceled';

export const terminalStatuses: readonly JobStatus[] = ['completed', 'failed', 'canceled'];

export function isTerminalStatus(status: JobStatus): boolean {
  return terminalStatuses.includes(status);
}

export interface JobOutput { url: string; type: string }

/** A job as the API shows it: the job row's columns plus `position` and `eta` while queued. */
export interface Job {
  id: string;
  user_id: string;
  tool: string;
  status: JobStatus;
  input: Record<string, unknown>;
  credit_cost: number;
  provider_task_id: string | null;
  outputs: JobOutput[] | null;
  /** the provider's own message when the job failed */
  error: string | null;
  presence: boolean;
  created_at: string;
  started_at: string | null;
  running_at: string | null;
  finished_at: string | null;
  deadline_at: string | null;
  /** 1-based place in the queue while queued */
  position: number | null;
  /** estimated seconds until it starts, while queued */
  eta: number | null;
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
