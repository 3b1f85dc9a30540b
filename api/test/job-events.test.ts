// The hub alone, over real PostgreSQL: which jobs each of its statements reads, and what each
// stream is sent. The database is real; a subclass of FilaDb only records the ids each
// watched_jobs statement was asked for. (events.test.ts runs the same paths over HTTP.)
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FilaDb, type Job, type JobJson } from '../../db/fila.ts';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';
import { waitFor } from '../../dev/test-support/wait.ts';
import { JobEventsHub, type StreamSink } from '../job-events.ts';

let t: TestDatabase;
beforeAll(async () => { t = await createTestDatabase(); });
afterAll(async () => { await t.drop(); });
beforeEach(async () => {
  const { rows } = await t.admin.query<{ id: string }>(`select id from fila.jobs where status in ('queued','starting','running')`);
  for (const r of rows) await t.fila.cancelJob(r.id, null);
});

/** The real database; every watched_jobs statement's ids and every finished statement counted. */
class RecordingDb extends FilaDb {
  reads: string[][] = [];
  refreshes = 0;
  override async watchedJobs(ids: readonly string[]) {
    this.reads.push([...ids]);
    return super.watchedJobs(ids);
  }
  /** all statements asked for have come back and been applied (onRefresh runs after each) */
  idle(): boolean { return this.refreshes === this.reads.length; }
}

async function submit(n: number): Promise<Job> {
  return (await t.fila.submitJob({ userId: await fundedUser(t.fila), tool: 'upscaler', input: upscaleInput(n) })).job;
}

function sink(): StreamSink & { texts: string[]; closed: boolean } {
  const s = { texts: [] as string[], closed: false, write: (x: string) => { s.texts.push(x); }, close: () => { s.closed = true; } };
  return s;
}

/** The `position` of each `job` event a stream was sent. */
const places = (s: { texts: string[] }) => s.texts.map((x) => (JSON.parse(/^data: (.*)$/m.exec(x)![1]!) as JobJson).position);

function hubOver(db: RecordingDb): JobEventsHub {
  return new JobEventsHub({ databaseUrl: t.url, fila: db, logger: pino({ level: 'silent' }), onRefresh: () => { db.refreshes++; } });
}

describe('JobEventsHub', () => {
  it('reads only the jobs attached since its last statement for a burst of opening streams, and every watched job in one statement after a transition', async () => {
    const holders = [await submit(0), await submit(1), await submit(2)];
    const [a, b, c] = [await submit(3), await submit(4), await submit(5)];
    const db = new RecordingDb(t.pool(null, 2));
    const hub = hubOver(db);
    await hub.start();
    const attach = async (j: Job) => {
      const s = sink();
      hub.attach({ jobId: j.id, userId: j.user_id, own: true, initial: (await t.fila.job(j.id)).json, sink: s });
      return s;
    };
    const sa = await attach(a!);
    await waitFor('the first read', () => db.reads.length === 1 && db.idle());
    const sb = await attach(b!);
    const sc = await attach(c!);
    await waitFor('the reads for b and c', () => db.reads.flat().includes(c!.id) && db.idle());
    // a is not read again for streams that opened on other jobs
    expect(db.reads.slice(1).flat().sort()).toEqual([b!.id, c!.id].sort());
    expect([sa, sb, sc].every((s) => s.texts.length === 0)).toBe(true); // nothing changed yet

    // a real transition (LISTEN): every watched job in one statement, each stream told its new place
    const before = db.reads.length;
    await t.fila.finishJob(holders[0]!.id, 'completed', [{ url: 'https://out.test/x.png', type: 'png' }], null);
    await waitFor('a started and b, c moved up', () => places(sb).at(-1) === 1 && places(sc).at(-1) === 2 && sa.texts.length > 0);
    expect(db.reads.slice(before)[0]!.sort()).toEqual([a!.id, b!.id, c!.id].sort());
    expect((JSON.parse(/^data: (.*)$/m.exec(sa.texts.at(-1)!)![1]!) as JobJson).status).toBe('starting');
    await hub.stop();
    expect([sb, sc].every((s) => s.closed)).toBe(true);
  });

  it('sends the same event to every stream of a job, and nothing to a stream whose job did not change', async () => {
    for (let i = 0; i < 3; i++) await submit(i);
    const [x, y] = [await submit(3), await submit(4)];
    const db = new RecordingDb(t.pool(null, 2));
    const hub = hubOver(db);
    await hub.start();
    const initial = (await t.fila.job(y!.id)).json;
    const streams = [sink(), sink(), sink()];
    for (const s of streams) hub.attach({ jobId: y!.id, userId: y!.user_id, own: true, initial, sink: s });
    await waitFor('read', () => db.reads.length >= 1 && db.idle());
    const before = db.reads.length;
    hub.poke(); // a statement that finds nothing changed
    await waitFor('read again', () => db.reads.length > before && db.idle());
    expect(streams.every((s) => s.texts.length === 0)).toBe(true);
    await t.fila.cancelJob(x!.id, null); // y moves from 2 to 1
    await waitFor('moved', () => streams.every((s) => s.texts.length === 1));
    expect(new Set(streams.map((s) => s.texts[0])).size).toBe(1);
    expect(places(streams[0]!)).toEqual([1]);
    await hub.stop();
  });
});
