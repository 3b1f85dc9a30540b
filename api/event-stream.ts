// The job's event stream (Server-Sent Events): the current state first, then every change of
// status, queue position, ETA or outputs the hub pushes, comment heartbeats, and the end once the
// job is settled (terminal, and no copy of its outputs pending: the copy's URL arrives here). While it is open, a queued job with presence counts as seen. The hub (job-events.ts)
// does the database work for all streams at once; a stream itself never queries on a timer.
//
// A process holds thousands of these, so each is written straight to Node's response (no web
// stream pipeline, no promise chain, no logger kept per stream) and keeps only what it needs to
// write and to end: its response and its reservation. The request's context is not kept.
import type { ServerResponse } from 'node:http';
import type { Context } from 'hono';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type pino from 'pino';
import { isSettled } from '../db/fila.ts';
import type { AppDeps } from './app.ts';
import { nodeResponse, type AppEnv } from './context.ts';
import { sseJobEvent, type StreamSink } from './job-events.ts';
import type { ApiMetrics } from './metrics.ts';

/** The first event's `retry`: how long a browser waits before it reconnects. */
const retryMs = 3000;

/** `scope`: the caller's user id (their own jobs only), or null for an operator (any job). */
export async function jobEventStream(c: Context<AppEnv>, deps: AppDeps, jobId: string, scope: string | null): Promise<Response> {
  const { fila, hub, metrics } = deps;
  const caller = c.var.caller;
  const outgoing = nodeResponse(c);
  if (!outgoing) throw new Error('event streams need the Node server (@hono/node-server): no response to write to');
  const { json: initial } = await fila.job(jobId, scope);
  const release = hub.reserve(caller.userId); // 429 past a cap, before anything is opened
  const first = sseJobEvent(initial, retryMs);
  try {
    outgoing.writeHead(200, {
      'cache-control': 'no-cache', connection: 'keep-alive', 'content-type': 'text/event-stream',
      'transfer-encoding': 'chunked', 'x-accel-buffering': 'no', // nginx: do not buffer the stream
      'x-request-id': c.var.requestId,
    });
  } catch (err) {
    release(); // nothing was opened: onError answers
    throw err;
  }
  const sink = new SseResponse(outgoing, release, metrics, deps.logger, { req_id: c.var.requestId, user_id: caller.userId, job_id: jobId });
  try {
    sink.write(first);
    if (isSettled(initial)) sink.close();
    else sink.attached(hub.attach({ jobId, userId: caller.userId, own: initial.user_id === caller.userId, initial, sink }));
  } catch (err) {
    sink.failed(err);
  }
  return RESPONSE_ALREADY_SENT;
}

/**
 * One open stream's response. Writes go straight to the socket; a client that stops reading gets
 * no backlog: while its socket is full only the latest event waits (each event is the job's whole
 * state), and heartbeats are skipped. Everything a stream holds is released once, when the response
 * closes: after its end, or when the client goes away (a closed tab), or a write failed.
 */
export class SseResponse implements StreamSink {
  private detach: (() => void) | null = null;
  /** the socket is full: the latest event waits for 'drain' */
  private blocked = false;
  private pending: string | null = null;
  /** end once what waits is written */
  private ending = false;
  private released = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly release: () => void,
    private readonly metrics: ApiMetrics,
    private readonly logger: pino.Logger,
    private readonly ids: { req_id: string; user_id: string; job_id: string },
  ) {
    metrics.sseStreams.inc();
    res.once('close', () => this.closed());
    // the client may have gone while the job was read: 'close' has been and gone
    if (res.destroyed) this.closed();
  }

  attached(detach: () => void): void {
    if (this.released) detach();
    else this.detach = detach;
  }

  write(text: string): void {
    if (this.ending || this.released) return;
    if (this.blocked) {
      if (text.charCodeAt(0) !== 58 /* ':' a heartbeat */) this.pending = text;
      return;
    }
    if (!this.res.write(text, this.written)) {
      this.blocked = true;
      this.res.once('drain', () => this.drained());
    }
  }

  close(): void {
    if (this.ending || this.released) return;
    this.ending = true;
    if (!this.blocked) this.res.end();
  }

  /** An unexpected failure once the stream was open: logged, told to the client, and the stream ends. */
  failed(err: unknown): void {
    this.logger.error({ ...this.ids, err }, 'event stream failed');
    this.write(`event: error\ndata: ${err instanceof Error ? err.message.split(/\r\n|\r|\n/).join('\ndata: ') : String(err)}\n\n`);
    this.close();
  }

  private readonly written = (err: Error | null | undefined): void => {
    if (!err) return;
    this.logger.debug({ ...this.ids, err }, 'event stream write failed');
    this.res.destroy();
  };

  private drained(): void {
    this.blocked = false;
    const text = this.pending;
    this.pending = null;
    const ending = this.ending;
    this.ending = false;
    if (text !== null) this.write(text);
    if (ending) this.close();
  }

  private closed(): void {
    if (this.released) return;
    this.released = true;
    this.detach?.();
    this.detach = null;
    this.release();
    this.metrics.sseStreams.dec();
  }
}
