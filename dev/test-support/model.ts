// A small model of fila's rules, written from DESIGN.md and independent of the SQL: the
// model-based test runs the same random operations here and against the real functions, and
// compares the two after every step. Everything is plain arrays and loops on purpose — a reader
// should be able to check each rule by eye.
//
// Time: the test runs a whole sequence inside one transaction, so PostgreSQL's now() is one fixed
// instant; every deadline is "that instant + an interval" and a reap "as of now() + offset" is
// decided exactly (no race with a real clock). Offsets and deadlines here are in seconds.

export const toolNames = ['upscaler', 'pose_changer', 'veste_ai', 'video_upscaler'] as const;
export type ToolName = (typeof toolNames)[number];
export type Status = 'queued' | 'starting' | 'running' | 'completed' | 'failed' | 'canceled';
export type RefusalCode =
  | 'user_has_active_job' | 'insufficient_credits' | 'unknown_tool' | 'job_not_found'
  | 'invalid_transition' | 'idempotency_key_reused' | 'invalid_input'
  // refusals of operations the model does not generate (uploads, a balance past the integer range)
  | 'upload_quota_exceeded' | 'balance_limit';

export interface PriceRow { tool: ToolName; match: Record<string, string>; priority: number; price: number }

export interface ModelSettings {
  maxSlots: number;
  startingTimeout: number;
  presenceTimeout: number;
  hardDeadline: Record<ToolName, number>;
  prices: PriceRow[];
  disabledTool: ToolName | null;
  /** with provider accounts, mark_running on the paused account ends its pause and dispatches */
  markRunningEndsPause: boolean;
}

/** Operations. `job` and `user` are raw numbers resolved modulo what exists, so any sequence is valid and shrinks. */
export type Op =
  | { kind: 'submit'; user: number; tool: ToolName | 'no_such_tool'; pro: boolean; logo: boolean; presence: boolean; key: string | null }
  | { kind: 'dispatch' }
  | { kind: 'markRunning'; job: number }
  | { kind: 'finish'; job: number; ok: boolean }
  /** a duplicate webhook: the nth earlier finish delivered again */
  | { kind: 'redeliver'; nth: number }
  | { kind: 'cancel'; job: number; by: 'owner' | 'operator' | 'other' }
  | { kind: 'requeue'; job: number }
  /** the reaper's SQL pass as of now() + offset seconds */
  | { kind: 'reap'; offset: number }
  /** the back-off has run out: the scheduled wake-up dispatches */
  | { kind: 'wake' }
  | { kind: 'grant'; user: number; amount: number };

/** What an operation answered, in terms both sides can produce. Jobs are named by creation index. */
export type Outcome =
  | { job: number; status: Status }
  | { jobs: Array<{ job: number; status: Status }> }
  | { balance: number }
  | { error: RefusalCode }
  | { skipped: true };

export interface JobView {
  status: Status;
  task: string | null;
  cost: number;
  attempts: number;
  position: number | null;
  refunds: number;
  /** graphile-worker jobs the transitions enqueued: start_job per dispatch, cancel_provider_task per task given up */
  startJobs: number;
  providerCancels: number;
  events: string[];
}

export interface StateView {
  jobs: JobView[];
  balances: number[];
  occupied: number;
}

interface ModelJob {
  user: number;
  tool: ToolName;
  input: Record<string, string>;
  key: string | null;
  presence: boolean;
  seq: number;
  status: Status;
  cost: number;
  task: string | null;
  attempts: number;
  refunds: number;
  providerCancels: number;
  events: string[];
}

const active: readonly Status[] = ['queued', 'starting', 'running'];
const terminal: readonly Status[] = ['completed', 'failed', 'canceled'];

/** The job input an operation submits: deterministic, so the same flags make an equal input. */
export function inputFor(tool: string, pro: boolean, logo: boolean): Record<string, string> {
  const suffix = pro ? '-hd' : '';
  switch (tool) {
    case 'upscaler':
      return { image_url: 'https://files.example/in.png#fake=ok', version: pro ? 'pro' : 'standard', category: logo ? 'logo' : 'pessoas' };
    case 'pose_changer':
      return { person_image_url: `https://files.example/p${suffix}.png`, pose_image_url: 'https://files.example/pose.png' };
    case 'veste_ai':
      return { person_image_url: `https://files.example/p${suffix}.png`, garment_image_url: 'https://files.example/g.png' };
    default:
      return { video_url: `https://files.example/v${suffix}.mp4` };
  }
}

function sameInput(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

export class FilaModel {
  readonly jobs: ModelJob[] = [];
  readonly balances: number[];
  private paused = false;
  private lastSeq = 0;
  private readonly finishes: Array<{ job: number; ok: boolean }> = [];
  /** dispatches that had to choose: fewer free slots than queued jobs (where FIFO order shows) */
  fifoChoices = 0;

  constructor(readonly settings: ModelSettings, initialBalances: number[]) {
    this.balances = [...initialBalances];
  }

  /** Which job a raw reference names: null when none exists yet (the real side uses an unknown id). */
  resolveJob(ref: number): number | null {
    return this.jobs.length === 0 ? null : ref % this.jobs.length;
  }

  /** The other user a cancel 'by other' acts as: null = a stranger with no jobs at all. */
  otherUser(owner: number): number | null {
    return this.balances.length < 2 ? null : (owner + 1) % this.balances.length;
  }

  /** The nth earlier finish, for a redelivery. */
  finishToRedeliver(nth: number): { job: number; ok: boolean } | null {
    return this.finishes.length === 0 ? null : this.finishes[nth % this.finishes.length]!;
  }

  apply(op: Op, step: number): Outcome {
    switch (op.kind) {
      case 'submit': return this.submit(op);
      case 'dispatch': return { jobs: this.dispatch() };
      case 'markRunning': return this.markRunning(op.job, taskIdFor(step));
      case 'finish': return this.finish(op.job, op.ok);
      case 'redeliver': {
        const f = this.finishToRedeliver(op.nth);
        return f ? this.finish(f.job, f.ok) : { skipped: true };
      }
      case 'cancel': return this.cancel(op.job, op.by);
      case 'requeue': return this.requeue(op.job);
      case 'reap': return { jobs: this.reap(op.offset) };
      case 'wake':
        this.paused = false;
        return { jobs: this.dispatch() };
      case 'grant': return this.grant(op.user % this.balances.length, op.amount);
    }
  }

  private transition(i: number, to: Status): void {
    const j = this.jobs[i]!;
    j.events.push(`${j.status}>${to}`);
    j.status = to;
    if (to === 'failed' || to === 'canceled') {
      // refunded in full exactly once: a job reaches failed/canceled only once
      j.refunds += 1;
      this.balances[j.user]! += j.cost;
    }
  }

  private price(tool: ToolName, input: Record<string, string>): number | null {
    const rows = this.settings.prices
      .filter((p) => p.tool === tool && Object.entries(p.match).every(([k, v]) => input[k] === v))
      .sort((a, b) => b.priority - a.priority || b.price - a.price);
    return rows[0]?.price ?? null;
  }

  private submit(op: Extract<Op, { kind: 'submit' }>): Outcome {
    const user = op.user % this.balances.length;
    const input = inputFor(op.tool, op.pro, op.logo);
    if (op.key !== null) {
      const prior = this.jobs.findIndex((j) => j.user === user && j.key === op.key);
      if (prior >= 0) {
        const p = this.jobs[prior]!;
        // a retry answers the same job as it is now, debited once; another request under the key is refused
        if (p.tool === op.tool && sameInput(p.input, input)) return { job: prior, status: p.status };
        return { error: 'idempotency_key_reused' };
      }
    }
    if (op.tool === 'no_such_tool' || op.tool === this.settings.disabledTool) return { error: 'unknown_tool' };
    const tool = op.tool;
    if (this.jobs.some((j) => j.user === user && active.includes(j.status))) return { error: 'user_has_active_job' };
    const price = this.price(tool, input);
    if (price === null) return { error: 'unknown_tool' };
    if (this.balances[user]! < price) return { error: 'insufficient_credits' };
    this.balances[user]! -= price;
    const index = this.jobs.length;
    this.jobs.push({
      user, tool, input, key: op.key, presence: op.presence, seq: ++this.lastSeq, status: 'queued', cost: price,
      task: null, attempts: 0, refunds: 0, providerCancels: 0, events: ['->queued'],
    });
    this.dispatch();
    return { job: index, status: this.jobs[index]!.status };
  }

  /** Fill free slots with the oldest queued jobs, unless paused after provider-wide trouble. */
  private dispatch(): Array<{ job: number; status: Status }> {
    if (this.paused) return [];
    const occupied = this.jobs.filter((j) => j.status === 'starting' || j.status === 'running').length;
    const free = this.settings.maxSlots - occupied;
    const queued = this.jobs
      .map((j, i) => ({ j, i }))
      .filter(({ j }) => j.status === 'queued')
      .sort((a, b) => a.j.seq - b.j.seq)
      .slice(0, Math.max(0, free));
    if (queued.length > 0 && queued.length < this.jobs.filter((j) => j.status === 'queued').length) this.fifoChoices += 1;
    for (const { j, i } of queued) {
      this.transition(i, 'starting');
      j.attempts += 1;
    }
    return queued.map(({ i }) => ({ job: i, status: 'starting' as const }));
  }

  private markRunning(ref: number, task: string): Outcome {
    const i = this.resolveJob(ref);
    if (i === null) return { error: 'job_not_found' };
    const j = this.jobs[i]!;
    if (j.status === 'starting') {
      this.transition(i, 'running');
      j.task = task;
      if (this.settings.markRunningEndsPause && this.paused) {
        // the provider accepted a task: the trouble is over
        this.paused = false;
        this.dispatch();
      }
    } else if (terminal.includes(j.status) && j.task === null) {
      j.task = task; // a fact worth keeping: which provider task finished it, or was orphaned
    }
    return { job: i, status: j.status };
  }

  private finish(ref: number, ok: boolean): Outcome {
    const i = this.resolveJob(ref);
    if (i === null) return { error: 'job_not_found' };
    this.finishes.push({ job: i, ok });
    const j = this.jobs[i]!;
    if (terminal.includes(j.status)) return { job: i, status: j.status };
    if (j.status === 'queued') return { error: 'invalid_transition' };
    this.transition(i, ok ? 'completed' : 'failed');
    this.dispatch();
    return { job: i, status: j.status };
  }

  private cancel(ref: number, by: 'owner' | 'operator' | 'other'): Outcome {
    const i = this.resolveJob(ref);
    if (i === null) return { error: 'job_not_found' };
    const j = this.jobs[i]!;
    if (by === 'other') return { error: 'job_not_found' }; // another user's job does not exist for them
    if (j.status === 'canceled') return { job: i, status: j.status };
    if (j.status === 'completed' || j.status === 'failed') return { error: 'invalid_transition' };
    this.transition(i, 'canceled');
    if (j.task !== null) j.providerCancels += 1;
    this.dispatch();
    return { job: i, status: j.status };
  }

  private requeue(ref: number): Outcome {
    const i = this.resolveJob(ref);
    if (i === null) return { error: 'job_not_found' };
    const j = this.jobs[i]!;
    if (j.status !== 'starting') return { job: i, status: j.status };
    this.transition(i, 'queued'); // keeps its seq: the same place in line
    j.task = null;
    this.paused = true; // no dispatch until the back-off runs out
    return { job: i, status: j.status };
  }

  private reap(offset: number): Array<{ job: number; status: Status }> {
    const ended: Array<{ job: number; status: Status }> = [];
    this.jobs.forEach((j, i) => {
      if (j.status !== 'starting' && j.status !== 'running') return;
      const deadline = j.status === 'starting' ? this.settings.startingTimeout : this.settings.hardDeadline[j.tool];
      if (deadline < offset) {
        this.transition(i, 'failed');
        if (j.task !== null) j.providerCancels += 1;
        ended.push({ job: i, status: 'failed' });
      }
    });
    // a presence job was last seen at now() (nothing refreshes it inside one transaction)
    this.jobs.forEach((j, i) => {
      if (j.status === 'queued' && j.presence && offset - this.settings.presenceTimeout > 0) {
        this.transition(i, 'canceled');
        ended.push({ job: i, status: 'canceled' });
      }
    });
    this.dispatch();
    return ended.sort((a, b) => a.job - b.job);
  }

  private grant(user: number, amount: number): Outcome {
    if (this.balances[user]! + amount < 0) return { error: 'insufficient_credits' };
    this.balances[user]! += amount;
    return { balance: this.balances[user]! };
  }

  /** The state the database must show now. */
  view(): StateView {
    const queuedInOrder = this.jobs.filter((j) => j.status === 'queued').sort((a, b) => a.seq - b.seq);
    return {
      jobs: this.jobs.map((j) => ({
        status: j.status,
        task: j.task,
        cost: j.cost,
        attempts: j.attempts,
        position: j.status === 'queued' ? queuedInOrder.indexOf(j) + 1 : null,
        refunds: j.refunds,
        startJobs: j.attempts,
        providerCancels: j.providerCancels,
        events: j.events,
      })),
      balances: [...this.balances],
      occupied: this.jobs.filter((j) => j.status === 'starting' || j.status === 'running').length,
    };
  }
}

/** The provider task id a mark_running at this step reports (both sides use the same). */
export function taskIdFor(step: number): string {
  return `task-${step}`;
}
