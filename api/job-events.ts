// Live job updates: one LISTEN connection per process on `fila_jobs`, fanned out to every open
// event stream. A notification names one job, but any transition can move queue positions, so on
// every notification the hub re-reads all watched jobs (one statement) and each watcher pushes
// only when its job's status or position changed. Bursts coalesce: while a re-read runs, more
// notifications just mark it dirty and one more re-read follows.
import pg from 'pg';
import type pino from 'pino';
import type { FilaDb, JobJson, JobStatus } from '../db/fila.ts';

export interface Transition { job_id: string; status: JobStatus }

export interface Watcher {
  onJob(json: JobJson): void;
  /** the hub is shutting down */
  onClose(): void;
}

export interface JobEventsHubOptions {
  databaseUrl: string;
  fila: FilaDb;
  logger: pino.Logger;
  /** called for every transition (metrics) */
  onTransition?: (t: Transition) => void;
  /** first reconnect delay; doubles up to 5 s */
  reconnectMs?: number;
}

export class JobEventsHub {
  private client: pg.Client | null = null;
  private readonly watchers = new Map<string, Set<Watcher>>();
  private stopped = false;
  private refreshing: Promise<void> | null = null;
  private dirty = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelay: number;
  /** true while the LISTEN connection is up (healthz reports it) */
  listening = false;
  /** how many times the LISTEN connection has been (re)established */
  connects = 0;

  constructor(private readonly opts: JobEventsHubOptions) {
    this.reconnectDelay = opts.reconnectMs ?? 250;
  }

  /** Connect and LISTEN; resolves once listening (a failure here is the caller's to report). */
  async start(): Promise<void> {
    await this.connect();
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
        const t = JSON.parse(payload) as Transition;
        this.opts.onTransition?.(t);
      } catch (err) {
        this.opts.logger.warn({ err, payload }, 'unreadable fila_jobs notification');
      }
    }
    this.poke();
  }

  /** Watch one job; returns the function that stops watching. */
  watch(jobId: string, watcher: Watcher): () => void {
    let set = this.watchers.get(jobId);
    if (!set) {
      set = new Set();
      this.watchers.set(jobId, set);
    }
    set.add(watcher);
    return () => {
      const s = this.watchers.get(jobId);
      if (!s) return;
      s.delete(watcher);
      if (s.size === 0) this.watchers.delete(jobId);
    };
  }

  get watcherCount(): number {
    let n = 0;
    for (const s of this.watchers.values()) n += s.size;
    return n;
  }

  /** Re-read every watched job soon (coalesced). */
  poke(): void {
    if (this.stopped) return;
    if (this.refreshing) {
      this.dirty = true;
      return;
    }
    this.refreshing = this.refreshLoop().finally(() => { this.refreshing = null; });
  }

  private async refreshLoop(): Promise<void> {
    do {
      this.dirty = false;
      const ids = [...this.watchers.keys()];
      if (ids.length === 0) continue;
      try {
        const jobs = await this.opts.fila.jobsJson(ids);
        for (const json of jobs) {
          for (const w of this.watchers.get(json.id) ?? []) w.onJob(json);
        }
      } catch (err) {
        // the next notification (or a stream's periodic check) tries again
        this.opts.logger.error({ err }, 're-reading watched jobs failed');
      }
    } while (this.dirty && !this.stopped);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    for (const set of this.watchers.values()) for (const w of set) w.onClose();
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
