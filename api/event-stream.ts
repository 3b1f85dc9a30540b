// The job's event stream (Server-Sent Events): the current state first, then every change of
// status, queue position, ETA or outputs the hub pushes, comment heartbeats, and the end once the
// job is settled (terminal, and no copy of its outputs pending: the copy's URL arrives here). While it is open, a queued job with presence counts as seen. The hub (job-events.ts)
// does the database work for all streams at once; a stream itself never queries on a timer.
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { isSettled, type JobJson } from '../db/fila.ts';
import type { AppDeps } from './app.ts';
import type { AppEnv } from './context.ts';
import type { StreamSink } from './job-events.ts';

/** `scope`: the caller's user id (their own jobs only), or null for an operator (any job). */
export async function jobEventStream(c: Context<AppEnv>, deps: AppDeps, jobId: string, scope: string | null): Promise<Response> {
  const { fila, hub, metrics } = deps;
  const caller = c.var.caller;
  const log = c.var.log.child({ job_id: jobId });
  const { json: initial } = await fila.job(jobId, scope);
  const release = hub.reserve(caller.userId); // 429 past a cap, before anything is opened
  c.header('cache-control', 'no-cache');
  c.header('x-accel-buffering', 'no'); // nginx: do not buffer the stream
  return streamSSE(c, async (stream) => {
    metrics.sseStreams.inc();
    let writing: Promise<unknown> = Promise.resolve();
    let finish!: () => void;
    const done = new Promise<void>((r) => { finish = r; });
    let ended = false;
    const end = () => { ended = true; finish(); };
    const enqueue = (write: () => Promise<unknown>) => {
      if (ended) return;
      writing = writing.then(write).catch((e: unknown) => { log.debug({ err: e }, 'event stream write failed'); end(); });
    };
    const sink: StreamSink = {
      send: (job: JobJson) => enqueue(() => stream.writeSSE({ event: 'job', data: JSON.stringify(job) })),
      ping: () => enqueue(() => stream.write(': ping\n\n')),
      close: () => { writing = writing.then(end); },
    };
    stream.onAbort(end);
    enqueue(() => stream.writeSSE({ event: 'job', data: JSON.stringify(initial), retry: 3000 }));
    const detach = isSettled(initial) ? null
      : hub.attach({ jobId, userId: caller.userId, own: initial.user_id === caller.userId, initial, sink });
    if (!detach) sink.close();
    try {
      await done;
    } finally {
      detach?.();
      release();
      await writing;
      metrics.sseStreams.dec();
    }
  }, async (e) => { log.error({ err: e }, 'event stream failed'); });
}
