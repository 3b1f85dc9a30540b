// The job's event stream (Server-Sent Events): the current state first, then every change of
// status or queue position the hub pushes, comment heartbeats, and the end after a terminal state.
// While it is open, a queued job with presence counts as seen.
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { isTerminalStatus, type JobJson } from '../db/fila.ts';
import type { AppDeps } from './app.ts';
import type { AppEnv } from './context.ts';

/** `scope`: the caller's user id (their own jobs only), or null for an operator (any job). */
export async function jobEventStream(c: Context<AppEnv>, deps: AppDeps, jobId: string, scope: string | null): Promise<Response> {
  const { fila, hub, metrics } = deps;
  const heartbeatMs = deps.sseHeartbeatMs ?? 15_000;
  const touchMs = deps.presenceTouchMs ?? 10_000;
  const caller = c.var.caller;
  const log = c.var.log.child({ job_id: jobId });
  const { json: initial } = await fila.job(jobId, scope);
  const own = initial.user_id === caller.userId;
  c.header('cache-control', 'no-cache');
  c.header('x-accel-buffering', 'no'); // nginx: do not buffer the stream
  return streamSSE(c, async (stream) => {
    metrics.sseStreams.inc();
    let last: JobJson | null = null;
    let writing: Promise<unknown> = Promise.resolve();
    let finish!: () => void;
    const done = new Promise<void>((r) => { finish = r; });
    let ended = false;
    const end = () => { ended = true; finish(); };
    const enqueue = (write: () => Promise<unknown>) => {
      writing = writing.then(write).catch((e: unknown) => { log.debug({ err: e }, 'event stream write failed'); end(); });
    };
    const push = (job: JobJson) => {
      if (ended || (last && last.status === job.status && last.position === job.position)) return;
      const first = last === null;
      last = job;
      enqueue(async () => {
        await stream.writeSSE({ event: 'job', data: JSON.stringify(job), ...(first ? { retry: 3000 } : {}) });
        if (isTerminalStatus(job.status)) end();
      });
    };
    const recheck = () => {
      fila.jobsJson([jobId]).then(([j]) => { if (j) push(j); })
        .catch((e: unknown) => log.warn({ err: e }, 'event stream re-read failed'));
    };
    const touch = () => {
      if (!own || ended || last?.status !== 'queued' || !last.presence) return;
      fila.touchJob(jobId, caller.userId).catch((e: unknown) => log.warn({ err: e }, 'presence touch failed'));
    };
    const unwatch = hub.watch(jobId, { onJob: push, onClose: end });
    stream.onAbort(end);
    push(initial);
    touch();
    recheck(); // a transition between the first read and watch() is not missed
    const heartbeat = setInterval(() => {
      enqueue(() => stream.write(': ping\n\n'));
      recheck(); // a safety net should a notification be lost
    }, heartbeatMs);
    const toucher = setInterval(touch, touchMs);
    try {
      await done;
    } finally {
      clearInterval(heartbeat);
      clearInterval(toucher);
      unwatch();
      await writing;
      metrics.sseStreams.dec();
    }
  }, async (e) => { log.error({ err: e }, 'event stream failed'); });
}
