// Live job updates for every open event stream of this process, with database work that does not
// grow with the number of streams:
// - one LISTEN connection on `fila_jobs`; after a transition or a copy of an output that settled
//   (00019; bursts coalesce), ONE statement (fila.watched_jobs) reads the status, position and ETA
//   of every watched job, and each stream is pushed only when its job's status, position, ETA or
//   outputs changed (the event's text is made once per job, whatever its number of streams; a
//   stream keeps only those few fields, the job's JSON is kept once per job); a completed job's
//   streams stay open until no copy of its outputs is pending
//   (the copy's URL replaces the provider's after the job completed);
// - a burst of opening streams: one statement for just the jobs attached meanwhile (not every
//   watched job again for each);
// - while some watched job is queued, the same statement runs every few seconds, so the ETA
//   counts down without a query per stream;
// - presence (a queued job with an open stream counts as seen): one fila.touch_jobs for all
//   streams; comment heartbeats from one timer;
// - bounded: at most `maxStreamsPerUser` streams per user and `maxStreams` per process; past
//   either, 429 `too_many_event_streams` before anything is opened.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type pino from 'pino';
import { isSettled, type FilaDb, type JobJson, type JobStatus, type WatchedJob } from '../db/fila.ts';
import { ApiError } from './errors.ts';

export interface Transition { job_id: string; status: JobStatus }
/** A copy of an output settled (copied, refused or failed): the job's outputs changed, not its status. */
export interface CopySettled { job_id: string; output_index: number; copy_status: string }

/** One `job` event as Server-Sent Events text (`retry` on a stream's first event). JSON text has no
 *  line breaks, so the data is one `data:` line. */
export function sseJobEvent(json: JobJson, retryMs?: number): string {
  return `event: job\ndata: ${JSON.stringify(json)}\n${retryMs === undefined ? '' : `retry: ${retryMs}\n`}\n`;
}

/** The comment heartbeat. */
export const ssePing = ': ping\n\n';

/** Where one stream's events go (the SSE response). */
export interface StreamSink {
  /** a whole SSE event or comment; every stream of a job gets the same string for the same change */
  write(text: string): void;
  /** the job is settled (after its last event) or the hub is stopping */
  close(): void;
}

export interface JobEventsHubOptions {
  databaseUrl: string;
  fila: FilaDb;
  logger: pino.Logger;
  /** called for every transition (metrics) */
  onTransition?: (t: Transition) => void;
  /** called after each statement that re-read the watched jobs (metrics) */
  onRefresh?: () => void;
  /** called when a stream is refused past a cap (metrics) */
  onRefused?: (per: 'user' | 'process') => void;
  /** first reconnect delay; doubles up to 5 s */
  reconnectMs?: number;
  /** how often queued jobs' ETA is re-read and pushed when it changed (default 2 s) */
  etaRefreshMs?: number;
  /** comment heartbeat on every stream (default 15 s) */
  heartbeatMs?: number;
  /** how often open streams mark their queued jobs as seen, in one statement (default 10 s) */
  presenceTouchMs?: number;
  /** open streams per user (default 3) */
  maxStreamsPerUser?: number;
  /** open streams in this process (default 20 000) */
  maxStreams?: number;
}

/** One open stream: what it was last sent, as the few fields a change is judged by (not the JSON). */
interface Stream {
  jobId: string;
  userId: string;
  /** the caller owns the job (an operator watching someone's job does not keep it alive) */
  own: boolean;
  sink: StreamSink;
  status: JobStatus;
  position: number | null;
  eta: number | null;
  /** JSON text of the outputs (the same string for every stream of the job) */
  outputs: string;
  /** refreshes that began before this stream's first read carry older news: ignored */
  readyEpoch: number;
  closed: boolean;
}

/** A watched job: its streams, and its JSON as last read (one per job, not per stream). */
interface Watched {
  json: JobJson;
  streams: Stream[];
}

/** Events written to streams before the hub lets the event loop turn. */
const writesPerTurn = 500;

/** The outputs as users see them (each url is fila's copy once it landed): a copy that settled changes them. */
function outputsText(json: JobJson): string {
  return JSON.stringify(json.outputs);
}

export class JobEventsHub {
  private client: pg.Client | null = null;
  private readonly watchers = new Map<string, Watched>();
  private readonly perUser = new Map<string, number>();
  private open = 0;
  private stopped = false;
  private refreshing: Promise<void> | null = null;
  /** every watched job is to be re-read */
  private dirty = false;
  /** jobs attached since the last statement began (read alone when nothing asks for all) */
  private readonly fresh = new Set<string>();
  private epoch = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelay: number;
  private readonly timers: NodeJS.Timeout[] = [];
  /** this process, in fila.presence_services */
  private readonly instance = randomUUID();
  private get presenceEveryMs(): number { return this.opts.presenceTouchMs ?? 10_000; }
  readonly maxStreamsPerUser: number;
  readonly maxStreams: number;
  /** true while the LISTEN connection is up (healthz reports it) */
  listening = false;
  /** how many times the LISTEN connection has been (re)established */
  connects = 0;

  constructor(private readonly opts: JobEventsHubOptions) {
    this.reconnectDelay = opts.reconnectMs ?? 250;
    this.maxStreamsPerUser = opts.maxStreamsPerUser ?? 3;
    this.maxStreams = opts.maxStreams ?? 20_000;
  }

  /** Connect and LISTEN, and say that presence is heard here (which gives every queued job a fresh
   *  lease: its page reconnects to this process); resolves once listening (a failure here is the
   *  caller's to report). */
  async start(): Promise<void> {
    await this.connect();
    await this.opts.fila.presenceBeat(this.instance, this.presenceEveryMs);
    const every = (ms: number, fn: () => void) => {
      const timer = setInterval(fn, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.opts.etaRefreshMs ?? 2000, () => { if (this.anyQueued()) this.poke(); });
    every(this.opts.heartbeatMs ?? 15_000, () => { for (const s of this.streams()) s.sink.write(ssePing); });
    every(this.presenceEveryMs, () => { this.beat(); this.touchAll(); });
  }

  private async connect(): Promise<void> {
    // a direct session connection: LISTEN does not survive a transaction-mode pooler
    const client = new pg.Client({
      connectionString: this.opts.databaseUrl,
      options: '-c role=fila_app',
      application_name: 'fila-api-listen',
    });
    client.on('notification', (msg) => this.onNotification(msg.payload));
    client.on('error', (err) => {
      this.opts.logger.warn({ err }, 'LISTEN connection error; reconnecting');
      this.lost(client);
    });
    client.on('end', () => this.lost(client));
    await client.connect();
    try {
      await client.query('listen fila_jobs');
    } catch (err) {
      await client.end();
      throw err;
    }
    if (this.stopped) {
      await client.end();
      return;
    }
    this.client = client;
    this.listening = true;
    this.connects++;
    this.reconnectDelay = this.opts.reconnectMs ?? 250;
    if (this.connects > 1) {
      this.opts.logger.info('LISTEN connection re-established');
      this.poke(); // notifications sent while we were away are lost: re-read everything watched
    }
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = null;
    this.listening = false;
    client.removeAllListeners('notification');
    // pg emits 'error' and 'end' for the same loss; ending a broken client is best effort
    client.end().catch((err: unknown) => this.opts.logger.debug({ err }, 'closing a broken LISTEN connection'));
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, 5000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect().catch((err: unknown) => {
        this.opts.logger.warn({ err, retry_in_ms: this.reconnectDelay }, 'LISTEN reconnect failed');
        this.scheduleReconnect();
      });
    }, delay);
    this.reconnectTimer.unref();
  }

  private onNotification(payload: string | undefined): void {
    if (payload) {
      try {
        const t = JSON.parse(payload) as Transition | CopySettled;
        if ('status' in t) this.opts.onTransition?.(t);
      } catch (err) {
        this.opts.logger.warn({ err, payload }, 'unreadable fila_jobs notification');
      }
    }
    this.poke();
  }

  /**
   * Reserve a stream for this user before opening it: ApiError 429 past a cap. Call the returned
   * function once the stream is over (whether or not it was attached).
   */
  reserve(userId: string): () => void {
    if (this.open >= this.maxStreams) {
      this.opts.onRefused?.('process');
      throw new ApiError(429, 'too_many_event_streams',
        'Este servidor está com o máximo de acompanhamentos abertos. Tente de novo em instantes.', { limit: this.maxStreams, per: 'process' });
    }
    const mine = this.perUser.get(userId) ?? 0;
    if (mine >= this.maxStreamsPerUser) {
      this.opts.onRefused?.('user');
      throw new ApiError(429, 'too_many_event_streams',
        'Você já tem o máximo de acompanhamentos abertos. Feche outra aba.', { limit: this.maxStreamsPerUser, per: 'user' });
    }
    this.perUser.set(userId, mine + 1);
    this.open++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open--;
      const n = (this.perUser.get(userId) ?? 1) - 1;
      if (n <= 0) this.perUser.delete(userId);
      else this.perUser.set(userId, n);
    };
  }

  /**
   * Attach a stream whose job was read as `initial` (already sent by the caller). Returns the
   * function that detaches it. A transition between that read and now is caught: the refresh
   * this triggers began after the read.
   */
  attach(a: { jobId: string; userId: string; own: boolean; initial: JobJson; sink: StreamSink }): () => void {
    const { initial } = a;
    const stream: Stream = {
      jobId: a.jobId, userId: a.userId, own: a.own, sink: a.sink, status: initial.status, position: initial.position,
      eta: initial.eta, outputs: outputsText(initial), readyEpoch: this.epoch, closed: false,
    };
    const watched = this.watchers.get(a.jobId);
    if (watched) watched.streams.push(stream);
    else this.watchers.set(a.jobId, { json: initial, streams: [stream] });
    if (stream.own && initial.status === 'queued' && initial.presence) this.touch([stream]);
    this.fresh.add(a.jobId);
    this.schedule();
    return () => this.detach(stream);
  }

  private detach(stream: Stream): void {
    if (stream.closed) return;
    stream.closed = true;
    const watched = this.watchers.get(stream.jobId);
    if (!watched) return;
    const i = watched.streams.indexOf(stream);
    if (i >= 0) watched.streams.splice(i, 1);
    if (watched.streams.length === 0) this.watchers.delete(stream.jobId);
  }

  get watcherCount(): number {
    let n = 0;
    for (const w of this.watchers.values()) n += w.streams.length;
    return n;
  }

  private *streams(): Iterable<Stream> {
    for (const w of this.watchers.values()) yield* w.streams;
  }

  private anyQueued(): boolean {
    for (const s of this.streams()) if (s.status === 'queued') return true;
    return false;
  }

  /** Presence is heard here: without recent beats no queued job counts as abandoned. */
  private beat(): void {
    this.opts.fila.presenceBeat(this.instance, this.presenceEveryMs)
      .catch((err: unknown) => this.opts.logger.warn({ err }, 'presence beat failed'));
  }

  private touchAll(): void {
    const streams: Stream[] = [];
    for (const w of this.watchers.values()) {
      if (!w.json.presence) continue;
      for (const s of w.streams) if (s.own && s.status === 'queued') streams.push(s);
    }
    this.touch(streams);
  }

  private touch(streams: Stream[]): void {
    if (streams.length === 0) return;
    this.opts.fila.touchJobs(streams.map((s) => ({ jobId: s.jobId, userId: s.userId })))
      .catch((err: unknown) => this.opts.logger.warn({ err, streams: streams.length }, 'presence touch failed'));
  }

  /** Re-read every watched job soon (coalesced). */
  poke(): void {
    this.dirty = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped || this.refreshing) return; // a running loop sees what was asked meanwhile
    this.refreshing = this.refreshLoop().finally(() => {
      this.refreshing = null;
      // asked for between the loop's last look and now
      if (this.dirty || this.fresh.size > 0) this.schedule();
    });
  }

  /** One statement per round: every watched job when something may have moved them all (a
   *  transition, an ETA tick, a reconnect), else only the jobs attached since the last round began
   *  (a burst of opening streams re-reads just those, not every stream's job again). */
  private async refreshLoop(): Promise<void> {
    while ((this.dirty || this.fresh.size > 0) && !this.stopped) {
      const ids = this.dirty ? [...this.watchers.keys()] : [...this.fresh].filter((id) => this.watchers.has(id));
      this.dirty = false;
      this.fresh.clear();
      if (ids.length === 0) continue;
      const epoch = ++this.epoch;
      try {
        const rows = await this.opts.fila.watchedJobs(ids);
        this.opts.onRefresh?.();
        let written = 0;
        for (const row of rows) {
          const watched = this.watchers.get(row.id);
          // streams that attached after this statement began wait for the next one
          if (!watched?.streams.some((s) => !s.closed && s.readyEpoch < epoch)) continue;
          // back to queued after a requeue: the slot's fields are gone too, read the whole job once
          const json = row.json ?? (watched.json.status === 'queued' ? null : (await this.opts.fila.job(row.id)).json);
          written += this.apply(row, json, epoch);
          if (written >= writesPerTurn) {
            // let what was written leave (the sockets are uncorked between turns) before writing more:
            // thousands of events never wait in memory at once, and other work is not held up
            written = 0;
            await new Promise<void>((resolve) => { setImmediate(resolve); });
          }
        }
      } catch (err) {
        // the next notification or ETA tick tries again
        this.opts.logger.error({ err }, 're-reading watched jobs failed');
      }
    }
  }

  /** `json`: the job's JSON when it is not queued (null: it stays queued, only its place and ETA
   *  moved). Returns how many streams were written to. */
  private apply(row: WatchedJob, json: JobJson | null, epoch: number): number {
    const watched = this.watchers.get(row.id);
    if (!watched) return 0;
    let next = watched.json;
    if (json && !(next.status === 'queued' && json.status === 'queued')) next = json;
    else {
      // a queued job keeps what it was read with, at its new place (the hub's own copy: changed in place)
      next.position = row.position;
      next.eta = row.eta;
    }
    watched.json = next;
    const outputs = outputsText(next);
    const settled = isSettled(next);
    let text: string | null = null; // serialised once for all of the job's streams
    let written = 0;
    for (const s of settled ? [...watched.streams] : watched.streams) {
      if (s.closed || s.readyEpoch >= epoch) continue;
      if (s.status === next.status && s.position === next.position && s.eta === next.eta && s.outputs === outputs) continue;
      s.status = next.status;
      s.position = next.position;
      s.eta = next.eta;
      s.outputs = outputs;
      text ??= sseJobEvent(next);
      s.sink.write(text);
      written++;
      if (settled) {
        this.detach(s);
        s.sink.close();
      }
    }
    return written;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    for (const t of this.timers) clearInterval(t);
    for (const s of [...this.streams()]) s.sink.close();
    this.watchers.clear();
    await this.refreshing;
    const client = this.client;
    this.client = null;
    this.listening = false;
    if (client) {
      client.removeAllListeners('end');
      await client.end();
    }
  }
}
