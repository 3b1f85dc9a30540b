// The hub alone, over a stand-in for the database: which jobs each statement reads, and what each
// stream is sent. (events.test.ts runs the same paths over HTTP and PostgreSQL.)
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { FilaDb, JobJson, WatchedJob } from '../../db/fila.ts';
import { JobEventsHub, sseJobEvent, type StreamSink } from '../job-events.ts';
import { waitFor } from '../../dev/test-support/wait.ts';

function queuedJob(id: string, position: number): JobJson {
  return {
    id, eta: 60, tool: 'upscaler', error: null, input: { category: 'pessoas', image_url: 'https://files.example.com/a.png' },
    status: 'queued', account: null, outputs: null, user_id: `user-${id}`, position, presence: false,
    created_at: '2026-01-01T00:00:00+00:00', running_at: null, started_at: null, credit_cost: 2, deadline_at: null,
    finished_at: null, provider_task_id: null,
  } as JobJson;
}

/** watched_jobs answers from `places`; every statement's ids are kept. A hub whose statements have
 *  all come back (onRefresh: after each one, its rows applied in the same turn) is idle. */
function fakeDb(places: Map<string, number>) {
  const reads: string[][] = [];
  const done = { refreshes: 0 };
  const fila = {
    watchedJobs: (ids: readonly string[]) => {
      reads.push([...ids]);
      return Promise.resolve(ids.map((id): WatchedJob => ({ id, status: 'queued', position: places.get(id)!, eta: 60, json: null })));
    },
    touchJobs: () => Promise.resolve(),
  } as unknown as FilaDb;
  return { fila, reads, done, idle: () => done.refreshes === reads.length };
}

function sink(): StreamSink & { texts: string[]; closed: boolean } {
  const s = { texts: [] as string[], closed: false, write: (t: string) => { s.texts.push(t); }, close: () => { s.closed = true; } };
  return s;
}

describe('JobEventsHub', () => {
  it('reads only the jobs attached since the last statement for a burst of opening streams, and every job after a transition', async () => {
    const places = new Map([['a', 1], ['b', 2], ['c', 3]]);
    const { fila, reads, done, idle } = fakeDb(places);
    const hub = new JobEventsHub({ databaseUrl: 'postgres://unused', fila, logger: pino({ level: 'silent' }), onRefresh: () => { done.refreshes++; } });
    const attach = (id: string) => {
      const s = sink();
      hub.attach({ jobId: id, userId: `user-${id}`, own: true, initial: queuedJob(id, places.get(id)!), sink: s });
      return s;
    };
    const a = attach('a');
    await waitFor('the first read', () => reads.length === 1 && idle());
    const b = attach('b');
    const c = attach('c');
    await waitFor('the reads for b and c', () => reads.flat().includes('c') && idle());
    // a is not read again for streams that opened on other jobs
    expect(reads.slice(1).flat().sort()).toEqual(['b', 'c']);

    // a transition: every watched job in one statement, each stream told its new place
    places.set('a', 0);
    places.set('b', 1);
    places.set('c', 2);
    const before = reads.length;
    hub.poke();
    await waitFor('everyone moved', () => [a, b, c].every((s) => s.texts.length === 1));
    expect(reads.slice(before)).toEqual([['a', 'b', 'c']]);
    expect(b.texts).toEqual([sseJobEvent({ ...queuedJob('b', 2), position: 1 })]);
    await hub.stop();
    expect([a, b, c].every((s) => s.closed)).toBe(true);
  });

  it('sends the same event to every stream of a job, and nothing to a stream whose job did not change', async () => {
    const places = new Map([['a', 1]]);
    const { fila, reads, done, idle } = fakeDb(places);
    const hub = new JobEventsHub({ databaseUrl: 'postgres://unused', fila, logger: pino({ level: 'silent' }), onRefresh: () => { done.refreshes++; } });
    const streams = [sink(), sink(), sink()];
    for (const s of streams) hub.attach({ jobId: 'a', userId: 'user-a', own: true, initial: queuedJob('a', 1), sink: s });
    await waitFor('read', () => reads.length >= 1 && idle());
    const before = reads.length;
    hub.poke();
    await waitFor('read again', () => reads.length > before && idle());
    expect(streams.every((s) => s.texts.length === 0)).toBe(true);
    places.set('a', 0);
    hub.poke();
    await waitFor('moved', () => streams.every((s) => s.texts.length === 1));
    expect(new Set(streams.map((s) => s.texts[0])).size).toBe(1);
    await hub.stop();
  });
});
