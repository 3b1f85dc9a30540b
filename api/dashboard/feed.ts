// One reader of the dashboard's views per API process, however many operators watch: it re-reads
// while at least one stream is open and tells each subscriber only when something changed.
import type pino from 'pino';
import type { FilaDb } from '../../db/fila.ts';
import { fingerprint, readHistory, readSnapshot, type DashboardSnapshot, type HistoryWindow } from './snapshot.ts';

type Listener = (s: DashboardSnapshot) => void;
interface Subscriber { listener: Listener; onEnd: () => void }

export class SnapshotFeed {
  private readonly listeners = new Set<Listener>();
  private readonly ends = new Map<Listener, () => void>();
  private timer: NodeJS.Timeout | null = null;
  private last: { snapshot: DashboardSnapshot; print: string } | null = null;
  private reading: Promise<DashboardSnapshot> | null = null;
  private closed = false;
  private history: { value: HistoryWindow; readAt: number; mark: string } | null = null;

  constructor(
    private readonly db: FilaDb,
    private readonly development: boolean,
    private readonly pollMs: number,
    private readonly logger?: pino.Logger,
    /** how old the charts' history may get before it is read again (ms): it scans hours of events */
    private readonly historyMs = 5_000,
    /** …and how soon it is read again when something happened (the charts follow the tiles) */
    private readonly historyAfterChangeMs = 1_000,
  ) {}

  /** A fresh snapshot (concurrent callers share one read). */
  read(): Promise<DashboardSnapshot> {
    this.reading ??= this.readBoth().finally(() => { this.reading = null; });
    return this.reading;
  }

  private async readBoth(): Promise<DashboardSnapshot> {
    const present = await readSnapshot(this.db, this.development);
    // what moves the charts: the levels, an outcome, a refund
    const mark = JSON.stringify([present.overview.queued, present.overview.slots_used, present.recent.map((r) => r.status), present.refunds]);
    const cached = this.history;
    const age = cached ? Date.now() - cached.readAt : Infinity;
    const due = !cached || age >= this.historyMs || (mark !== cached.mark && age >= this.historyAfterChangeMs);
    if (!due) return { ...present, history: cached.value };
    const history = await readHistory(this.db);
    this.history = { value: history, readAt: Date.now(), mark };
    return { ...present, history };
  }

  /** `onEnd` runs when the feed closes (the server is shutting down). */
  subscribe({ listener, onEnd }: Subscriber): () => void {
    this.listeners.add(listener);
    this.ends.set(listener, onEnd);
    if (this.last) listener(this.last.snapshot);
    else {
      this.read().then((s) => { if (this.listeners.has(listener)) listener(s); },
        (err: unknown) => this.logger?.warn({ err }, 'dashboard: reading the views failed'));
    }
    this.timer ??= setInterval(() => { void this.tick(); }, this.pollMs);
    return () => {
      this.listeners.delete(listener);
      this.ends.delete(listener);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
        this.last = null;
      }
    };
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.listeners.clear();
    const ends = [...this.ends.values()];
    this.ends.clear();
    for (const end of ends) end();
  }

  private async tick(): Promise<void> {
    if (this.closed) return;
    try {
      const snapshot = await this.read();
      const print = fingerprint(snapshot);
      const isNew = this.last === null;
      if (!isNew && print === this.last!.print) return;
      this.last = { snapshot, print };
      for (const l of this.listeners) l(snapshot);
    } catch (err) {
      // the next tick tries again; an operator sees the stale "updated" time meanwhile
      this.logger?.warn({ err }, 'dashboard: reading the views failed');
    }
  }
}
