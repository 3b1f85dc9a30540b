// Typed access to fila's SQL surface: one method per public function or view, through Kysely, with
// the row types generated from the migrated schema (db/types.ts) and the JSON shapes the SQL
// produces taken from their zod schemas (common/api-json.ts). Methods are grouped by who calls
// them: the API, the worker, operators (dashboard, metrics, CLI). This is the only place in fila
// where SQL text lives outside db/migrations (and db/migrate.ts, dev/).
import {
  Kysely, PostgresDialect, sql, type PostgresPool, type PostgresPoolClient, type RawBuilder, type Selectable,
} from 'kysely';
import pg from 'pg';
import type { JobJson, JobOutput, QueueSnapshot, UserCredits, UserJobsPage } from '../common/api-json.ts';
import { translateError } from './errors.ts';
import type { DB, FunctionRows, JobStatus } from './types.ts';

export type { JobJson, JobOutput, JobOutputJson, QueueSnapshot, UserCredits, UserJobJson, UserJobsPage } from '../common/api-json.ts';
export type { JobStatus } from './types.ts';

export const terminalStatuses: readonly JobStatus[] = ['completed', 'failed', 'canceled'];

/** completed, failed or canceled: the job holds nothing and never changes again. */
export function isTerminalStatus(status: JobStatus): boolean {
  return terminalStatuses.includes(status);
}

/** Terminal, and no output's copy still pending (00017): what users see of the job changes no more
 *  (until a copy expires). Event streams end here, not at the terminal status. */
export function isSettled(job: Pick<JobJson, 'status' | 'outputs'>): boolean {
  return isTerminalStatus(job.status) && !(job.outputs ?? []).some((o) => o.copy_status === 'pending');
}

type Row<T extends keyof DB> = Selectable<DB[T]>;

/** A row of fila.jobs, as the functions return it. */
export type Job = Row<'jobs'>;
export type QueueOverview = Row<'queue_overview'>;
export type QueueEntry = Row<'queue'>;
export type ActiveJob = Row<'active_jobs'>;
export type StaleJob = Row<'stale_jobs'>;
export type LedgerEntry = Row<'credit_ledger'>;
export type AuditRow = Row<'credit_audit'>;
export type TimelineEntry = Row<'job_timeline'>;
export type ToolAvailability = Pick<Row<'tool_availability'>, 'tool' | 'enabled' | 'disabled_reason' | 'disabled_at'>;
export type ProviderAccountCheck = Row<'provider_account_check'>;
export type ProviderRecovery = Row<'provider_recovery'>;
export type RecentJob = Row<'recent_jobs'>;
export type ToolStats = Row<'tool_stats'>;
/** A row of fila.provider_account_overview. */
export type ProviderAccountOverview = Row<'provider_account_overview'>;
/** A row of fila.provider_accounts (what set_provider_account returns). */
export type ProviderAccount = Row<'provider_accounts'>;
export type StoredWebhook = Row<'webhook_inbox'>;
/** A row of fila.output_copies: one output of a completed job and its copy in fila's store. */
export type OutputCopy = Row<'output_copies'>;
export type OutputCopyOverview = Row<'output_copy_overview'>;

/** A row as json_agg / row_to_json print it: timestamps become ISO text. */
export type AsJson<T> = { [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | null ? string | null : T[K] };

/** What a webhook naming a task may do to a job (fila.webhook_task_verdict). */
export type WebhookTaskVerdict = 'own' | 'wait' | 'foreign' | 'orphan';

/** One row of fila.watched_jobs: json only once the job is not queued. */
export type WatchedJob = Omit<FunctionRows['watched_jobs'], 'json'> & { json: JobJson | null };

/** One bucket of the operator's history charts (fila.activity_history). */
export type ActivityBucket = FunctionRows['activity_history'];

/** A starting job whose create got no answer, and the task a waiting webhook names for it. */
export type UncertainStart = FunctionRows['uncertain_starts'];

/** Everything about one job (fila.job_detail; dates as ISO text: read as JSON). */
export interface JobDetail {
  job: JobJson;
  timeline: Array<AsJson<Pick<TimelineEntry, 'event_id' | 'at' | 'from_status' | 'to_status' | 'reason'>>>;
  ledger: Array<AsJson<Pick<LedgerEntry, 'id' | 'amount' | 'reason' | 'created_at'>> & { kind: 'debit' | 'refund' }>;
  webhooks: Array<AsJson<Omit<StoredWebhook, 'job_id'>>>;
}

/** Today's refunds (dates as ISO text: read as JSON). */
export interface RefundsToday { count: number; credits: number; latest: Array<AsJson<LedgerEntry>> }

export interface SubmitRequest {
  userId: string;
  tool: string;
  input: Record<string, unknown>;
  idempotencyKey?: string | null;
  presence?: boolean;
}

export interface UserJobsQuery { tool?: string | null; status?: JobStatus | null; before?: string | null; limit?: number }

/** Per-user limits on kept uploads (configuration). */
export interface UploadQuota { maxFiles: number; maxBytes: number }

/** A pool, or one connection (a test's own session, a transaction's client). */
export type Queryable = pg.Pool | pg.ClientBase;

type JobWithJson = Job & { json: JobJson };

function splitJson(row: JobWithJson): { job: Job; json: JobJson } {
  const { json, ...job } = row;
  return { job, json };
}

/** Kysely over a pg pool, or over one connection that every query then uses. */
function kyselyOver(db: Queryable): Kysely<DB> {
  // one connection: Kysely "acquires" it for each query and "releases" it by doing nothing
  const client = { query: db.query.bind(db), release: () => {} } as unknown as PostgresPoolClient;
  const pool: PostgresPool = db instanceof pg.Pool ? db : {
    connect: () => Promise.resolve(client),
    end: () => Promise.resolve(),
  };
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) }).withSchema('fila');
}

/** fila's SQL functions and views, typed. Refusals arrive as FilaError (db/errors.ts). */
export class FilaDb {
  private readonly k: Kysely<DB>;

  /** Over a pool or one connection; or (transaction) over a Kysely transaction. */
  constructor(db: Queryable | Kysely<DB>) {
    this.k = db instanceof Kysely ? db : kyselyOver(db);
  }

  /** Run `fn` in one transaction (one connection of the pool): what its FilaDb's calls write is
   *  seen, and notified, together at commit, or not at all. */
  async transaction<T>(fn: (tx: FilaDb) => Promise<T>): Promise<T> {
    return this.k.transaction().execute((trx) => fn(new FilaDb(trx)));
  }

  /** Run a query; a refusal's pg error becomes a FilaError, once, here. */
  private async run<T>(q: () => Promise<T>): Promise<T> {
    try {
      return await q();
    } catch (err) {
      throw translateError(err);
    }
  }

  private async rows<R>(q: RawBuilder<R>): Promise<R[]> {
    return this.run(async () => (await q.execute(this.k)).rows);
  }

  private async one<R>(q: RawBuilder<R>): Promise<R> {
    const [row] = await this.rows(q);
    if (!row) throw new Error(`expected one row from: ${q.compile(this.k).sql}`);
    return row;
  }

  // The API: submitting, following and canceling jobs; presence; credits; uploads; webhooks ------

  /** fila.submit_job: `created` is false for a retry with the same idempotency key. */
  async submitJob(req: SubmitRequest): Promise<{ job: Job; json: JobJson; created: boolean }> {
    const { created, ...job } = await this.one(sql<Job & { created: boolean }>`
      select j.*, fila.job_created_by_this_transaction(j.id) as created
        from fila.submit_job(${req.userId}, ${req.tool}, ${req.input}, ${req.idempotencyKey ?? null}, ${req.presence ?? false}) j`);
    // a second statement: job_json is stable, so inside the submitting statement its snapshot
    // cannot see the new row, and a queued job's position and eta came back null
    const { json } = await this.one(sql<{ json: JobJson }>`select fila.job_json(j) as json from fila.job(${job.id}) j`);
    return { job, json, created };
  }

  /** One job; userId given = only if it is theirs (FL004 otherwise). */
  async job(jobId: string, userId: string | null = null): Promise<{ job: Job; json: JobJson }> {
    return splitJson(await this.one(sql<JobWithJson>`
      select j.*, fila.job_json(j) as json from fila.job(${jobId}, ${userId}) j`));
  }

  async activeJob(userId: string): Promise<{ job: Job; json: JobJson } | null> {
    const [row] = await this.rows(sql<JobWithJson>`
      select j.*, fila.job_json(j) as json from fila.active_job(${userId}) j where j.id is not null`);
    return row ? splitJson(row) : null;
  }

  /** userId null = an operator's cancel. */
  async cancelJob(jobId: string, userId: string | null): Promise<{ job: Job; json: JobJson }> {
    return splitJson(await this.one(sql<JobWithJson>`
      select j.*, fila.job_json(j) as json from fila.cancel_job(${jobId}, ${userId}) j`));
  }

  async queuePosition(jobId: string): Promise<number | null> {
    return (await this.one(sql<{ p: number | null }>`select fila.queue_position(${jobId}) as p`)).p;
  }

  /** Every watched job in one statement: status, position and eta while queued, the whole JSON
   *  once it is not queued (the event streams of an API process after a transition). */
  async watchedJobs(jobIds: readonly string[]): Promise<WatchedJob[]> {
    if (jobIds.length === 0) return [];
    return this.rows(sql<WatchedJob>`
      select id, status, position, eta, json from fila.watched_jobs(${jobIds}::uuid[])`);
  }

  async touchJob(jobId: string, userId: string): Promise<void> {
    await this.rows(sql`select fila.touch_job(${jobId}, ${userId})`);
  }

  /** Presence for many queued jobs (each with its owner) in one statement. */
  async touchJobs(pairs: ReadonlyArray<{ jobId: string; userId: string }>): Promise<void> {
    if (pairs.length === 0) return;
    await this.rows(sql`select fila.touch_jobs(${pairs.map((p) => p.jobId)}::uuid[], ${pairs.map((p) => p.userId)}::uuid[])`);
  }

  /** fila.user_jobs: one user's jobs, newest first, never anyone else's. */
  async userJobs(userId: string, q: UserJobsQuery = {}): Promise<UserJobsPage> {
    return (await this.one(sql<{ page: UserJobsPage }>`
      select fila.user_jobs(${userId}, ${q.tool ?? null}, ${q.status ?? null}, ${q.before ?? null}, ${q.limit ?? 20}) as page`)).page;
  }

  /** This API process hears presence (its event streams): at its start, then every `everyMs`. */
  async presenceBeat(instance: string, everyMs: number): Promise<void> {
    await this.rows(sql`select fila.presence_beat(${instance}::uuid, ${everyMs}::integer)`);
  }

  /** A user's balance and their newest ledger entries, read in one statement (one snapshot). */
  async userCredits(userId: string, limit = 20): Promise<UserCredits> {
    return this.one(sql<UserCredits>`
      select fila.credit_balance(${userId}) as balance,
             coalesce((select json_agg(l order by l.id desc) from
               (select * from fila.credit_ledger where user_id = ${userId} order by id desc limit ${limit}) l), '[]') as recent`);
  }

  async creditBalance(userId: string): Promise<number> {
    return (await this.one(sql<{ balance: number }>`select fila.credit_balance(${userId}) as balance`)).balance;
  }

  /** An operator's grant (the API's only way to move credits): the ledger entry names the operator. */
  async grantCreditsByOperator(operatorId: string, userId: string, amount: number, reason: string, idempotencyKey?: string | null): Promise<number> {
    return (await this.one(sql<{ balance: number }>`
      select fila.grant_credits_by_operator(${operatorId}, ${userId}, ${amount}, ${reason}, ${idempotencyKey ?? null}) as balance`)).balance;
  }

  /** The queue overview and its head, read in one statement (one snapshot). */
  async queueSnapshot(limit = 100): Promise<QueueSnapshot> {
    return this.one(sql<QueueSnapshot>`
      select (select row_to_json(o) from fila.queue_overview o) as overview,
             coalesce((select json_agg(q order by q.position) from
               (select * from fila.queue_head(${limit})) q), '[]') as jobs`);
  }

  async receiveWebhook(jobId: string, provider: string, payload: unknown): Promise<number> {
    return (await this.one(sql<{ id: number }>`
      select fila.receive_webhook(${jobId}, ${provider}, ${JSON.stringify(payload)}) as id`)).id;
  }

  /** Refuses (FL002 no balance, FL011 over quota) before an upload's body is read. */
  async checkUploadQuota(userId: string, incomingBytes: number, quota: UploadQuota): Promise<void> {
    await this.rows(sql`select fila.check_upload_quota(${userId}, ${incomingBytes}, ${quota.maxFiles}, ${quota.maxBytes})`);
  }

  /** Counts a stored file against its user's quota, checked again under the user's lock. */
  async recordUpload(userId: string, name: string, size: number, quota: UploadQuota): Promise<void> {
    await this.rows(sql`select fila.record_upload(${userId}, ${name}, ${size}, ${quota.maxFiles}, ${quota.maxBytes})`);
  }

  /** Stored files past their retention, or past their finished job's grace. */
  async expiredUploads(retentionSeconds: number, graceSeconds: number, asOf?: Date): Promise<string[]> {
    return (await this.rows(sql<{ name: string }>`
      select u as name from fila.expired_uploads(make_interval(secs => ${retentionSeconds}),
        make_interval(secs => ${graceSeconds}), coalesce(${asOf ?? null}, now())) u`)).map((r) => r.name);
  }

  async uploadsDeleted(names: readonly string[]): Promise<number> {
    return (await this.one(sql<{ n: number }>`select fila.uploads_deleted(${names}) as n`)).n;
  }

  // The worker: starting jobs, applying results, the reaper, provider tasks and accounts --------

  async dispatch(): Promise<Job[]> {
    return this.rows(sql<Job>`select * from fila.dispatch()`);
  }

  async markRunning(jobId: string, providerTaskId: string): Promise<Job> {
    return this.one(sql<Job>`select * from fila.mark_running(${jobId}, ${providerTaskId})`);
  }

  async finishJob(jobId: string, status: 'completed' | 'failed', outputs: JobOutput[] | null, error: string | null): Promise<Job> {
    return this.one(sql<Job>`
      select * from fila.finish_job(${jobId}, ${status}, ${outputs === null ? null : JSON.stringify(outputs)}, ${error})`);
  }

  async requeueJob(jobId: string, reason: string): Promise<Job> {
    return this.one(sql<Job>`select * from fila.requeue_job(${jobId}, ${reason})`);
  }

  async reapStaleJobs(asOf?: Date): Promise<Job[]> {
    return this.rows(asOf
      ? sql<Job>`select * from fila.reap_stale_jobs(${asOf})`
      : sql<Job>`select * from fila.reap_stale_jobs()`);
  }

  /** The jobs past a deadline or abandoned (what the reaper looks at), nearest deadline first. */
  async staleJobs(): Promise<StaleJob[]> {
    return this.run(() => this.k.selectFrom('stale_jobs').selectAll()
      .orderBy('deadline_at', (o) => o.asc().nullsLast()).execute());
  }

  async webhook(inboxId: number): Promise<StoredWebhook | null> {
    const [row] = await this.rows(sql<StoredWebhook>`select w.* from fila.webhook(${inboxId}) w where w.id is not null`);
    return row ?? null;
  }

  async markWebhookProcessed(inboxId: number, outcome: string): Promise<void> {
    await this.rows(sql`select fila.mark_webhook_processed(${inboxId}, ${outcome})`);
  }

  /** Note an orphaned provider task on the job's timeline and enqueue its cancel; false if already recorded. */
  async recordOrphanTask(jobId: string, taskId: string, reason: string): Promise<boolean> {
    return (await this.one(sql<{ recorded: boolean }>`
      select fila.record_orphan_task(${jobId}, ${taskId}, ${reason}) as recorded`)).recorded;
  }

  async webhookTaskVerdict(jobId: string, taskId: string): Promise<WebhookTaskVerdict> {
    return (await this.one(sql<{ v: WebhookTaskVerdict }>`select fila.webhook_task_verdict(${jobId}, ${taskId}) as v`)).v;
  }

  async reapplyPendingWebhooks(jobId: string): Promise<number> {
    return (await this.one(sql<{ n: number }>`select fila.reapply_pending_webhooks(${jobId}) as n`)).n;
  }

  /** About to send the job's create: true while the job is still starting (from now on it holds
   *  its slot until the provider names the task or refuses it); false: send nothing. */
  async noteCreateSent(jobId: string): Promise<boolean> {
    return (await this.one(sql<{ sent: boolean | null }>`select fila.note_create_sent(${jobId}) as sent`)).sent === true;
  }

  /** The provider refused the job's create: no task exists, no slot is held for it. */
  async noteCreateAnswered(jobId: string): Promise<void> {
    await this.one(sql`select fila.note_create_answered(${jobId})`);
  }

  async noteUncertainCreate(jobId: string, reason: string): Promise<Job> {
    return this.one(sql<Job>`select * from fila.note_uncertain_create(${jobId}, ${reason})`);
  }

  async uncertainStarts(): Promise<UncertainStart[]> {
    return this.rows(sql<UncertainStart>`select * from fila.uncertain_starts()`);
  }

  async adoptProviderTask(jobId: string, taskId: string): Promise<Job> {
    return this.one(sql<Job>`select * from fila.adopt_provider_task(${jobId}, ${taskId})`);
  }

  /** The provider answered the cancel of a task of this job: the slot an ended job held for it is free. */
  async providerTaskEnded(jobId: string): Promise<Job> {
    return this.one(sql<Job>`select * from fila.provider_task_ended(${jobId})`);
  }

  // Copies of results
  /** One output's copy record, or null when the job has no such output. */
  async outputCopy(jobId: string, outputIndex: number): Promise<OutputCopy | null> {
    const [row] = await this.rows(sql<OutputCopy>`
      select c.* from fila.output_copy(${jobId}, ${outputIndex}) c where c.job_id is not null`);
    return row ?? null;
  }

  /** The copy is in the store; returns the record (a copy that landed earlier wins: compare upload_name). */
  async recordOutputCopy(jobId: string, outputIndex: number, file: { name: string; size: number; contentType: string; url: string }): Promise<OutputCopy> {
    return this.one(sql<OutputCopy>`
      select * from fila.record_output_copy(${jobId}, ${outputIndex}, ${file.name}, ${file.size}, ${file.contentType}, ${file.url})`);
  }

  /** A copy attempt failed: `pending` = will retry, `refused` = hostile (never retried), `failed` = retries spent. */
  async recordOutputCopyFailure(jobId: string, outputIndex: number, reason: string, status: 'pending' | 'refused' | 'failed'): Promise<OutputCopy | null> {
    const [row] = await this.rows(sql<OutputCopy>`
      select c.* from fila.record_output_copy_failure(${jobId}, ${outputIndex}, ${reason}, ${status}) c where c.job_id is not null`);
    return row ?? null;
  }

  /** Resolve the tickets handed out since the last status change, when at least `minUnresolved`; how many it resolved. */
  async resolveTickets(minUnresolved: number): Promise<number> {
    return Number((await this.one(sql<{ n: string }>`select fila.resolve_tickets(${minUnresolved}) as n`)).n);
  }

  /** The poller's claim: per account at most maxPerAccount asks within any pollEverySeconds window, over all workers. */
  async claimOverduePollsByAccount(maxPerAccount: number, pollEverySeconds: number): Promise<Job[]> {
    return this.rows(sql<Job>`select * from fila.claim_overdue_polls_by_account(${maxPerAccount}, make_interval(secs => ${pollEverySeconds}))`);
  }

  async claimOverduePolls(maxJobs: number, pollEverySeconds: number): Promise<Job[]> {
    return this.rows(sql<Job>`select * from fila.claim_overdue_polls(${maxJobs}, make_interval(secs => ${pollEverySeconds}))`);
  }

  async recordProviderResult(jobId: string, cost: Record<string, string> | null, recoveredBy: 'poll' | 'reaper' | null): Promise<void> {
    await this.rows(sql`
      select fila.record_provider_result(${jobId}, ${cost === null ? null : JSON.stringify(cost)}, ${recoveredBy})`);
  }

  /** The provider refused the tool's workflow: new submits of it are refused with `reason`. */
  async disableTool(tool: string, reason: string): Promise<ToolAvailability> {
    return this.one(sql<ToolAvailability>`
      select tool, enabled, disabled_reason, disabled_at from fila.disable_tool(${tool}, ${reason})`);
  }

  async recordAccountStatus(account: string, s: { currentTaskCounts: number; remainCoins: string | null; remainMoney: string | null; apiType: string | null }): Promise<void> {
    await this.rows(sql`
      select fila.record_account_status(${account}, ${s.currentTaskCounts}, ${s.remainCoins}, ${s.remainMoney}, ${s.apiType})`);
  }

  // Operators: the dashboard, metrics and the CLI ------------------------------------------------

  async queueOverview(): Promise<QueueOverview> {
    return this.run(() => this.k.selectFrom('queue_overview').selectAll().executeTakeFirstOrThrow());
  }

  async queue(limit = 100): Promise<QueueEntry[]> {
    return this.rows(sql<QueueEntry>`select * from fila.queue_head(${limit}) order by position`);
  }

  async activeJobs(): Promise<ActiveJob[]> {
    return this.run(() => this.k.selectFrom('active_jobs').selectAll().orderBy('created_at').execute());
  }

  /** The newest jobs, newest first (by FIFO ticket). */
  async recentJobs(limit = 30): Promise<RecentJob[]> {
    return this.run(() => this.k.selectFrom('recent_jobs').selectAll().orderBy('queue_seq', 'desc').limit(limit).execute());
  }

  async toolStats(): Promise<ToolStats[]> {
    return this.run(() => this.k.selectFrom('tool_stats').selectAll().orderBy('tool').execute());
  }

  async toolAvailability(): Promise<ToolAvailability[]> {
    return this.run(() => this.k.selectFrom('tool_availability')
      .select(['tool', 'enabled', 'disabled_reason', 'disabled_at']).orderBy('tool').execute());
  }

  async enableTool(tool: string): Promise<ToolAvailability> {
    return this.one(sql<ToolAvailability>`select tool, enabled, disabled_reason, disabled_at from fila.enable_tool(${tool})`);
  }

  async creditLedger(userId: string, limit = 20): Promise<LedgerEntry[]> {
    return this.run(() => this.k.selectFrom('credit_ledger').selectAll().where('user_id', '=', userId)
      .orderBy('id', 'desc').limit(limit).execute());
  }

  async creditAudit(): Promise<AuditRow[]> {
    return this.run(() => this.k.selectFrom('credit_audit').selectAll().execute());
  }

  /** Refunds since the start of today (server time zone): how many, how many credits, the newest few. */
  async refundsToday(latest = 8): Promise<RefundsToday> {
    return this.one(sql<RefundsToday>`
      with today as (select * from fila.credit_ledger where kind = 'refund' and created_at >= date_trunc('day', now()))
      select (select count(*) from today)::integer as count,
             (select coalesce(sum(amount), 0) from today)::integer as credits,
             coalesce((select json_agg(t order by t.id desc) from (select * from today order by id desc limit ${latest}) t), '[]') as latest`);
  }

  /** A CLI or DBA grant (no operator named); the same key twice grants once. */
  async grantCredits(userId: string, amount: number, reason: string, idempotencyKey?: string | null): Promise<number> {
    return (await this.one(sql<{ balance: number }>`
      select fila.grant_credits(${userId}, ${amount}, ${reason}, ${idempotencyKey ?? null}) as balance`)).balance;
  }

  async jobTimeline(jobId: string): Promise<TimelineEntry[]> {
    return this.run(() => this.k.selectFrom('job_timeline').selectAll().where('job_id', '=', jobId)
      .orderBy('event_id').execute());
  }

  /** fila.job_detail: the job, its timeline, ledger lines and webhooks (operators). */
  async jobDetail(jobId: string): Promise<JobDetail> {
    return (await this.one(sql<{ detail: JobDetail }>`select fila.job_detail(${jobId}) as detail`)).detail;
  }

  /** fila.jobs_by_prefix: the jobs whose id starts with these hex digits (at most `limit`). */
  async jobsByPrefix(prefix: string, limit = 10): Promise<Job[]> {
    return this.rows(sql<Job>`select * from fila.jobs_by_prefix(${prefix}, ${limit})`);
  }

  /** fila.activity_history: the last `hours` in buckets of `bucketSeconds`, oldest first. */
  async activityHistory(hours = 3, bucketSeconds = 60, asOf?: Date): Promise<ActivityBucket[]> {
    return this.rows(asOf
      ? sql<ActivityBucket>`select * from fila.activity_history(${hours}, ${bucketSeconds}, ${asOf})`
      : sql<ActivityBucket>`select * from fila.activity_history(${hours}, ${bucketSeconds})`);
  }

  /** Every provider account with its slots, use, pause and counters, by name. */
  async providerAccounts(): Promise<ProviderAccountOverview[]> {
    return this.run(() => this.k.selectFrom('provider_account_overview').selectAll().orderBy('account').execute());
  }

  /** Insert or change a provider account (fila.set_provider_account). */
  async setProviderAccount(account: string, maxSlots: number, enabled = true): Promise<ProviderAccount> {
    return this.one(sql<ProviderAccount>`select * from fila.set_provider_account(${account}, ${maxSlots}, ${enabled})`);
  }

  /** Copies of outputs by status, and when the oldest pending one was recorded (fila.output_copy_overview). */
  async outputCopyOverview(): Promise<OutputCopyOverview> {
    return this.run(() => this.k.selectFrom('output_copy_overview').selectAll().executeTakeFirstOrThrow());
  }

  async providerRecovery(): Promise<ProviderRecovery> {
    return this.run(() => this.k.selectFrom('provider_recovery').selectAll().executeTakeFirstOrThrow());
  }

  async providerAccountChecks(): Promise<ProviderAccountCheck[]> {
    return this.run(() => this.k.selectFrom('provider_account_check').selectAll().orderBy('account').execute());
  }
}
