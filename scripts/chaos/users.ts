// The chaos run's users: each one a page with a JobManager, as a tool page holds one (presence on).
// A user submits, waits for the end, and submits again, until the run's jobs are all taken. Some
// cancel their queued job; some close the page of a queued job (abandon) and come back later with
// a new page. Every submit is timed on the user's side (began, answered), for the FIFO check.
// Network errors and 5xx answers (the API or PostgreSQL restarting) are retried with the same
// Idempotency-Key, so a submit whose answer was lost names the same job.
import { randomUUID } from 'node:crypto';
import { FilaApiError, JobManager, isTerminalStatus, type Job, type JobStatus } from '../../api/client/index.ts';
import type { Behaviour, SubmitRecord } from './record.ts';

export const chaosTools = ['upscaler', 'pose_changer', 'veste_ai', 'video_upscaler'] as const;
const categories = ['pessoas', 'produto', 'comida', 'logo'];

export interface ChaosUser { id: string; name: string; token: string }

export interface UsersContext {
  apiUrl: string;
  /** takes one job from the run's budget; false when none is left */
  take(): boolean;
  /** false once the run is winding down (time is up) */
  alive(): boolean;
  rates: { cancel: number; abandon: number };
  random(): number;
  submits: SubmitRecord[];
  /** latest status each user saw (for the live view) */
  statuses: Map<string, JobStatus>;
  /** answers other than the job (4xx), by code */
  refusals: Map<string, number>;
  note(line: string): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Input files on the reserved example domain, with no `#fake=` directive: the fake draws one. */
function inputFor(tool: (typeof chaosTools)[number], user: string, n: number, random: () => number): Record<string, unknown> {
  const base = `https://files.example/chaos/${user}/${n}`;
  switch (tool) {
    case 'upscaler':
      return { image_url: `${base}/photo.png`, category: categories[Math.floor(random() * categories.length)], version: random() < 0.3 ? 'pro' : 'standard' };
    case 'pose_changer':
      return { person_image_url: `${base}/person.png`, pose_image_url: `${base}/pose.png` };
    case 'veste_ai':
      return { person_image_url: `${base}/person.png`, garment_image_url: `${base}/garment.png` };
    case 'video_upscaler':
      return { video_url: `${base}/clip.mp4` };
  }
}

const transient = (err: unknown) => err instanceof FilaApiError && (err.status === 0 || err.status >= 500);

/** Repeat a call while the API is unreachable or answers 5xx (a restart), within the run's life. */
async function retrying<T>(ctx: UsersContext, what: () => Promise<T>, onRetry?: () => void): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await what();
    } catch (err) {
      if (!transient(err) || !ctx.alive()) throw err;
      onRetry?.();
      await sleep(Math.min(200 * 2 ** attempt, 2000));
    }
  }
}

/** Until the job is terminal: its event stream, then polling when the stream gives up. */
async function untilTerminal(ctx: UsersContext, page: JobManager, jobId: string, onUpdate: (job: Job) => void): Promise<Job | null> {
  let unsubscribe: () => void = () => {};
  const streamed = await new Promise<Job | null>((resolve) => {
    unsubscribe = page.subscribe(jobId, (job) => {
      onUpdate(job);
      if (isTerminalStatus(job.status)) resolve(job);
    }, { onError: () => resolve(null) });
  });
  unsubscribe();
  if (streamed) return streamed;
  return pollUntilTerminal(ctx, page, jobId, onUpdate);
}

async function pollUntilTerminal(ctx: UsersContext, page: JobManager, jobId: string, onUpdate: (job: Job) => void): Promise<Job | null> {
  while (ctx.alive()) {
    const job = await retrying(ctx, () => page.getJob(jobId));
    onUpdate(job);
    if (isTerminalStatus(job.status)) return job;
    await sleep(1000);
  }
  return null;
}

export async function runUser(ctx: UsersContext, user: ChaosUser): Promise<void> {
  let n = 0;
  while (ctx.alive() && ctx.take()) {
    n++;
    const tool = chaosTools[Math.floor(ctx.random() * chaosTools.length)]!;
    const input = inputFor(tool, user.name, n, ctx.random);
    const u = ctx.random();
    const behaviour: Behaviour = u < ctx.rates.cancel ? 'cancel' : u < ctx.rates.cancel + ctx.rates.abandon ? 'abandon' : 'wait';
    const page = new JobManager({ baseUrl: ctx.apiUrl, getToken: () => user.token, presence: true, pollIntervalMs: 1000, maxPollErrors: 30 });
    const rec: SubmitRecord = {
      user: user.id, tool, behaviour, beganAt: Date.now(), answeredAt: null, jobId: null, retries: 0,
      abandonedAt: null, cancelRequestedAt: null,
    };
    ctx.submits.push(rec);
    const key = randomUUID();
    let job: Job;
    try {
      job = await retrying(ctx, () => page.createJob(tool, input, { idempotencyKey: key }), () => { rec.retries++; });
    } catch (err) {
      const code = err instanceof FilaApiError ? `${err.status} ${err.code}` : String(err);
      ctx.refusals.set(code, (ctx.refusals.get(code) ?? 0) + 1);
      ctx.note(`${user.name}: submit refused: ${code}: ${(err as Error).message}`);
      await sleep(1000);
      continue;
    }
    rec.answeredAt = Date.now();
    rec.jobId = job.id;
    const seen = (j: Job) => {
      ctx.statuses.set(j.id, j.status);
      if (j.status === 'queued' && typeof j.eta === 'number') (rec.etas ??= []).push({ at: Date.now(), eta: j.eta });
    };
    seen(job);

    if (behaviour === 'wait' || job.status !== 'queued') {
      await untilTerminal(ctx, page, job.id, seen);
    } else if (behaviour === 'cancel') {
      // change of mind a moment later; by then it may have started (a cancel of a running job is fine too)
      await sleep(200 + ctx.random() * 1500);
      rec.cancelRequestedAt = Date.now();
      try {
        seen(await retrying(ctx, () => page.cancel(job.id)));
      } catch (err) {
        // it finished in the meantime: 409 invalid_transition is the right answer; anything else is shown
        const code = err instanceof FilaApiError ? `${err.status} ${err.code}` : String(err);
        if (!(err instanceof FilaApiError && err.code === 'invalid_transition')) {
          ctx.refusals.set(`cancel: ${code}`, (ctx.refusals.get(`cancel: ${code}`) ?? 0) + 1);
          ctx.note(`${user.name}: cancel refused: ${code}: ${(err as Error).message}`);
        }
      }
      await untilTerminal(ctx, page, job.id, seen);
    } else {
      // the page stays open a moment, then is closed while the job waits: no stream, no heartbeat
      let last = job;
      let unsubscribe: () => void = () => {};
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 300 + ctx.random() * 2000);
        unsubscribe = page.subscribe(job.id, (j) => {
          last = j;
          seen(j);
          if (j.status !== 'queued') { clearTimeout(timer); resolve(); }
        });
      });
      unsubscribe();
      if (last.status === 'queued') {
        rec.abandonedAt = Date.now();
        // another tab without presence watches it end (a GET does not count as the page being there)
        const observer = new JobManager({ baseUrl: ctx.apiUrl, getToken: () => user.token, presence: false });
        await sleep(2000);
        await pollUntilTerminal(ctx, observer, job.id, seen);
      } else {
        await untilTerminal(ctx, page, job.id, seen);
      }
    }
    await sleep(ctx.random() * 1000); // a moment before the next job
  }
}
