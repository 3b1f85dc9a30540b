// Typed access to fila's SQL surface: one method per public function or view. This is the only
// place in fila where SQL text lives outside db/migrations (and db/migrate.ts, dev/test-support).
import type pg from 'pg';
import { translateError } from './errors.ts';

export type JobStatus = 'queued' | 'starting' | 'running' | 'completed' | 'failed' | 'canceled';
export const terminalStatuses: readonly JobStatus[] = ['completed', 'failed', 'canceled'];

/** completed, failed or canceled: the job holds nothing and never changes again. */
export function isTerminalStatus(status: JobStatus): boolean {
  return terminalStatuses.includes(status);
}

export interface JobOutput { url: string; type: string }

/** An output as users see it (job_json): `url` is fila's copy once it has landed, the provider's until then. */
export interface JobOutputJson extends JobOutput {
  provider_url: string;
  copy_url: string | null;
  /** null: no copy recorded (a job completed before copies existed); expired: the copy was swept */
  copy_status: OutputCopyStatus | 'expired' | null;
}

export type OutputCopyStatus = 'pending' | 'copied' | 'refused' | 'failed';

/** A row of fila.output_copies. */
export interface OutputCopy {
  job_id: string;
  output_index: number;
  provider_url: string;
  status: OutputCopyStatus;
  upload_name: string | null;
  url: string | null;
  content_type: string | null;
  attempts: number;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
}

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
  /** the provider account dispatch started it on: null while queued */
  account: string | null;
  create_uncertain_at: Date | null;
  last_polled_at: Date | null;
  provider_cost: Record<string, string> | null;
  recovered_by: 'poll' | 'reaper' | null;
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
  outputs: JobOutputJson[] | null;
  error: string | null;
  presence: boolean;
  created_at: string;
  started_at: string | null;
  running_at: string | null;
  finished_at: string | null;
  deadline_at: string | null;
  account: string | null;
  position: number | null;
  eta: number | null;
}

/** One row of fila.watched_jobs: json only once the job is not queued. */
export interface WatchedJob {
  id: string;
  status: JobStatus;
  position: number | null;
  eta: number | null;
  json: JobJson | null;
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
  provider_task_id: string | null; account: string | null;
}
export interface StaleJob {
  job_id: string; user_id: string; tool: string; status: JobStatus; provider_task_id: string | null;
  started_at: Date | null; running_at: Date | null; soft_deadline_at: Date | null; deadline_at: Date | null;
  last_seen_at: Date | null; past: 'soft' | 'hard' | 'abandoned'; account: string | null;
}
export interface LedgerEntry {
  id: number; user_id: string; job_id: string | null; kind: 'grant' | 'debit' | 'refund';
  amount: number; reason: string | null; created_at: Date;
}
export interface AuditRow { user_id: string; balance: number; ledger_total: number; difference: number }
export interface TimelineEntry {
  event_id: number; job_id: string; at: Date; from_status: JobStatus | null; to_status: JobStatus;
  reason: string; user_id: string; tool: string;
  /** a fact about the job, not a transition (from_status = to_status) */
  note: boolean;
}

/** What a webhook naming a task may do to a job (fila.webhook_task_verdict). */
export type WebhookTaskVerdict = 'own' | 'wait' | 'foreign' | 'orphan';

export interface ToolAvailability {
  tool: string; enabled: boolean; disabled_reason: string | null; disabled_at: Date | null;
}

export interface ProviderAccountCheck {
  account: string; provider_running: number; fila_occupied: number; max_slots: number; disagrees: boolean;
  remain_coins: string | null; remain_money: string | null; checked_at: Date;
}

export interface ProviderRecovery {
  recovered_by_poll: number; recovered_by_reaper: number; lost_slot_seconds: number; orphan_tasks: number;
}
export interface RecentJob {
  job_id: string; user_id: string; tool: string; status: JobStatus; credit_cost: number;
  input: Record<string, unknown>; outputs: JobOutput[] | null; error: string | null; attempts: number;
  provider_task_id: string | null; queue_seq: number; created_at: Date; started_at: Date | null;
  running_at: Date | null; finished_at: Date | null; slot_seconds: number | null; account: string | null;
}
export interface ToolStats {
  tool: string; enabled: boolean; completed: number; failed: number; canceled: number;
  avg_seconds: number | null; p50_seconds: number | null; p95_seconds: number | null;
  avg_wait_seconds: number | null;
}
/** A row of fila.provider_account_overview. */
export interface ProviderAccountOverview {
  account: string; slots_total: number; slots_used: number; enabled: boolean;
  paused_until: Date | null; pause_reason: string | null; backoff_step: number;
  /** how often it was paused; how many jobs it sent back to the queue */
  pauses: number; refusals: number;
}
/** A row of fila.provider_accounts (what set_provider_account returns). */
export interface ProviderAccount {
  account: string; max_slots: number; enabled: boolean; paused_until: Date | null;
  pause_reason: string | null; backoff_step: number; pauses: number; refusals: number;
}
export interface StoredWebhook {
  id: number; job_id: string; provider: string; payload: unknown; received_at: Date;
  processed_at: Date | null; outcome: string | null;
}

/** One of a user's jobs in their history: the job JSON plus the credits refunded for it (null: none). */
export type UserJobJson = JobJson & { refunded_credits: number | null };
/** A page of a user's jobs, newest first; `next_cursor` (a job id) asks for the next page. */
export interface UserJobsPage { jobs: UserJobJson[]; next_cursor: string | null }
export interface UserJobsQuery { tool?: string | null; status?: JobStatus | null; before?: string | null; limit?: number }

/** One bucket of the operator's history charts (fila.activity_history). */
export interface ActivityBucket {
  bucket_start: Date; queue_depth: number; slots_used: number; starts: number;
  wait_p50_seconds: number | null; wait_p95_seconds: number | null;
  completed: number; failed: number; canceled: number; refunds: number; refunded_credits: number;
}

/** Everything about one job (fila.job_detail; dates as ISO text: read as JSON). */
export interface JobDetail {
  job: JobJson;
  timeline: Array<{ event_id: number; at: string; from_status: JobStatus | null; to_status: JobStatus; reason: string }>;
  ledger: Array<{ id: number; kind: 'debit' | 'refund'; amount: number; reason: string | null; created_at: string }>;
  webhooks: Array<{ id: number; provider: string; payload: unknown; received_at: string; processed_at: string | null; outcome: string | null }>;
}

export interface SubmitRequest {
  userId: string;
  tool: string;
  input: Record<string, unknown>;
  idempotencyKey?: string | null;
  presence?: boolean;
}

/** Per-user limits on kept uploads (configuration). */
export interface UploadQuota { maxFiles: number; maxBytes: number }

export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

type JobWithJson = Job & { json: JobJson };

function splitJson(row: JobWithJson): { job: Job; json: JobJson } {
  const { json, ...job } = row;
  return { job, json };
}

/** A user's credits (dates as ISO text: read as JSON). */
export interface UserCredits {
  balance: number;
  recent: Array<Omit<LedgerEntry, 'created_at'> & { created_at: string }>;
}
/** Today's refunds (dates as ISO text: read as JSON). */
export interface RefundsToday { count: number; credits: number; latest: UserCredits['recent'] }
/** The queue overview and its head (dates as ISO text: read as JSON). */
export interface QueueSnapshot {
  overview: Omit<QueueOverview, 'oldest_queued_at' | 'dispatch_paused_until'> & {
    oldest_queued_at: string | null; dispatch_paused_until: string | null;
  };
  jobs: Array<Omit<QueueEntry, 'queued_at' | 'last_seen_at'> & { queued_at: string; last_seen_at: string | null }>;
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
    const { created, ...job } = await this.one<Job & { created: boolean }>(
      `select j.*, fila.job_created_by_this_transaction(j.id) as created
         from fila.submit_job($1, $2, $3, $4, $5) j`,
      [req.userId, req.tool, req.input, req.idempotencyKey ?? null, req.presence ?? false]);
    // a second statement: job_json is stable, so inside the submitting statement its snapshot
    // cannot see the new row, and a queued job's position and eta came back null
    const { json } = await this.one<{ json: JobJson }>('select fila.job_json(j) as json from fila.job($1) j', [job.id]);
    return { job, json, created };
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

  /** An operator's grant (the API's only way to move credits): the ledger entry names the operator. */
  async grantCreditsByOperator(operatorId: string, userId: string, amount: number, reason: string, idempotencyKey?: string | null): Promise<number> {
    return (await this.one<{ balance: number }>('select fila.grant_credits_by_operator($1, $2, $3, $4, $5) as balance',
      [operatorId, userId, amount, reason, idempotencyKey ?? null])).balance;
  }

  // Uploads' quota and retention ------------------------------------------------------------------

  /** Refuses (FL002 no balance, FL011 over quota) before an upload's body is read. */
  async checkUploadQuota(userId: string, incomingBytes: number, quota: UploadQuota): Promise<void> {
    await this.rows('select fila.check_upload_quota($1, $2, $3, $4)', [userId, incomingBytes, quota.maxFiles, quota.maxBytes]);
  }

  /** Counts a stored file against its user's quota, checked again under the user's lock. */
  async recordUpload(userId: string, name: string, size: number, quota: UploadQuota): Promise<void> {
    await this.rows('select fila.record_upload($1, $2, $3, $4, $5)', [userId, name, size, quota.maxFiles, quota.maxBytes]);
  }

  /** Stored files past their retention, or past their finished job's grace. */
  async expiredUploads(retentionSeconds: number, graceSeconds: number, asOf?: Date): Promise<string[]> {
    return (await this.rows<{ name: string }>(
      `select u as name from fila.expired_uploads(make_interval(secs => $1), make_interval(secs => $2), coalesce($3, now())) u`,
      [retentionSeconds, graceSeconds, asOf ?? null])).map((r) => r.name);
  }

  async uploadsDeleted(names: readonly string[]): Promise<number> {
    return (await this.one<{ n: number }>('select fila.uploads_deleted($1) as n', [names])).n;
  }

  // Copies of results ------------------------------------------------------------------------------

  /** One output's copy record, or null when the job has no such output. */
  async outputCopy(jobId: string, outputIndex: number): Promise<OutputCopy | null> {
    const [row] = await this.rows<OutputCopy>(
      'select c.* from fila.output_copy($1, $2) c where c.job_id is not null', [jobId, outputIndex]);
    return row ?? null;
  }

  /** The copy is in the store; returns the record (a copy that landed earlier wins: compare upload_name). */
  async recordOutputCopy(jobId: string, outputIndex: number, file: { name: string; size: number; contentType: string; url: string }): Promise<OutputCopy> {
    return this.one<OutputCopy>('select * from fila.record_output_copy($1, $2, $3, $4, $5, $6)',
      [jobId, outputIndex, file.name, file.size, file.contentType, file.url]);
  }

  /** A copy attempt failed: `pending` = will retry, `refused` = hostile (never retried), `failed` = retries spent. */
  async recordOutputCopyFailure(jobId: string, outputIndex: number, reason: string, status: 'pending' | 'refused' | 'failed'): Promise<OutputCopy | null> {
    const [row] = await this.rows<OutputCopy>(
      'select c.* from fila.record_output_copy_failure($1, $2, $3, $4) c where c.job_id is not null', [jobId, outputIndex, reason, status]);
    return row ?? null;
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

  /** Insert or change a provider account (fila.set_provider_account). */
  async setProviderAccount(account: string, maxSlots: number, enabled = true): Promise<ProviderAccount> {
    return this.one<ProviderAccount>('select * from fila.set_provider_account($1, $2, $3)', [account, maxSlots, enabled]);
  }

  // Views ----------------------------------------------------------------------------------------

  /** Every provider account with its slots, use, pause and counters, by name. */
  async providerAccounts(): Promise<ProviderAccountOverview[]> {
    return this.rows<ProviderAccountOverview>('select * from fila.provider_account_overview order by account');
  }

  async queueOverview(): Promise<QueueOverview> {
    return this.one<QueueOverview>('select * from fila.queue_overview');
  }

  async queue(limit = 100): Promise<QueueEntry[]> {
    return this.rows<QueueEntry>('select * from fila.queue_head($1) order by position', [limit]);
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

  // History (tool pages, the dashboard's charts and job page, the CLI) ----------------------------

  /** fila.user_jobs: one user's jobs, newest first, never anyone else's. */
  async userJobs(userId: string, q: UserJobsQuery = {}): Promise<UserJobsPage> {
    return (await this.one<{ page: UserJobsPage }>('select fila.user_jobs($1, $2, $3, $4, $5) as page',
      [userId, q.tool ?? null, q.status ?? null, q.before ?? null, q.limit ?? 20])).page;
  }

  /** fila.activity_history: the last `hours` in buckets of `bucketSeconds`, oldest first. */
  async activityHistory(hours = 3, bucketSeconds = 60, asOf?: Date): Promise<ActivityBucket[]> {
    return asOf
      ? this.rows<ActivityBucket>('select * from fila.activity_history($1, $2, $3)', [hours, bucketSeconds, asOf])
      : this.rows<ActivityBucket>('select * from fila.activity_history($1, $2)', [hours, bucketSeconds]);
  }

  /** fila.job_detail: the job, its timeline, ledger lines and webhooks (operators). */
  async jobDetail(jobId: string): Promise<JobDetail> {
    return (await this.one<{ detail: JobDetail }>('select fila.job_detail($1) as detail', [jobId])).detail;
  }

  /** fila.jobs_by_prefix: the jobs whose id starts with these hex digits (at most `limit`). */
  async jobsByPrefix(prefix: string, limit = 10): Promise<Job[]> {
    return this.rows<Job>('select * from fila.jobs_by_prefix($1, $2)', [prefix, limit]);
  }

  // Operator dashboard and demo report ---------------------------------------------------

  /** The newest jobs, newest first (by FIFO ticket). */
  async recentJobs(limit = 30): Promise<RecentJob[]> {
    return this.rows<RecentJob>('select * from fila.recent_jobs order by queue_seq desc limit $1', [limit]);
  }

  async toolStats(): Promise<ToolStats[]> {
    return this.rows<ToolStats>('select * from fila.tool_stats order by tool');
  }

  /** Refunds since the start of today (server time zone): how many, how many credits, the newest few. */
  async refundsToday(latest = 8): Promise<RefundsToday> {
    return this.one<RefundsToday>(
      `with today as (select * from fila.credit_ledger where kind = 'refund' and created_at >= date_trunc('day', now()))
       select (select count(*) from today)::integer as count,
              (select coalesce(sum(amount), 0) from today)::integer as credits,
              coalesce((select json_agg(t order by t.id desc) from (select * from today order by id desc limit $1) t), '[]') as latest`,
      [latest]);
  }

  /** DBA only (a connection that owns fila.tools, e.g. a superuser): change a tool's deadlines. */
  async setToolDeadlines(tool: string, softSeconds: number, hardSeconds: number): Promise<void> {
    await this.rows(
      `update fila.tools set soft_deadline = make_interval(secs => $2), hard_deadline = make_interval(secs => $3)
        where tool = $1`, [tool, softSeconds, hardSeconds]);
  }

  // HTTP API -----------------------------------------------------------------------------

  /** Every watched job in one statement: status, position and eta while queued, the whole JSON
   *  once it is not queued (the event streams of an API process after a transition). */
  async watchedJobs(jobIds: readonly string[]): Promise<WatchedJob[]> {
    if (jobIds.length === 0) return [];
    return this.rows<WatchedJob>(
      'select id, status, position, eta, json from fila.watched_jobs($1::uuid[])', [jobIds]);
  }

  /** Presence for many queued jobs (each with its owner) in one statement. */
  async touchJobs(pairs: ReadonlyArray<{ jobId: string; userId: string }>): Promise<void> {
    if (pairs.length === 0) return;
    await this.rows('select fila.touch_jobs($1::uuid[], $2::uuid[])',
      [pairs.map((p) => p.jobId), pairs.map((p) => p.userId)]);
  }

  /** This API process hears presence (its event streams): at its start, then every `everyMs`. */
  async presenceBeat(instance: string, everyMs: number): Promise<void> {
    await this.rows('select fila.presence_beat($1::uuid, $2::integer)', [instance, everyMs]);
  }

  /** A user's balance and their newest ledger entries, read in one statement (one snapshot). */
  async userCredits(userId: string, limit = 20): Promise<UserCredits> {
    return this.one<UserCredits>(
      `select fila.credit_balance($1) as balance,
              coalesce((select json_agg(l order by l.id desc) from
                (select * from fila.credit_ledger where user_id = $1 order by id desc limit $2) l), '[]') as recent`,
      [userId, limit]);
  }

  /** The queue overview and its head, read in one statement (one snapshot). */
  async queueSnapshot(limit = 100): Promise<QueueSnapshot> {
    return this.one<QueueSnapshot>(
      `select (select row_to_json(o) from fila.queue_overview o) as overview,
              coalesce((select json_agg(q order by q.position) from
                (select * from fila.queue_head($1)) q), '[]') as jobs`,
      [limit]);
  }

  /** DBA only: provider slots, the starting deadline and presence_timeout (fila.settings). */
  async setSlotsAndTimeouts(maxSlots: number, startingSeconds: number, presenceSeconds: number): Promise<void> {
    await this.rows(
      `update fila.settings set max_slots = $1, starting_timeout = make_interval(secs => $2),
              presence_timeout = make_interval(secs => $3)`,
      [maxSlots, startingSeconds, presenceSeconds]);
    // the global cap and the one account's own slots, so that `default` alone can use them all
    await this.rows(`select fila.set_provider_account('default', $1)`, [maxSlots]);
  }

  /** DBA only: the dispatch back-off after provider-wide trouble (fila.settings). */
  async setBackoff(baseSeconds: number, maxSeconds: number): Promise<void> {
    await this.rows(
      `update fila.settings set backoff_base = make_interval(secs => $1), backoff_max = make_interval(secs => $2)`,
      [baseSeconds, maxSeconds]);
  }

  // Provider tasks (the worker) ------------------------------------------------------------------

  /** Note an orphaned provider task on the job's timeline and enqueue its cancel; false if already recorded. */
  async recordOrphanTask(jobId: string, taskId: string, reason: string): Promise<boolean> {
    return (await this.one<{ recorded: boolean }>('select fila.record_orphan_task($1, $2, $3) as recorded',
      [jobId, taskId, reason])).recorded;
  }

  async webhookTaskVerdict(jobId: string, taskId: string): Promise<WebhookTaskVerdict> {
    return (await this.one<{ v: WebhookTaskVerdict }>('select fila.webhook_task_verdict($1, $2) as v', [jobId, taskId])).v;
  }

  async reapplyPendingWebhooks(jobId: string): Promise<number> {
    return (await this.one<{ n: number }>('select fila.reapply_pending_webhooks($1) as n', [jobId])).n;
  }

  async noteUncertainCreate(jobId: string, reason: string): Promise<Job> {
    return this.one<Job>('select * from fila.note_uncertain_create($1, $2)', [jobId, reason]);
  }

  async uncertainStarts(): Promise<Array<{ job_id: string; provider_task_id: string; account: string | null }>> {
    return this.rows('select * from fila.uncertain_starts()');
  }

  async adoptProviderTask(jobId: string, taskId: string): Promise<Job> {
    return this.one<Job>('select * from fila.adopt_provider_task($1, $2)', [jobId, taskId]);
  }

  /** The poller's claim: per account at most maxPerAccount asks within any pollEverySeconds window, over all workers. */
  async claimOverduePollsByAccount(maxPerAccount: number, pollEverySeconds: number): Promise<Job[]> {
    return this.rows<Job>('select * from fila.claim_overdue_polls_by_account($1, make_interval(secs => $2))', [maxPerAccount, pollEverySeconds]);
  }

  async claimOverduePolls(maxJobs: number, pollEverySeconds: number): Promise<Job[]> {
    return this.rows<Job>('select * from fila.claim_overdue_polls($1, make_interval(secs => $2))', [maxJobs, pollEverySeconds]);
  }

  async recordProviderResult(jobId: string, cost: Record<string, string> | null, recoveredBy: 'poll' | 'reaper' | null): Promise<void> {
    await this.rows('select fila.record_provider_result($1, $2, $3)',
      [jobId, cost === null ? null : JSON.stringify(cost), recoveredBy]);
  }

  async disableTool(tool: string, reason: string): Promise<ToolAvailability> {
    return this.one<ToolAvailability>('select tool, enabled, disabled_reason, disabled_at from fila.disable_tool($1, $2)', [tool, reason]);
  }

  async enableTool(tool: string): Promise<ToolAvailability> {
    return this.one<ToolAvailability>('select tool, enabled, disabled_reason, disabled_at from fila.enable_tool($1)', [tool]);
  }

  async toolAvailability(): Promise<ToolAvailability[]> {
    return this.rows<ToolAvailability>('select tool, enabled, disabled_reason, disabled_at from fila.tool_availability order by tool');
  }

  async providerRecovery(): Promise<ProviderRecovery> {
    return this.one<ProviderRecovery>('select * from fila.provider_recovery');
  }

  async recordAccountStatus(account: string, s: { currentTaskCounts: number; remainCoins: string | null; remainMoney: string | null; apiType: string | null }): Promise<void> {
    await this.rows('select fila.record_account_status($1, $2, $3, $4, $5)',
      [account, s.currentTaskCounts, s.remainCoins, s.remainMoney, s.apiType]);
  }

  async providerAccountChecks(): Promise<ProviderAccountCheck[]> {
    return this.rows<ProviderAccountCheck>('select * from fila.provider_account_check order by account');
  }
}
