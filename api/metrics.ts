// Prometheus metrics (prom-client), one registry per app so several servers can share a process.
// Queue depth and slots are read from the database at scrape time; transitions (durations,
// refunds) are counted from the LISTEN stream, so every API process reports every job — scrape
// one, or aggregate with max(), not sum().
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Job, OutputCopyOverview, ProviderAccountCheck, ProviderAccountOverview, ProviderRecovery, QueueOverview, ToolAvailability } from '../db/fila.ts';

export class ApiMetrics {
  readonly registry = new Registry();

  readonly queueDepth = new Gauge({ name: 'fila_queue_depth', help: 'Jobs waiting in the queue', registers: [this.registry] });
  readonly slotsUsed = new Gauge({ name: 'fila_slots_used', help: 'Provider slots held (starting + running)', registers: [this.registry] });
  readonly slotsTotal = new Gauge({ name: 'fila_slots_total', help: 'Provider slots configured (settings.max_slots)', registers: [this.registry] });
  readonly dispatchPaused = new Gauge({ name: 'fila_dispatch_paused', help: '1 while dispatch is paused after provider-wide trouble', registers: [this.registry] });
  readonly oldestQueuedSeconds = new Gauge({ name: 'fila_oldest_queued_seconds', help: 'Age of the oldest queued job', registers: [this.registry] });

  readonly submits = new Counter({
    name: 'fila_submits_total', help: 'POST /v1/jobs by outcome (created, replayed, or the refusal code)',
    labelNames: ['tool', 'outcome'], registers: [this.registry],
  });
  readonly jobDuration = new Histogram({
    name: 'fila_job_duration_seconds', help: 'Submit to terminal state, by tool and outcome',
    labelNames: ['tool', 'outcome'], buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 2400],
    registers: [this.registry],
  });
  readonly slotDuration = new Histogram({
    name: 'fila_job_slot_seconds', help: 'Time a job held a provider slot (dispatch to terminal), by tool and outcome',
    labelNames: ['tool', 'outcome'], buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 2400],
    registers: [this.registry],
  });
  readonly refunds = new Counter({
    name: 'fila_refunds_total', help: 'Jobs refunded (failed or canceled), by tool and outcome',
    labelNames: ['tool', 'outcome'], registers: [this.registry],
  });
  readonly refundedCredits = new Counter({
    name: 'fila_refunded_credits_total', help: 'Credits given back by refunds', labelNames: ['tool'], registers: [this.registry],
  });
  readonly webhooks = new Counter({
    name: 'fila_webhooks_total', help: 'Provider webhooks by outcome (accepted, bad_token, unknown_job, invalid_body, error)',
    labelNames: ['outcome'], registers: [this.registry],
  });
  readonly httpRequests = new Counter({
    name: 'fila_http_requests_total', help: 'HTTP requests by method and status', labelNames: ['method', 'status'],
    registers: [this.registry],
  });
  readonly sseStreams = new Gauge({ name: 'fila_sse_streams', help: 'Open job event streams', registers: [this.registry] });
  readonly streamRefreshes = new Counter({
    name: 'fila_event_stream_refreshes_total',
    help: 'Statements that re-read every watched job for the event streams (one per transition burst or ETA tick, not per stream)',
    registers: [this.registry],
  });
  readonly streamsRefused = new Counter({
    name: 'fila_event_streams_refused_total', help: 'Event streams refused with 429, by which cap (user or process)',
    labelNames: ['per'], registers: [this.registry],
  });

  // Per provider account, read from fila.provider_account_overview at scrape time. The counters are
  // the database's own (they survive API restarts and agree across API processes).
  readonly accountSlotsTotal = new Gauge({ name: 'fila_account_slots_total', help: 'Slots a provider account may hold (its max_slots)', labelNames: ['account'], registers: [this.registry] });
  readonly accountSlotsUsed = new Gauge({ name: 'fila_account_slots_used', help: 'Slots a provider account holds (starting + running)', labelNames: ['account'], registers: [this.registry] });
  readonly accountEnabled = new Gauge({ name: 'fila_account_enabled', help: '1 while new jobs may start on the provider account', labelNames: ['account'], registers: [this.registry] });
  readonly accountPaused = new Gauge({ name: 'fila_account_paused', help: '1 while the provider account is paused after trouble (its back-off)', labelNames: ['account'], registers: [this.registry] });
  readonly accountBackoffStep = new Gauge({ name: 'fila_account_backoff_step', help: 'Consecutive pauses of the provider account (its back-off doubles with each)', labelNames: ['account'], registers: [this.registry] });
  readonly accountPauses = new Counter({ name: 'fila_account_pauses_total', help: 'Times the provider account was paused', labelNames: ['account'], registers: [this.registry] });
  readonly accountRefusals = new Counter({ name: 'fila_account_refusals_total', help: 'Jobs the provider account sent back to the queue (capacity, key, funds, unreachable)', labelNames: ['account'], registers: [this.registry] });

  readonly recovered = new Gauge({
    name: 'fila_provider_recovered_jobs', help: 'Jobs whose result came from asking RunningHub (webhook late or lost), by who asked (poll, reaper)',
    labelNames: ['by'], registers: [this.registry],
  });
  readonly lostSlotSeconds = new Gauge({
    name: 'fila_lost_webhook_slot_seconds', help: 'Slot seconds held after RunningHub had finished tasks whose webhook was late or lost (estimated from taskCostTime)',
    registers: [this.registry],
  });
  readonly orphanTasks = new Gauge({
    name: 'fila_orphan_provider_tasks', help: 'Provider tasks fila learned of and did not need, canceled at RunningHub', registers: [this.registry],
  });
  readonly toolDisabled = new Gauge({
    name: 'fila_tool_disabled', help: '1 while a tool refuses submits (e.g. RunningHub refused its workflow)', labelNames: ['tool'], registers: [this.registry],
  });
  readonly providerRunning = new Gauge({
    name: 'fila_provider_running_tasks', help: 'Tasks RunningHub says the account is running (/uc/openapi/accountStatus, last read)',
    labelNames: ['account'], registers: [this.registry],
  });
  readonly providerDisagrees = new Gauge({
    name: 'fila_provider_occupancy_disagrees', help: '1 when RunningHub\'s running count differs from the slots fila holds (a leaked task, or max_slots above the account\'s tier)',
    labelNames: ['account'], registers: [this.registry],
  });

  // Copies of completed jobs' outputs into fila's store (00017), from fila.output_copy_overview.
  readonly outputCopies = new Gauge({
    name: 'fila_output_copies', help: 'Copies of outputs by status (pending: being copied or waiting for a retry; copied; refused: not kept, never retried; failed: retries spent); users see the provider\'s URL for all but copied',
    labelNames: ['status'], registers: [this.registry],
  });
  readonly oldestPendingCopySeconds = new Gauge({
    name: 'fila_output_copy_oldest_pending_seconds', help: 'Age of the oldest pending copy of an output (since its job completed); 0 when none is pending',
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'fila_api_' });
  }

  setQueue(o: Pick<QueueOverview, 'queued' | 'slots_used' | 'slots_total'> & {
    dispatch_paused_until: unknown; oldest_queued_at: string | Date | null;
  }): void {
    this.queueDepth.set(o.queued);
    this.slotsUsed.set(o.slots_used);
    this.slotsTotal.set(o.slots_total);
    this.dispatchPaused.set(o.dispatch_paused_until ? 1 : 0);
    this.oldestQueuedSeconds.set(o.oldest_queued_at ? Math.max(0, (Date.now() - new Date(o.oldest_queued_at).getTime()) / 1000) : 0);
  }

  /** Every provider account as the database has it now (an account removed from the table disappears). */
  setAccounts(rows: readonly ProviderAccountOverview[]): void {
    const all = [this.accountSlotsTotal, this.accountSlotsUsed, this.accountEnabled, this.accountPaused,
      this.accountBackoffStep, this.accountPauses, this.accountRefusals];
    for (const m of all) m.reset();
    for (const a of rows) {
      const labels = { account: a.account };
      this.accountSlotsTotal.set(labels, a.slots_total);
      this.accountSlotsUsed.set(labels, a.slots_used);
      this.accountEnabled.set(labels, a.enabled ? 1 : 0);
      this.accountPaused.set(labels, a.paused_until ? 1 : 0);
      this.accountBackoffStep.set(labels, a.backoff_step);
      this.accountPauses.inc(labels, a.pauses);
      this.accountRefusals.inc(labels, a.refusals);
    }
  }

  /** What the provider side looks like: recoveries, orphans, disabled tools, the account's own count. */
  setProvider(r: ProviderRecovery, tools: readonly ToolAvailability[], accounts: readonly ProviderAccountCheck[]): void {
    this.recovered.set({ by: 'poll' }, r.recovered_by_poll);
    this.recovered.set({ by: 'reaper' }, r.recovered_by_reaper);
    this.lostSlotSeconds.set(r.lost_slot_seconds);
    this.orphanTasks.set(r.orphan_tasks);
    for (const t of tools) this.toolDisabled.set({ tool: t.tool }, t.enabled ? 0 : 1);
    for (const a of accounts) {
      this.providerRunning.set({ account: a.account }, a.provider_running);
      this.providerDisagrees.set({ account: a.account }, a.disagrees ? 1 : 0);
    }
  }

  /** The copies of outputs as the database has them now. */
  setOutputCopies(o: Omit<OutputCopyOverview, 'oldest_pending_at'> & { oldest_pending_at: string | Date | null }): void {
    for (const status of ['pending', 'copied', 'refused', 'failed'] as const) this.outputCopies.set({ status }, o[status] ?? 0);
    this.oldestPendingCopySeconds.set(o.oldest_pending_at ? Math.max(0, (Date.now() - new Date(o.oldest_pending_at).getTime()) / 1000) : 0);
  }

  /** A job reached a terminal state. */
  observeFinished(job: Pick<Job, 'tool' | 'status' | 'credit_cost' | 'created_at' | 'started_at' | 'finished_at'>): void {
    if (!job.finished_at) return;
    const labels = { tool: job.tool, outcome: job.status };
    const end = new Date(job.finished_at).getTime();
    this.jobDuration.observe(labels, (end - new Date(job.created_at).getTime()) / 1000);
    if (job.started_at) this.slotDuration.observe(labels, (end - new Date(job.started_at).getTime()) / 1000);
    if (job.status === 'failed' || job.status === 'canceled') {
      this.refunds.inc(labels);
      this.refundedCredits.inc({ tool: job.tool }, job.credit_cost);
    }
  }
}
