// The chaos run's independent checker. It trusts none of fila's code, views or counters: it reads
// the tables (jobs, job_events, the credit ledger, balances, settings, tools), the users' own clock
// readings and the fake provider's own record of its tasks, and recomputes every rule from them.
// Its SQL is its own on purpose — reusing fila's data layer would check fila with fila.
// (It reads fila.credit_audit once, only to report whether the view agrees with its own audit.)
import pg from 'pg';
import type { ChaosRecord, ProviderTaskRecord, SubmitRecord } from './record.ts';
import { showsFakeFailure } from '../../dev/fake-runninghub/server.ts';

export interface CheckRow {
  rule: string;
  /** instances of the rule broken (0 = held) */
  breaks: number;
  /** figures behind the verdict, and the first few breaks */
  detail: string;
}

export interface CheckResult {
  rows: CheckRow[];
  ok: boolean;
  counts: Record<string, number>;
  /** the ETAs pages were shown against the wait that followed (until the job left the queue for
   *  good, from job_events), in seconds and percent; null without samples. A figure, not a rule. */
  eta: EtaError | null;
}

export interface EtaError { samples: number; jobs: number; medianS: number; p90S: number; medianPct: number; p90Pct: number }

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

type Status = 'queued' | 'starting' | 'running' | 'completed' | 'failed' | 'canceled';
const active = new Set<Status>(['queued', 'starting', 'running']);
const holding = new Set<Status>(['starting', 'running']);
const terminal = new Set<Status>(['completed', 'failed', 'canceled']);

interface JobRow {
  id: string; user_id: string; tool: string; status: Status; credit_cost: number;
  provider_task_id: string | null; outputs: Array<{ url?: string }> | null; error: string | null;
}
interface EventRow { id: number; job_id: string; from_status: Status | null; to_status: Status; reason: string; at_ms: number }
interface EntryRow { user_id: string; job_id: string | null; kind: 'grant' | 'debit' | 'refund'; amount: number }
interface CopyRow { job_id: string; output_index: number; provider_url: string; status: 'pending' | 'copied' | 'refused' | 'failed'; last_error: string | null; stored: boolean }

const examples = (list: string[], n = 3): string => (list.length ? `: ${list.slice(0, n).join('; ')}${list.length > n ? ` (+${list.length - n} more)` : ''}` : '');

/** Samples, while the run goes on, what a final look cannot see: momentary occupancy and doubles. */
export class ChaosSampler {
  private readonly pool: pg.Pool;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  samples = 0;
  failedSamples = 0;
  lastError: string | null = null;
  maxOccupancy = 0;
  maxProviderActive = 0;
  maxSlots = 0;
  overOccupancy = 0;
  overProvider = 0;
  doubledUsers = 0;

  constructor(databaseUrl: string, private readonly providerActive: () => number, private readonly periodMs = 250) {
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    // an idle connection dropped by a PostgreSQL restart: the next sample reports it
    this.pool.on('error', (err) => { this.lastError = err.message; });
  }

  start(): void {
    this.timer = setInterval(() => { void this.sample(); }, this.periodMs);
  }

  async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const { rows } = await this.pool.query<{ occupancy: number; max_slots: number; doubled: number }>(
        `select (select count(*) from fila.jobs where status in ('starting', 'running'))::int as occupancy,
                (select max_slots from fila.settings)::int as max_slots,
                (select count(*) from (select user_id from fila.jobs where status in ('queued', 'starting', 'running')
                                       group by user_id having count(*) > 1) d)::int as doubled`);
      const r = rows[0]!;
      const provider = this.providerActive();
      this.samples++;
      this.maxSlots = r.max_slots;
      this.maxOccupancy = Math.max(this.maxOccupancy, r.occupancy);
      this.maxProviderActive = Math.max(this.maxProviderActive, provider);
      if (r.occupancy > r.max_slots) this.overOccupancy++;
      if (provider > r.max_slots) this.overProvider++;
      this.doubledUsers += r.doubled;
    } catch (err) {
      // PostgreSQL restarting: counted and shown, the next sample tries again
      this.failedSamples++;
      this.lastError = err instanceof Error ? err.message : String(err);
    } finally {
      this.busy = false;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.pool.end();
  }
}

export interface CheckOptions {
  sampler?: Pick<ChaosSampler, 'samples' | 'failedSamples' | 'maxOccupancy' | 'maxProviderActive' | 'overOccupancy' | 'overProvider' | 'doubledUsers'>;
  /** extra time allowed after a deadline besides one reaper period (a loaded machine) */
  slackMs?: number;
  /** "now" for jobs still active (default Date.now()) */
  now?: number;
}

export async function checkRun(databaseUrl: string, record: ChaosRecord, opts: CheckOptions = {}): Promise<CheckResult> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  let jobs: JobRow[]; let events: EventRow[]; let entries: EntryRow[];
  let balances: Map<string, number>; let auditView: number;
  let settings: { max_slots: number; starting_ms: number; presence_ms: number };
  let hardMs: Map<string, number>;
  let accountSlots: Map<string, number>;
  let copies: CopyRow[];
  try {
    // one snapshot for everything
    await client.query('begin isolation level repeatable read read only');
    jobs = (await client.query<JobRow>(
      `select id, user_id, tool, status, credit_cost, provider_task_id, outputs, error from fila.jobs`)).rows;
    events = (await client.query<EventRow>(
      `select id::float8 as id, job_id, from_status, to_status, reason, (extract(epoch from at) * 1000)::float8 as at_ms
         from fila.job_events order by id`)).rows;
    entries = (await client.query<EntryRow>(`select user_id, job_id, kind, amount from fila.credit_entries`)).rows;
    balances = new Map((await client.query<{ user_id: string; balance: number }>(`select user_id, balance from fila.balances`))
      .rows.map((r) => [r.user_id, r.balance]));
    auditView = (await client.query<{ n: number }>(`select count(*)::int as n from fila.credit_audit`)).rows[0]!.n;
    settings = (await client.query<{ max_slots: number; starting_ms: number; presence_ms: number }>(
      `select max_slots, (extract(epoch from starting_timeout) * 1000)::float8 as starting_ms,
              (extract(epoch from presence_timeout) * 1000)::float8 as presence_ms from fila.settings`)).rows[0]!;
    hardMs = new Map((await client.query<{ tool: string; hard_ms: number }>(
      `select tool, (extract(epoch from hard_deadline) * 1000)::float8 as hard_ms from fila.tools`)).rows.map((r) => [r.tool, r.hard_ms]));
    accountSlots = new Map((await client.query<{ account: string; max_slots: number }>(
      `select account, max_slots from fila.provider_accounts`)).rows.map((r) => [r.account, r.max_slots]));
    copies = (await client.query<CopyRow>(
      `select c.job_id, c.output_index, c.provider_url, c.status, c.last_error, (u.name is not null) as stored
         from fila.output_copies c left join fila.uploads u on u.name = c.upload_name and u.output_of = c.job_id`)).rows;
    await client.query('commit');
  } finally {
    await client.end();
  }
  return judge({ jobs, events, entries, balances, auditView, settings, hardMs, accountSlots, copies }, record, opts);
}

interface Facts {
  jobs: JobRow[];
  events: EventRow[];
  entries: EntryRow[];
  balances: Map<string, number>;
  auditView: number;
  settings: { max_slots: number; starting_ms: number; presence_ms: number };
  hardMs: Map<string, number>;
  /** each provider account's own max_slots */
  accountSlots: Map<string, number>;
  /** fila.output_copies, with whether the copy's file is recorded as the job's */
  copies: CopyRow[];
}

function judge(f: Facts, record: ChaosRecord, opts: CheckOptions): CheckResult {
  const rows: CheckRow[] = [];
  const add = (rule: string, broken: string[], detail: string, count = broken.length) =>
    rows.push({ rule, breaks: count, detail: `${detail}${examples(broken)}` });
  const jobById = new Map(f.jobs.map((j) => [j.id, j]));
  const eventsByJob = new Map<string, EventRow[]>();
  for (const e of f.events) {
    const list = eventsByJob.get(e.job_id);
    if (list) list.push(e); else eventsByJob.set(e.job_id, [e]);
  }
  const maxSlots = f.settings.max_slots;
  const now = opts.now ?? Date.now();
  const counts: Record<string, number> = { jobs: f.jobs.length, queued: 0, starting: 0, running: 0, completed: 0, failed: 0, canceled: 0 };
  for (const j of f.jobs) counts[j.status] = (counts[j.status] ?? 0) + 1;

  // Replay every transition in commit order (each one is made under fila's dispatch lock, so the
  // event ids are in commit order): slot holders and active jobs per user at every step.
  const status = new Map<string, Status>();
  const holders = new Set<string>();
  const activePerUser = new Map<string, number>();
  const userOf = (jobId: string) => jobById.get(jobId)?.user_id ?? `?${jobId}`;
  let maxReplayed = 0;
  const overSlots: string[] = [];
  const doubles: string[] = [];
  const torn: string[] = [];
  for (const e of f.events) {
    const before = status.get(e.job_id) ?? null;
    if (before !== e.from_status) torn.push(`job ${e.job_id}: event ${e.id} from ${e.from_status} but it was ${before}`);
    status.set(e.job_id, e.to_status);
    if (holding.has(e.to_status)) holders.add(e.job_id); else holders.delete(e.job_id);
    if (holders.size > maxSlots) overSlots.push(`${holders.size} holders after event ${e.id}`);
    maxReplayed = Math.max(maxReplayed, holders.size);
    const u = userOf(e.job_id);
    const wasActive = before !== null && active.has(before);
    const isActive = active.has(e.to_status);
    if (wasActive !== isActive) {
      const n = (activePerUser.get(u) ?? 0) + (isActive ? 1 : -1);
      activePerUser.set(u, n);
      if (n > 1) doubles.push(`user ${u} had ${n} active jobs after event ${e.id}`);
    }
  }
  for (const j of f.jobs) if (status.get(j.id) !== j.status) torn.push(`job ${j.id} is ${j.status} but its events end at ${status.get(j.id) ?? 'nothing'}`);
  add('job_events is one unbroken history per job', torn, `${f.events.length} events of ${f.jobs.length} jobs`);
  const s = opts.sampler;
  add(`occupancy (starting + running) never above max_slots (${maxSlots})`,
    [...overSlots, ...(s && s.overOccupancy ? [`${s.overOccupancy} samples above`] : [])],
    `highest ${maxReplayed} replayed from ${f.events.length} events` + (s ? `, ${s.maxOccupancy} in ${s.samples} samples` : ''));

  const provider = record.provider;
  add(`tasks active at the provider never above max_slots (${maxSlots})`,
    [...(provider.peakActive > maxSlots ? [`the fake counted ${provider.peakActive} at a create`] : []),
      ...(s && s.overProvider ? [`${s.overProvider} samples above`] : [])],
    `highest ${provider.peakActive} counted by the fake at each create` + (s ? `, ${s.maxProviderActive} sampled` : ''));
  if (provider.peakActiveByAccount) {
    const perAccount = Object.entries(provider.peakActiveByAccount);
    add('tasks active at the provider on each account never above its max_slots',
      perAccount.filter(([a, n]) => n > (f.accountSlots.get(a) ?? 0)).map(([a, n]) => `account ${a}: the fake counted ${n} for its key, slots ${f.accountSlots.get(a) ?? 'none'}`),
      perAccount.map(([a, n]) => `${a}: highest ${n} of ${f.accountSlots.get(a) ?? '?'}`).join(', ') || 'no task created');
  }

  // FIFO (happens-before): a job B may not leave the queue for a slot while a job A is waiting whose
  // submit was answered before B's submit began. Jobs whose submits overlapped may go either way.
  const submitOf = new Map<string, SubmitRecord>();
  for (const r of record.submits) if (r.jobId) submitOf.set(r.jobId, r);
  const queued = new Map<string, number>(); // job -> answeredAt (Infinity when unknown)
  const inversions: string[] = [];
  let dispatches = 0;
  for (const e of f.events) {
    if (e.to_status === 'queued') queued.set(e.job_id, submitOf.get(e.job_id)?.answeredAt ?? Number.POSITIVE_INFINITY);
    else if (e.from_status === 'queued') {
      queued.delete(e.job_id);
      if (e.to_status !== 'starting') continue;
      dispatches++;
      const began = submitOf.get(e.job_id)?.beganAt;
      if (began === undefined) continue;
      for (const [waiting, answered] of queued) {
        if (answered < began) {
          inversions.push(`${e.job_id} dispatched (event ${e.id}) while ${waiting} waited, answered ${began - answered} ms before it was submitted`);
          break;
        }
      }
    }
  }
  add('FIFO: no job dispatched while an earlier-answered job waited', inversions,
    `${dispatches} dispatches checked against ${submitOf.size} client-timed submits`);

  add('never two active jobs for one user', [...doubles, ...(s && s.doubledUsers ? [`${s.doubledUsers} doubled users in samples`] : [])],
    `replayed per user over every event${s ? ` and ${s.samples} samples` : ''}`);

  // Credits, from the ledger itself.
  const sums = new Map<string, number>();
  const debits = new Map<string, EntryRow[]>();
  const refunds = new Map<string, EntryRow[]>();
  for (const e of f.entries) {
    sums.set(e.user_id, (sums.get(e.user_id) ?? 0) + e.amount);
    if (e.kind === 'debit' && e.job_id) debits.set(e.job_id, [...(debits.get(e.job_id) ?? []), e]);
    if (e.kind === 'refund' && e.job_id) refunds.set(e.job_id, [...(refunds.get(e.job_id) ?? []), e]);
  }
  const audit: string[] = [];
  for (const u of new Set([...sums.keys(), ...f.balances.keys()])) {
    const b = f.balances.get(u) ?? 0;
    const l = sums.get(u) ?? 0;
    if (b !== l) audit.push(`user ${u}: balance ${b}, ledger ${l}`);
    if (b < 0) audit.push(`user ${u}: negative balance ${b}`);
  }
  if (f.auditView !== 0) audit.push(`fila.credit_audit lists ${f.auditView} users`);
  add('credit_audit empty (every balance = its ledger)', audit,
    `${f.balances.size} balances recomputed from ${f.entries.length} ledger entries; the view lists ${f.auditView}`);

  const refundBreaks: string[] = [];
  let refundCount = 0;
  for (const j of f.jobs) {
    const d = debits.get(j.id) ?? [];
    if (d.length !== 1 || d[0]!.amount !== -j.credit_cost) refundBreaks.push(`job ${j.id}: ${d.length} debits (${d.map((x) => x.amount).join(', ')}) for price ${j.credit_cost}`);
    const r = refunds.get(j.id) ?? [];
    refundCount += r.length;
    const owed = j.status === 'failed' || j.status === 'canceled';
    if (owed && (r.length !== 1 || r[0]!.amount !== j.credit_cost)) refundBreaks.push(`${j.status} job ${j.id}: ${r.length} refunds`);
    if (!owed && r.length > 0) refundBreaks.push(`${j.status} job ${j.id}: refunded ${r.length}×`);
  }
  add('one debit per job; exactly one full refund per failed/canceled job, none for completed', refundBreaks,
    `${refundCount} refunds for ${(counts.failed ?? 0) + (counts.canceled ?? 0)} failed/canceled jobs`);

  let debited = 0; let refunded = 0; let completedPrice = 0;
  for (const e of f.entries) {
    if (e.kind === 'debit') debited -= e.amount;
    if (e.kind === 'refund') refunded += e.amount;
  }
  for (const j of f.jobs) if (j.status === 'completed') completedPrice += j.credit_cost;
  const settled = f.jobs.every((j) => terminal.has(j.status));
  add('sum(debits) − refunds = price of the completed jobs',
    settled && debited - refunded !== completedPrice ? [`${debited} − ${refunded} = ${debited - refunded} ≠ ${completedPrice}`] : [],
    `${debited} debited − ${refunded} refunded = ${debited - refunded}; completed jobs cost ${completedPrice}${settled ? '' : ' (not comparable: jobs still active)'}`);

  // Nothing lost, nothing hangs.
  const unfinished: string[] = [];
  let accepted = 0;
  for (const r of record.submits) {
    if (!r.jobId) continue;
    accepted++;
    const j = jobById.get(r.jobId);
    if (!j) unfinished.push(`submit answered with job ${r.jobId}, which is not in fila.jobs`);
    else if (!terminal.has(j.status)) unfinished.push(`job ${j.id} still ${j.status}`);
  }
  for (const j of f.jobs) if (!submitOf.has(j.id) && !terminal.has(j.status)) unfinished.push(`job ${j.id} (never answered) still ${j.status}`);
  add('every accepted submit reached a terminal state', unfinished, `${accepted} accepted submits, ${f.jobs.length} jobs in the database`);

  // one reaper period as it really was: on a loaded machine a pass can come later than planned
  const passes = record.reaperPasses ?? [];
  let period = record.reaperPeriodMs;
  for (let i = 1; i < passes.length; i++) period = Math.max(period, passes[i]! - passes[i - 1]!);
  const allowance = period + (opts.slackMs ?? 3000);
  const pgDown = record.outages.filter((o) => o.kind === 'postgres');
  const downDuring = (from: number, to: number) =>
    pgDown.reduce((sum, o) => sum + Math.max(0, Math.min(to, o.to) - Math.max(from, o.from)), 0);
  const late: string[] = [];
  for (const [jobId, list] of eventsByJob) {
    const j = jobById.get(jobId);
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      if (!holding.has(e.to_status)) continue;
      const limit = e.to_status === 'starting' ? f.settings.starting_ms : (f.hardMs.get(j?.tool ?? '') ?? 0);
      const left = list[i + 1]?.at_ms ?? now;
      const overdue = left - (e.at_ms + limit) - downDuring(e.at_ms, left);
      if (overdue > allowance) late.push(`job ${jobId} stayed ${e.to_status} ${Math.round(overdue / 1000)} s past its deadline`);
    }
  }
  add('none active past its deadline + one reaper period', late,
    `deadlines: starting ${f.settings.starting_ms / 1000} s, hard ${[...new Set(f.hardMs.values())].map((v) => `${v / 1000} s`).join('/')}; allowance ${(allowance / 1000).toFixed(1)} s (the longest gap between reaper passes, ${(period / 1000).toFixed(1)} s, + ${(opts.slackMs ?? 3000) / 1000} s) + PostgreSQL downtime`);

  // where a break happened relative to the faults (what a reader needs to tell causes apart)
  const around = (t: number): string => {
    const near = record.outages.filter((o) => t >= o.from - 2000 && t <= o.to + 2000)
      .map((o) => `${o.kind} ${o.kind === 'worker' ? 'kill' : 'outage'} ${((t - o.from) / 1000).toFixed(1)} s after it began`);
    return near.length ? ` [${near.join(', ')}]` : '';
  };

  // The provider's own record against fila's.
  const tasksByJob = new Map<string, ProviderTaskRecord[]>();
  for (const t of provider.tasks) if (t.jobId) tasksByJob.set(t.jobId, [...(tasksByJob.get(t.jobId) ?? []), t]);
  const leftRunning: string[] = [];
  for (const t of provider.tasks) {
    if (t.status !== 'QUEUED' && t.status !== 'RUNNING') continue;
    const j = t.jobId ? jobById.get(t.jobId) : undefined;
    if (!j) leftRunning.push(`task ${t.taskId} (${t.script}) runs for no known job`);
    else if (terminal.has(j.status)) leftRunning.push(`task ${t.taskId} (${t.script}, created${around(t.createdAt)}) still ${t.status} for ${j.status} job ${j.id}${j.provider_task_id === t.taskId ? '' : ' that never learned its id'}`);
  }
  add('no provider task left running for a terminal job', leftRunning, `${provider.tasks.length} tasks in the fake's record`);

  // The documented exception: a worker killed (or PostgreSQL gone) mid-start leaves the job to its
  // starting deadline, failed and refunded — fila cannot know whether the create reached the provider.
  const startFaults = (j: JobRow): Set<string> | null => {
    const last = eventsByJob.get(j.id)?.at(-1);
    if (!last || last.from_status !== 'starting' || !(last.reason ?? '').startsWith('reaper:')) return null;
    const began = last.at_ms - f.settings.starting_ms;
    return new Set(record.outages.filter((o) => began <= o.to + 1000 && last.at_ms >= o.from).map((o) => o.kind));
  };
  const killedDuringStart = (j: JobRow): boolean => {
    const kinds = startFaults(j);
    return kinds !== null && (kinds.has('worker') || kinds.has('postgres'));
  };

  const outputOf = (j: JobRow, t: ProviderTaskRecord) => (j.outputs ?? []).some((o) => typeof o.url === 'string' && o.url.includes(`/files/${t.taskId}/`));
  const lost: string[] = [];
  let lostFinished = 0; let unknowable = 0;
  for (const t of provider.tasks) {
    if (t.script !== 'lose-webhook' || t.canceled || (t.status !== 'SUCCESS' && t.status !== 'FAILED')) continue;
    lostFinished++;
    const j = t.jobId ? jobById.get(t.jobId) : undefined;
    if (!j) { lost.push(`task ${t.taskId}: no job`); continue; }
    if (j.status === 'canceled') continue; // the user canceled it while it ran: nothing to recover
    // the worker died mid-create and the webhook, the only message naming the task, was lost: fila
    // never knew the task id, and the job ended failed and refunded at its starting deadline
    if (j.provider_task_id !== t.taskId && j.status === 'failed' && killedDuringStart(j)) { unknowable++; continue; }
    const ok = t.status === 'SUCCESS' ? j.status === 'completed' && outputOf(j, t) : j.status === 'failed';
    if (!ok) lost.push(`job ${j.id} ended ${j.status}${j.error ? ` (${j.error.slice(0, 60)}…)` : ''} but its task ${t.taskId} ${t.status} (created${around(t.createdAt)})${j.provider_task_id === t.taskId ? '' : '; the job never learned its task id'}`);
  }
  add('every lost webhook whose task finished was recovered with the provider\'s result', lost,
    `${lostFinished} lost webhooks of finished tasks` +
    (unknowable ? `; ${unknowable} of them for a task whose create a killed worker never heard answered (the job failed and refunded at its starting deadline, as documented)` : ''));

  // Every ending is explained by the provider's record or by a deadline; the provider's outage, the
  // restarts and the kills are nobody's failure (a starting deadline after a killed worker is the
  // documented exception: fila cannot know whether the create reached the provider).
  const wrong: string[] = [];
  let startingDeadline = 0; let hangsReaped = 0; let providerFailures = 0;
  const startingCauses = new Map<string, number>();
  for (const j of f.jobs) {
    if (j.status !== 'completed' && j.status !== 'failed') continue;
    const tasks = tasksByJob.get(j.id) ?? [];
    if (j.status === 'completed') {
      const t = tasks.find((x) => x.status === 'SUCCESS' && !x.canceled && outputOf(j, x));
      if (!t) wrong.push(`job ${j.id} completed without a successful task of its own at the provider`);
      continue;
    }
    const failedTask = tasks.find((x) => x.status === 'FAILED' && !x.canceled && showsFakeFailure(j.error, x.failMessage));
    const lastEvent = eventsByJob.get(j.id)?.at(-1);
    const fromState = lastEvent?.from_status;
    const deadline = (lastEvent?.reason ?? '').startsWith('reaper:');
    if (failedTask) providerFailures++;
    else if (deadline && fromState === 'starting') {
      // the documented exception (above); without such a fault during its start, it is a break
      const kinds = startFaults(j) ?? new Set<string>();
      const key = kinds.size ? [...kinds].sort().join('+') : 'no fault';
      startingCauses.set(key, (startingCauses.get(key) ?? 0) + 1);
      if (kinds.has('worker') || kinds.has('postgres')) startingDeadline++;
      else {
        wrong.push(`job ${j.id} failed at its starting deadline with ${kinds.size ? `only ${key} trouble` : 'no fault'} during its start` +
          ` (its tasks at the provider: ${tasks.map((x) => `${x.script} ${x.status}`).join(', ') || 'none'})`);
      }
    }
    else if (deadline && fromState === 'running' && tasks.some((x) => x.script === 'hang')) hangsReaped++;
    else wrong.push(`job ${j.id} failed (${(j.error ?? '').slice(0, 100)}) with its tasks ${tasks.map((x) => `${x.script}/${x.status}`).join(',') || 'none'}`);
  }
  add('every failure is the provider\'s verdict or a deadline a kill explains (none for the provider\'s outage)', wrong,
    `${providerFailures} failures with the provider's own message, ${hangsReaped} hung tasks reaped at the hard deadline, ${startingDeadline} ended by the starting deadline after a worker kill or PostgreSQL restart` +
    (startingCauses.size ? ` (faults during their start: ${[...startingCauses].map(([k, n]) => `${k} ${n}`).join(', ')})` : ''));
  counts.providerFailures = providerFailures;
  counts.hangsReaped = hangsReaped;
  counts.startingDeadline = startingDeadline;

  // Copies of results: the fake serves every output file whole and never expires it, so every
  // output of a completed job must have its copy row, and none may end refused or failed (a worker
  // without a store, or one refusing the provider's own host, is a break, not a figure). One still
  // pending at the end is counted, not a break: a worker killed during a copy leaves its task
  // locked until graphile-worker frees it (4 h), and a PostgreSQL restart costs retries with back-off.
  const copyOf = new Map(f.copies.map((c) => [`${c.job_id}:${c.output_index}`, c]));
  const badCopies: string[] = [];
  let copied = 0; let pendingCopies = 0; let outputsSeen = 0;
  for (const j of f.jobs) {
    if (j.status !== 'completed') continue;
    for (const [i, o] of (j.outputs ?? []).entries()) {
      if (typeof o.url !== 'string') continue;
      outputsSeen++;
      const c = copyOf.get(`${j.id}:${i}`);
      if (!c) badCopies.push(`output ${i} of job ${j.id} has no copy recorded`);
      else if (c.status === 'copied' && c.stored) copied++;
      else if (c.status === 'copied') badCopies.push(`output ${i} of job ${j.id} copied but its file is not recorded as the job's`);
      else if (c.status === 'pending') pendingCopies++;
      else badCopies.push(`output ${i} of job ${j.id} ${c.status}: ${(c.last_error ?? '').slice(0, 120)}`);
    }
  }
  add('every output of a completed job is copied into fila\'s store (none refused or failed)', badCopies,
    `${outputsSeen} outputs of completed jobs: ${copied} copied, ${pendingCopies} still pending at the end`);
  counts.outputs = outputsSeen;
  counts.copied = copied;
  counts.pendingCopies = pendingCopies;

  // Abandoned pages: once its page is gone for presence_timeout, a job may never take a slot. The
  // lease is counted while presence can be heard: an API restart gives every page presence_timeout
  // from the moment the API is back (its pages reconnect then), as the design promises.
  const apiOutages = record.outages.filter((o) => o.kind === 'api').sort((x, y) => x.from - y.from);
  const leaseEnd = (closedAt: number): number => {
    let end = closedAt + f.settings.presence_ms;
    for (const o of apiOutages) if (o.from < end) end = Math.max(end, o.to + f.settings.presence_ms);
    return end;
  };
  const abandonedStarted: string[] = [];
  let abandoned = 0; let abandonedCanceled = 0;
  for (const r of record.submits) {
    if (r.abandonedAt === null || !r.jobId) continue;
    abandoned++;
    const gone = leaseEnd(r.abandonedAt) + 1000; // the server's last touch may trail the close by a moment
    const started = (eventsByJob.get(r.jobId) ?? []).find((e) => e.from_status === 'queued' && e.to_status === 'starting' && e.at_ms > gone);
    if (started) abandonedStarted.push(`job ${r.jobId} started ${Math.round((started.at_ms - r.abandonedAt) / 1000)} s after its page closed`);
    if (jobById.get(r.jobId)?.status === 'canceled') abandonedCanceled++;
  }
  // ...and a job whose page stayed open is never given up as abandoned
  const present: string[] = [];
  for (const r of record.submits) {
    if (r.abandonedAt !== null || !r.jobId) continue;
    const e = (eventsByJob.get(r.jobId) ?? []).find((x) => x.to_status === 'canceled' && x.reason.startsWith('abandoned'));
    if (e) present.push(`job ${r.jobId} canceled as abandoned (${Math.round((e.at_ms - r.beganAt) / 1000)} s after submit) while its page was open${around(e.at_ms)}`);
  }
  add('no job whose page was open was canceled as abandoned', present,
    `${record.submits.filter((r) => r.jobId && r.abandonedAt === null).length} jobs whose page stayed open`);
  add('no job whose page was gone was ever started', abandonedStarted,
    `${abandoned} pages closed while queued, ${abandonedCanceled} of those jobs canceled (the others started before presence_timeout ran out)`);

  // The ETA shown at each moment against the real wait from that moment to the job's (last) start.
  const abs: number[] = []; const rel: number[] = []; let etaJobs = 0;
  for (const r of record.submits) {
    if (!r.jobId || !r.etas?.length) continue;
    const start = (eventsByJob.get(r.jobId) ?? []).filter((e) => e.from_status === 'queued' && e.to_status === 'starting').at(-1);
    if (!start) continue;
    let used = false;
    for (const e of r.etas) {
      if (e.at > start.at_ms) continue;
      const real = (start.at_ms - e.at) / 1000;
      abs.push(Math.abs(e.eta - real));
      if (real >= 1) rel.push((100 * Math.abs(e.eta - real)) / real);
      used = true;
    }
    if (used) etaJobs++;
  }
  abs.sort((x, y) => x - y); rel.sort((x, y) => x - y);
  const eta = abs.length ? {
    samples: abs.length, jobs: etaJobs, medianS: quantile(abs, 0.5), p90S: quantile(abs, 0.9),
    medianPct: rel.length ? quantile(rel, 0.5) : 0, p90Pct: rel.length ? quantile(rel, 0.9) : 0,
  } : null;

  return { rows, ok: rows.every((r) => r.breaks === 0), counts, eta };
}
