// Typed access to fila's SQL surface: one method per public function or view. This is the only
// place in fila where SQL text lives outside db/migrations (and db/migrate.ts, db/test-support).
import type pg from 'pg';
import { translateError } from './errors.ts';

export type JobStatus = 'queued' | 'starting' | 'running' | 'completed' | 'failed' | 'canceled';
export const activeStatuses: readonly JobStatus[] = ['queued', 'starting', 'running'];
export const terminalStatuses: readonly JobStatus[] = ['completed', 'failed', 'canceled'];

export interface JobOutput { url: string; type: string }

/** A row of fila.jobs, as the functions return it. */
export interface Job {
  id: string;
  user_id: string;
  tool: string;
  status: JobStatus;
  input: Record<string, unknown>;
  credit_cost: number;
  idempotency_key: string | null;
  presence: boolean;
  last_seen_at: Date | null;
  queue_seq: number;
  attempts: number;
  provider_task_id: string | null;
  outputs: JobOutput[] | null;
  error: string | null;
  created_at: Date;
  started_at: Date | null;
  running_at: Date | null;
  soft_deadline_at: Date | null;
  deadline_at: Date | null;
  finished_at: Date | null;
}

/** A job as the HTTP API shows it (fila.job_json): snake_case columns plus position and eta. */
export interface JobJson {
  id: string;
  user_id: string;
  tool: string;
  status: JobStatus;
  input: Record<string, unknown>;
  credit_cost: number;
  provider_task_id: string | null;
  outputs: JobOutput[] | null;
  error: string | null;
  presence: boolean;
  created_at: string;
  started_at: string | null;
  running_at: string | null;
  finished_at: string | null;
  deadline_at: string | null;
  position: number | null;
  eta: number | null;
}

export interface QueueOverview {
  slots_total: number;
  slots_used: number;
  queued: number;
  oldest_queued_at: Date | null;
  dispatch_paused_until: Date | null;
  pause_reason: string | null;
  backoff_step: number;
}
export interface QueueEntry {
  job_id: string; user_id: string; tool: string; position: number; queued_at: Date;
  presence: boolean; last_seen_at: Date | null;
}
export interface ActiveJob {
  job_id: string; user_id: string; tool: string; status: JobStatus; created_at: Date;
  started_at: Date | null; running_at: Date | null; soft_deadline_at: Date | null; deadline_at: Date | null;
  provider_task_id: string | null;
}
export interface StaleJob {
  job_id: string; user_id: string; tool: string; status: JobStatus; provider_task_id: string | null;
  started_at: Date | null; running_at: Date | null; soft_deadline_at: Date | null; deadline_at: Date | null;
  last_seen_at: Date | null; past: 'soft' | 'hard' | 'abandoned';
}
export interface LedgerEntry {
  id: number; user_id: string; job_id: string | null; kind: 'grant' | 'debit' | 'refund';
  amount: number; reason: string | null; created_at: Date;
}
export interface AuditRow { user_id: string; balance: number; ledger_total: number; difference: number }
export interface TimelineEntry {
  event_id: number; job_id: string; at: Date; from_status: JobStatus | null; to_status: JobStatus;
  reason: string; user_id: string; tool: string;
}
export interface StoredWebhook {
  id: number; job_id: string; provider: string; payload: unknown; received_at: Date;
  processed_at: Date | null; outcome: string | null;
}

export interface SubmitRequest {
  userId: string;
  tool: string;
  input: Record<string, unknown>;
  idempotencyKey?: string | null;
  presence?: boolean;
}

export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

type JobWithJson = Job & { json: JobJson };

function splitJson(row: JobWithJson): { job: Job; json: JobJson } {
  const { json, ...job } = row;
  return { job, json };
}

/** fila's SQL functions and views, typed. Refusals arrive as FilaError (db/errors.ts). */
export class FilaDb {
  constructor(private readonly db: Queryable) {}

  private async rows<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.db.query<R>(sql, params)).rows;
    } catch (err) {
      throw translateError(err);
    }
  }

  private async one<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R> {
    const [row] = await this.rows<R>(sql, params);
    if (!row) throw new Error(`expected one row from: ${sql}`);
    return row;
  }

  /** fila.submit_job: `created` is false for a retry with the same idempotency key. */
  async submitJob(req: SubmitRequest): Promise<{ job: Job; json: JobJson; created: boolean }> {
    const row = await this.one<JobWithJson & { created: boolean }>(
      `select j.*, fila.job_json(j) as json, j.created_at = now() as created
         from fila.submit_job($1, $2, $3, $4, $5) j`,
      [req.userId, req.tool, req.input, req.idempotencyKey ?? null, req.presence ?? false]);
    const { created, ...rest } = row;
    return { ...splitJson(rest), created };
  }

  async dispatch(): Promise<Job[]> {
    return this.rows<Job>('select * from fila.dispatch()');
  }

  async markRunning(jobId: string, providerTaskId: string): Promise<Job> {
    return this.one<Job>('select * from fila.mark_running($1, $2)', [jobId, providerTaskId]);
  }

  async finishJob(jobId: string, status: 'completed' | 'failed', outputs: JobOutput[] | null, error: string | null): Promise<Job> {
    return this.one<Job>('select * from fila.finish_job($1, $2, $3, $4)',
      [jobId, status, outputs === null ? null : JSON.stringify(outputs), error]);
  }

  async requeueJob(jobId: string, reason: string): Promise<Job> {
    return this.one<Job>('select * from fila.requeue_job($1, $2)', [jobId, reason]);
  }

  /** userId null = an operator's cancel. */
  async cancelJob(jobId: string, userId: string | null): Promise<{ job: Job; json: JobJson }> {
    return splitJson(await this.one<JobWithJson>(
      'select j.*, fila.job_json(j) as json from fila.cancel_job($1, $2) j', [jobId, userId]));
  }

  async reapStaleJobs(asOf?: Date): Promise<Job[]> {
    return asOf
      ? this.rows<Job>('select * from fila.reap_stale_jobs($1)', [asOf])
      : this.rows<Job>('select * from fila.reap_stale_jobs()');
  }

  async activeJob(userId: string): Promise<{ job: Job; json: JobJson } | null> {
    const [row] = await this.rows<JobWithJson>(
      'select j.*, fila.job_json(j) as json from fila.active_job($1) j where j.id is not null', [userId]);
    return row ? splitJson(row) : null;
  }

  async queuePosition(jobId: string): Promise<number | null> {
    return (await this.one<{ p: number | null }>('select fila.queue_position($1) as p', [jobId])).p;
  }

  async touchJob(jobId: string, userId: string): Promise<void> {
    await this.rows('select fila.touch_job($1, $2)', [jobId, userId]);
  }

  async receiveWebhook(jobId: string, provider: string, payload: unknown): Promise<number> {
    return (await this.one<{ id: number }>('select fila.receive_webhook($1, $2, $3) as id',
      [jobId, provider, JSON.stringify(payload)])).id;
  }

  async grantCredits(userId: string, amount: number, reason: string, idempotencyKey?: string | null): Promise<number> {
    return (await this.one<{ balance: number }>('select fila.grant_credits($1, $2, $3, $4) as balance',
      [userId, amount, reason, idempotencyKey ?? null])).balance;
  }

  async creditBalance(userId: string): Promise<number> {
    return (await this.one<{ balance: number }>('select fila.credit_balance($1) as balance', [userId])).balance;
  }

  /** One job; userId given = only if it is theirs (FL004 otherwise). */
  async job(jobId: string, userId: string | null = null): Promise<{ job: Job; json: JobJson }> {
    return splitJson(await this.one<JobWithJson>(
      'select j.*, fila.job_json(j) as json from fila.job($1, $2) j', [jobId, userId]));
  }

  async webhook(inboxId: number): Promise<StoredWebhook | null> {
    const [row] = await this.rows<StoredWebhook>(
      'select w.* from fila.webhook($1) w where w.id is not null', [inboxId]);
    return row ?? null;
  }

  async markWebhookProcessed(inboxId: number, outcome: string): Promise<void> {
    await this.rows('select fila.mark_webhook_processed($1, $2)', [inboxId, outcome]);
  }

  // Views ----------------------------------------------------------------------------------------

  async queueOverview(): Promise<QueueOverview> {
    return this.one<QueueOverview>('select * from fila.queue_overview');
  }

  async queue(limit = 100): Promise<QueueEntry[]> {
    return this.rows<QueueEntry>('select * from fila.queue order by position limit $1', [limit]);
  }

  async activeJobs(): Promise<ActiveJob[]> {
    return this.rows<ActiveJob>('select * from fila.active_jobs order by created_at');
  }

  async staleJobs(): Promise<StaleJob[]> {
    return this.rows<StaleJob>('select * from fila.stale_jobs order by deadline_at nulls last');
  }

  async creditLedger(userId: string, limit = 20): Promise<LedgerEntry[]> {
    return this.rows<LedgerEntry>(
      'select * from fila.credit_ledger where user_id = $1 order by id desc limit $2', [userId, limit]);
  }

  async creditAudit(): Promise<AuditRow[]> {
    return this.rows<AuditRow>('select * from fila.credit_audit');
  }

  async jobTimeline(jobId: string): Promise<TimelineEntry[]> {
    return this.rows<TimelineEntry>('select * from fila.job_timeline where job_id = $1 order by event_id', [jobId]);
  }
}
