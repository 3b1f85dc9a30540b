// The demo's closing verdicts, computed from the database (never from what the client saw):
// occupancy replayed from job_events, FIFO order of first starts against FIFO tickets, one active
// job per user, the credit ledger per job, credit_audit, and the scripted outcomes.
import { isTerminalStatus, type FilaDb, type Job, type JobJson, type JobStatus, type LedgerEntry, type TimelineEntry } from '../../db/fila.ts';
import type { DemoUser } from './plan.ts';
import { showsFakeFailure } from '../../dev/fake-runninghub/server.ts';

export const activeJobMessage = 'Você já tem um processamento em andamento. Aguarde finalizar.';

export interface Verdict { rule: string; ok: boolean; detail: string }

export interface Observed {
  /** user id -> job id */
  jobs: Map<string, string>;
  /** highest slots_used sampled from fila.queue_overview while the demo ran */
  maxOccupancySampled: number;
  /** what the second-job user's second attempt got */
  secondAttempt: { status: number; code: string; message: string } | null;
  /** the canceled user's job status right before the cancel call */
  cancelSeenStatus: JobStatus | null;
  /** jobs that did not reach a terminal state before the wait ended */
  unfinished: string[];
  /** every ETA a waiting job's page was shown (the submit's answer, then each update), and when */
  etas: Array<{ jobId: string; at: Date; eta: number }>;
}

export interface DemoReport {
  ok: boolean;
  verdicts: Verdict[];
  counts: Record<JobStatus, number>;
  slotsTotal: number;
  maxOccupancyReplayed: number;
  fifoInversions: number;
  refunds: number;
  refundedCredits: number;
  perTool: Record<string, { n: number; avgSlotSeconds: number | null }>;
  /** ETAs shown against the wait that followed (until the job's start), in seconds: null without samples */
  eta: { samples: number; medianErrorSeconds: number; p90ErrorSeconds: number; medianErrorPercent: number; p90ErrorPercent: number } | null;
}

const holding = (s: JobStatus | null) => s === 'starting' || s === 'running';

export async function buildReport(db: FilaDb, users: DemoUser[], seen: Observed): Promise<DemoReport> {
  const verdicts: Verdict[] = [];
  const add = (rule: string, ok: boolean, detail: string) => verdicts.push({ rule, ok, detail });

  const overview = await db.queueOverview();
  const slotsTotal = overview.slots_total;
  const rows: { user: DemoUser; job: Job; json: JobJson; timeline: TimelineEntry[]; ledger: LedgerEntry[] }[] = [];
  for (const user of users) {
    const jobId = seen.jobs.get(user.id);
    if (!jobId) continue;
    const [{ job, json }, timeline, ledger] = await Promise.all([db.job(jobId), db.jobTimeline(jobId), db.creditLedger(user.id, 100)]);
    rows.push({ user, job, json, timeline, ledger });
  }
  const counts: Record<JobStatus, number> = { queued: 0, starting: 0, running: 0, completed: 0, failed: 0, canceled: 0 };
  for (const r of rows) counts[r.job.status]++;

  // 1. every job submitted and finished
  const missing = users.filter((u) => !seen.jobs.has(u.id)).map((u) => u.name);
  add('every user got a job', missing.length === 0, missing.length ? `no job for ${missing.join(', ')}` : `${rows.length} jobs`);
  const open = rows.filter((r) => !isTerminalStatus(r.job.status));
  add('every job finished (nothing hangs)', open.length === 0,
    open.length ? `${open.length} still active: ${open.map((r) => `${r.user.name} ${r.job.status}`).join(', ')}` : 'all terminal');

  // 2. occupancy: replay every transition of the demo's jobs in commit order
  const events = rows.flatMap((r) => r.timeline).sort((a, b) => a.event_id - b.event_id);
  const holders = new Set<string>();
  let maxReplayed = 0;
  for (const e of events) {
    if (holding(e.to_status)) holders.add(e.job_id);
    else holders.delete(e.job_id);
    maxReplayed = Math.max(maxReplayed, holders.size);
  }
  const maxSeen = Math.max(maxReplayed, seen.maxOccupancySampled);
  add(`at most ${slotsTotal} slots busy`, maxSeen <= slotsTotal,
    `highest occupancy: ${seen.maxOccupancySampled} sampled from queue_overview, ${maxReplayed} replayed from job_events`);

  // 3. FIFO: jobs start in ticket order (first start; a requeued job keeps its place)
  const firstStart = new Map<string, number>();
  for (const e of events) if (e.to_status === 'starting' && !firstStart.has(e.job_id)) firstStart.set(e.job_id, e.event_id);
  const started = rows.filter((r) => firstStart.has(r.job.id)).sort((a, b) => a.job.queue_seq - b.job.queue_seq);
  let inversions = 0;
  const examples: string[] = [];
  for (let i = 0; i < started.length; i++) {
    for (let j = i + 1; j < started.length; j++) {
      if (firstStart.get(started[j]!.job.id)! < firstStart.get(started[i]!.job.id)!) {
        inversions++;
        if (examples.length < 3) examples.push(`${started[j]!.user.name} overtook ${started[i]!.user.name}`);
      }
    }
  }
  add('FIFO: nobody overtakes', inversions === 0, `${inversions} inversions among ${started.length} started jobs${examples.length ? `: ${examples.join('; ')}` : ''}`);

  // 4. one active job per user, over the whole run
  const intervals = new Map<string, [number, number][]>();
  for (const r of rows) {
    const start = r.timeline[0]?.event_id ?? 0;
    const end = r.timeline.find((e) => isTerminalStatus(e.to_status))?.event_id ?? Number.POSITIVE_INFINITY;
    intervals.set(r.job.user_id, [...(intervals.get(r.job.user_id) ?? []), [start, end]]);
  }
  const doubled = [...intervals.entries()].filter(([, iv]) => iv.some((a, i) => iv.some((b, j) => i !== j && a[0] < b[1] && b[0] < a[1])));
  const activeNow = await db.activeJobs();
  const perUser = new Map<string, number>();
  for (const a of activeNow) perUser.set(a.user_id, (perUser.get(a.user_id) ?? 0) + 1);
  const doubledNow = [...perUser.values()].filter((n) => n > 1).length;
  add('one active job per user', doubled.length === 0 && doubledNow === 0, `${doubled.length + doubledNow} users with two active jobs`);

  // 5. credits: debited once; failed/canceled refunded once in full; completed never refunded
  const creditProblems: string[] = [];
  let refunds = 0;
  let refundedCredits = 0;
  for (const r of rows) {
    const mine = r.ledger.filter((l) => l.job_id === r.job.id);
    const debits = mine.filter((l) => l.kind === 'debit');
    const refs = mine.filter((l) => l.kind === 'refund');
    refunds += refs.length;
    refundedCredits += refs.reduce((s, l) => s + l.amount, 0);
    if (debits.length !== 1 || debits[0]!.amount !== -r.job.credit_cost) creditProblems.push(`${r.user.name}: ${debits.length} debits`);
    const wantRefund = r.job.status === 'failed' || r.job.status === 'canceled';
    if (wantRefund && (refs.length !== 1 || refs[0]!.amount !== r.job.credit_cost)) creditProblems.push(`${r.user.name} ${r.job.status}: ${refs.length} refunds`);
    if (!wantRefund && refs.length !== 0) creditProblems.push(`${r.user.name} ${r.job.status}: refunded ${refs.length}×`);
  }
  const failedOrCanceled = counts.failed + counts.canceled;
  add('refunds: each failed/canceled job exactly once, completed never', creditProblems.length === 0,
    creditProblems.length ? creditProblems.slice(0, 5).join('; ') : `${refunds} refunds (${refundedCredits} credits) for ${failedOrCanceled} failed/canceled jobs`);
  const audit = await db.creditAudit();
  add('credit_audit is empty', audit.length === 0, audit.length ? `${audit.length} balances differ from their ledger` : 'every balance equals its ledger');

  // 6. the scripted outcomes happened, with the real messages
  for (const r of rows) {
    const { user, job, timeline } = r;
    if (user.role === 'fail') {
      add(`${user.name} fails with the provider's message`, job.status === 'failed' && showsFakeFailure(job.error, user.failMessage),
        `${job.status}: ${job.error ?? '(no error)'}`);
    } else if (user.role === 'lost-webhook') {
      const recovered = job.status === 'completed';
      add(`${user.name}'s lost webhook is recovered by the reaper`, recovered, `${job.status}${job.outputs ? `, ${job.outputs.length} output(s)` : ''}`);
    } else if (user.role === 'capacity') {
      const requeued = timeline.some((e) => e.from_status === 'starting' && e.to_status === 'queued');
      add(`${user.name}: a capacity refusal requeues (not fails), then it runs`, requeued && job.status === 'completed',
        `${requeued ? 'requeued at the head' : 'never requeued'}, then ${job.status}`);
    } else if (user.role === 'cancel') {
      const fromQueue = timeline.some((e) => e.from_status === 'queued' && e.to_status === 'canceled');
      add(`${user.name} cancels while queued`, fromQueue && job.status === 'canceled',
        `seen ${seen.cancelSeenStatus ?? '?'} before the cancel; ended ${job.status}`);
    } else if (user.role === 'second-job') {
      const a = seen.secondAttempt;
      add(`${user.name}'s second job is refused (409, exact message)`,
        !!a && a.status === 409 && a.code === 'user_has_active_job' && a.message === activeJobMessage,
        a ? `${a.status} ${a.code}: ${a.message}` : 'no second attempt recorded');
    } else if (job.status !== 'completed') {
      add(`${user.name} completes`, false, `${job.status}: ${job.error ?? ''}`);
    }
  }
  const okUsers = rows.filter((r) => r.user.role === 'ok');
  add('the ordinary jobs complete with outputs', okUsers.every((r) => r.job.status === 'completed' && (r.job.outputs?.length ?? 0) > 0),
    `${okUsers.filter((r) => r.job.status === 'completed').length}/${okUsers.length} completed`);

  // 7. results outlive the provider's links: every output of a completed job was copied into fila's
  // store and is what users are shown (a copy refused, failed or still pending is not fine: users
  // would keep RunningHub's expiring link)
  const outputs = rows.filter((r) => r.job.status === 'completed').flatMap((r) => (r.json.outputs ?? []).map((o) => ({ user: r.user, o })));
  const uncopied = outputs.filter(({ o }) => o.copy_status !== 'copied' || o.copy_url === null || o.url !== o.copy_url);
  add('every result is copied into fila\'s store (users are shown the copy)', outputs.length > 0 && uncopied.length === 0,
    uncopied.length ? `${uncopied.length} of ${outputs.length} not copied: ${uncopied.slice(0, 5).map(({ user, o }) => `${user.name} ${o.copy_status ?? 'no copy'}`).join(', ')}`
      : `${outputs.length} outputs copied`);

  const perTool: DemoReport['perTool'] = {};
  for (const r of rows) {
    const t = (perTool[r.job.tool] ??= { n: 0, avgSlotSeconds: null });
    t.n++;
  }
  for (const tool of Object.keys(perTool)) {
    const done = rows.filter((r) => r.job.tool === tool && r.job.status === 'completed' && r.job.started_at && r.job.finished_at);
    perTool[tool]!.avgSlotSeconds = done.length
      ? done.reduce((s, r) => s + (r.job.finished_at!.getTime() - r.job.started_at!.getTime()) / 1000, 0) / done.length : null;
  }

  // the ETA shown at each moment against what the wait really was from that moment on
  const startedAt = new Map(rows.filter((r) => r.job.started_at).map((r) => [r.job.id, r.job.started_at!.getTime()]));
  const abs: number[] = [];
  const rel: number[] = [];
  for (const e of seen.etas) {
    const start = startedAt.get(e.jobId);
    if (start === undefined) continue;
    const real = Math.max(0, (start - e.at.getTime()) / 1000);
    abs.push(Math.abs(e.eta - real));
    if (real >= 1) rel.push((100 * Math.abs(e.eta - real)) / real);
  }
  const pct = (values: number[], p: number) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN;
  };
  const eta = abs.length ? {
    samples: abs.length, medianErrorSeconds: pct(abs, 0.5), p90ErrorSeconds: pct(abs, 0.9),
    medianErrorPercent: pct(rel, 0.5), p90ErrorPercent: pct(rel, 0.9),
  } : null;

  return {
    ok: verdicts.every((v) => v.ok), verdicts, counts, slotsTotal,
    maxOccupancyReplayed: maxReplayed, fifoInversions: inversions, refunds, refundedCredits, perTool, eta,
  };
}
