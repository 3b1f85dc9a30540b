// Submits of different users run side by side (the dispatch lock held shared), and still: FIFO by
// ticket, no lost wake-up, exact queue positions whatever the tickets' gaps, and an ETA that
// counts the slot holders' remaining time. Real concurrent connections, real PostgreSQL.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';
import { onConnections, rejected } from '../../dev/test-support/concurrency.ts';
import { observeSlots } from '../../dev/test-support/slot-observer.ts';
import { waitFor } from '../../dev/test-support/wait.ts';
import { FilaDb, type Job } from '../fila.ts';

let t: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  t = await createTestDatabase();
  pool = t.pool(null, Math.min(40, t.connectionBudget));
});
afterAll(async () => { await t.drop(); });

const ok = [{ url: 'https://out.test/x.png', type: 'png' }];

/** End every active job, so each test starts with three free slots and an empty queue. */
async function clear(): Promise<void> {
  const { rows } = await t.admin.query<{ id: string }>(`select id from fila.jobs where status in ('queued','starting','running')`);
  for (const r of rows) await t.fila.cancelJob(r.id, null);
}
beforeEach(clear);

async function submit(fila: FilaDb, n = 0): Promise<Job> {
  return (await fila.submitJob({ userId: await fundedUser(t.fila), tool: 'upscaler', input: upscaleInput(n) })).job;
}

/** `n` submits one after the other; those `rolledBack(i)` names draw a ticket and roll back (a gap). */
async function submitSome(n: number, rolledBack: (i: number) => boolean): Promise<void> {
  const c = await pool.connect();
  try {
    for (let i = 0; i < n; i++) {
      if (rolledBack(i)) {
        await c.query('begin');
        await new FilaDb(c).submitJob({ userId: await fundedUser(t.fila), tool: 'upscaler', input: upscaleInput(i) });
        await c.query('rollback');
      } else {
        await submit(t.fila, i);
      }
    }
  } finally {
    c.release();
  }
}

async function fillSlots(): Promise<Job[]> {
  const jobs = [await submit(t.fila), await submit(t.fila), await submit(t.fila)];
  expect(jobs.map((j) => j.status)).toEqual(['starting', 'starting', 'starting']);
  return jobs;
}

async function backendPid(c: pg.PoolClient): Promise<number> {
  return (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
}

/** What a backend is doing: 'advisory' while it waits for the dispatch lock. */
async function waitEvent(pid: number): Promise<{ wait_event: string | null; state: string }> {
  const { rows: [r] } = await t.admin.query<{ wait_event: string | null; state: string }>(
    'select wait_event, state from pg_stat_activity where pid = $1', [pid]);
  return r!;
}

/** The queue view's positions (row_number over the whole queue: the slow, obviously right way). */
async function viewPositions(): Promise<Map<string, number>> {
  const { rows } = await t.admin.query<{ job_id: string; position: number }>('select job_id, position from fila.queue');
  return new Map(rows.map((r) => [r.job_id, r.position]));
}

async function expectExactPositions(): Promise<number> {
  const expected = await viewPositions();
  for (const [id, position] of expected) expect(await t.fila.queuePosition(id), `job ${id}`).toBe(position);
  // and the one-statement read the event streams use agrees
  const watched = await t.fila.watchedJobs([...expected.keys()]);
  for (const w of watched) expect(w.position, `watched ${w.id}`).toBe(expected.get(w.id));
  return expected.size;
}

describe('parallel submits', () => {
  it('lets another user submit while a submit is still open with every slot busy (no wait for the dispatch lock)', async () => {
    await fillSlots();
    const [a, b] = [await pool.connect(), await pool.connect()];
    try {
      await a.query('begin');
      const open = await new FilaDb(a).submitJob({ userId: await fundedUser(t.fila), tool: 'upscaler', input: upscaleInput(1) });
      expect(open.job.status).toBe('queued');
      // b's submit completes although a still holds the dispatch lock (shared): it never waits for it
      const pid = await backendPid(b);
      const pending = new FilaDb(b).submitJob({ userId: await fundedUser(t.fila), tool: 'upscaler', input: upscaleInput(2) });
      let waitedForLock = false;
      let done = false;
      void pending.then(() => { done = true; }, () => { done = true; });
      await waitFor('the second submit to finish or to wait for the lock', async () => {
        if ((await waitEvent(pid)).wait_event === 'advisory') waitedForLock = true;
        return done || waitedForLock;
      });
      expect(waitedForLock).toBe(false);
      expect((await pending).job.status).toBe('queued');
      await a.query('commit');
      // tickets: a drew first, so a is ahead although b committed first
      expect(await t.fila.queuePosition(open.job.id)).toBe(1);
      expect(await t.fila.queuePosition((await pending).job.id)).toBe(2);
    } finally {
      await a.query('rollback'); // after the commit: a warning, nothing to undo
      a.release(); b.release();
    }
  });

  it('makes a finish wait for the submits in flight and then start the oldest ticket, not a later submit that committed first', async () => {
    const holders = await fillSlots();
    const [a, f, b] = [await pool.connect(), await pool.connect(), await pool.connect()];
    try {
      await a.query('begin');
      const early = (await new FilaDb(a).submitJob({ userId: await fundedUser(t.fila), tool: 'upscaler', input: upscaleInput(1) })).job;
      const pid = await backendPid(f);
      const finishing = new FilaDb(f).finishJob(holders[0]!.id, 'completed', ok, null);
      await waitFor('the finish to wait for the open submit', async () => (await waitEvent(pid)).wait_event === 'advisory');
      // a submit that begins now queues behind the waiting finish, and draws a later ticket
      const late = new FilaDb(b).submitJob({ userId: await fundedUser(t.fila), tool: 'upscaler', input: upscaleInput(2) });
      await a.query('commit');
      await finishing;
      const lateJob = (await late).job;
      expect((await t.fila.job(early.id)).job.status).toBe('starting');
      expect((await t.fila.job(lateJob.id)).job.status).toBe('queued');
      expect(lateJob.queue_seq).toBeGreaterThan(early.queue_seq);
    } finally {
      await a.query('rollback'); // after the commit: a warning, nothing to undo
      a.release(); f.release(); b.release();
    }
  });

  it('starts every job in ticket order and never leaves a free slot beside a queued job while 30 connections submit, finish and cancel at once', async () => {
    const users = await Promise.all(Array.from({ length: 120 }, () => fundedUser(t.fila)));
    let racing = true;
    const observer = observeSlots(t.admin);
    const finisher = (async () => {
      const fila = new FilaDb(t.pool(null, 2));
      while (racing) {
        const { rows: [j] } = await t.admin.query<{ id: string; status: string }>(
          `select id, status from fila.jobs where status in ('starting','running','queued') order by random() limit 1`);
        if (!j) { await new Promise((r) => setTimeout(r, 2)); continue; }
        if (j.status === 'queued') await fila.cancelJob(j.id, null); // out of order: a hole mid-queue
        else await fila.finishJob(j.id, 'completed', ok, null);
      }
    })();
    let results: PromiseSettledResult<void>[];
    try {
      results = await onConnections(pool, 30, async (client, i) => {
        const fila = new FilaDb(client);
        for (let k = 0; k < 4; k++) {
          const user = users[i * 4 + k]!;
          if (k === 2) {
            // a submit rolled back after drawing its ticket: a gap
            await client.query('begin');
            await fila.submitJob({ userId: user, tool: 'upscaler', input: upscaleInput(k) });
            await client.query('rollback');
          } else {
            await fila.submitJob({ userId: user, tool: 'upscaler', input: upscaleInput(k) });
          }
        }
      });
    } finally {
      racing = false;
    }
    const { samples, violations } = await observer.stop();
    await finisher;
    expect(rejected(results)).toEqual([]);
    await expectExactPositions();
    expect(violations).toEqual([]);
    expect(samples).toBeGreaterThan(10);
    const { rows } = await t.admin.query<{ queue_seq: number }>(
      `select j.queue_seq from fila.job_timeline e join fila.jobs j on j.id = e.job_id
        where e.from_status = 'queued' and e.to_status = 'starting' order by e.event_id`);
    const seqs = rows.map((r) => r.queue_seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(await t.fila.creditAudit()).toEqual([]);
  });

  it('keeps queue_position exact across rolled-back tickets, before and after a transition resolves them', async () => {
    await fillSlots();
    await submitSome(12, (i) => i % 3 === 1);
    // not resolved yet: positions past the last resolved ticket are counted directly
    expect(await expectExactPositions()).toBe(8);
    // a transition (exclusive lock) records the gaps; a cancel in the middle leaves a hole too
    const queue = [...(await viewPositions()).keys()];
    await t.fila.cancelJob(queue[3]!, null);
    const { rows: [g] } = await t.admin.query<{ n: number }>('select count(*)::int as n from fila.ticket_gaps');
    expect(g!.n).toBeGreaterThanOrEqual(4);
    expect(await expectExactPositions()).toBe(7);
    await submit(t.fila, 99); // past the resolved tickets again
    expect(await expectExactPositions()).toBe(8);
  });

  it('resolves a burst of tickets without a status change, only past the threshold and only after the submits in flight', async () => {
    await fillSlots();
    const resolved = async () => Number((await t.admin.query<{ n: string }>('select tickets_resolved as n from fila.dispatch_state')).rows[0]!.n);
    await submitSome(6, (i) => i === 2); // the rolled-back ticket is a gap once resolved
    const before = await resolved();
    // seven handed out since the last status change (the last dispatcher's own ticket came after
    // its lock, then the six): too few to bother below eight
    expect(await t.fila.resolveTickets(8)).toBe(0);
    expect(await resolved()).toBe(before);

    const [a, b] = [await pool.connect(), await pool.connect()];
    try {
      await a.query('begin');
      const open = await new FilaDb(a).submitJob({ userId: await fundedUser(t.fila), tool: 'upscaler', input: upscaleInput(7) });
      const pid = await backendPid(b);
      const resolving = new FilaDb(b).resolveTickets(1);
      // it waits for the submit in flight: its ticket is neither a job nor a gap yet
      await waitFor('resolve_tickets to wait for the dispatch lock', async () => (await waitEvent(pid)).wait_event === 'advisory');
      expect(await resolved()).toBe(before);
      await a.query('commit');
      expect(await resolving).toBe(8);
      expect(await resolved()).toBe(Number(open.job.queue_seq));
      expect(Number(open.job.queue_seq) - before).toBe(8);
    } finally {
      a.release();
      b.release();
    }
    const { rows: [g] } = await t.admin.query<{ n: number }>(
      'select count(*)::int as n from fila.ticket_gaps where queue_seq > $1', [before]);
    expect(g!.n).toBe(1);
    expect(await expectExactPositions()).toBe(6);
  });

  it('refuses a submit under REPEATABLE READ, where its free-slot check could not see what committed', async () => {
    const c = await pool.connect();
    try {
      await c.query('begin isolation level repeatable read');
      await expect(new FilaDb(c).submitJob({ userId: await fundedUser(t.fila), tool: 'upscaler', input: upscaleInput() }))
        .rejects.toThrow(/READ COMMITTED/);
    } finally {
      await c.query('rollback');
      c.release();
    }
  });

  it('runs fila\'s functions without JIT', async () => {
    const { rows } = await t.admin.query<{ proname: string }>(
      `select p.proname from pg_proc p
        where p.pronamespace = 'fila'::regnamespace and p.prosecdef
          and not coalesce('jit=off' = any(p.proconfig), false)
          and p.proname not in ('credit_balance', 'grant_credits', 'webhook', 'mark_webhook_processed', 'job_created_by_this_transaction')`);
    expect(rows).toEqual([]);
  });
});

describe('the ETA', () => {
  /** Completed history, newer than any other: `n` jobs of a tool that held a slot `seconds` each. */
  async function history(tool: string, seconds: number, n: number, outcome: 'completed' | 'failed' = 'completed'): Promise<void> {
    for (let i = 0; i < n; i++) {
      const job = await submit(t.fila, i);
      await t.admin.query(`update fila.jobs set tool = $2 where id = $1`, [job.id, tool]);
      if (outcome === 'completed') await t.fila.finishJob(job.id, 'completed', ok, null);
      else await t.fila.finishJob(job.id, 'failed', null, 'Nenhum rosto detectado na imagem de referência.');
      await t.admin.query(
        `update fila.jobs set started_at = now() - make_interval(secs => $2), finished_at = now() where id = $1`,
        [job.id, seconds]);
    }
  }
  async function startedAgo(jobId: string, seconds: number): Promise<void> {
    await t.admin.query(`update fila.jobs set started_at = now() - make_interval(secs => $2) where id = $1`, [jobId, seconds]);
  }

  it('counts the holders\' remaining time per tool and the jobs ahead, and counts down as time passes', async () => {
    // the 50 most recent completions (what the ETA averages): 25 upscales of 30 s, 25 videos of 600 s
    await history('upscaler', 30, 25);
    await history('video_upscaler', 600, 25);
    const holders = await fillSlots();
    // two upscales 10 s into their 30 s, one video 100 s into its 600 s
    await startedAgo(holders[0]!.id, 10);
    await startedAgo(holders[1]!.id, 10);
    await t.admin.query(`update fila.jobs set tool = 'video_upscaler' where id = $1`, [holders[2]!.id]);
    await startedAgo(holders[2]!.id, 100);
    const queued: Job[] = [];
    for (let i = 0; i < 6; i++) queued.push(await submit(t.fila, i));
    // the jobs ahead take the recent average over all tools: (30 + 600) / 2 = 315 s
    const eta = async (j: Job) => (await t.fila.job(j.id)).json.eta!;
    // openings: 20, 20 (the upscales), then each of those slots every 315 s; the video's at 500
    expect(await eta(queued[0]!)).toBeGreaterThanOrEqual(20);
    expect(await eta(queued[0]!)).toBeLessThanOrEqual(21);
    expect(await eta(queued[1]!)).toBeLessThanOrEqual(21);
    expect(Math.abs(await eta(queued[2]!) - 335)).toBeLessThanOrEqual(1);
    expect(Math.abs(await eta(queued[4]!) - 500)).toBeLessThanOrEqual(1); // the video's slot
    expect(Math.abs(await eta(queued[5]!) - 650)).toBeLessThanOrEqual(1);
    // ten seconds later (as if): every estimate is ten seconds shorter
    for (const h of holders) await t.admin.query(`update fila.jobs set started_at = started_at - interval '10 seconds' where id = $1`, [h.id]);
    expect(await eta(queued[0]!)).toBeLessThanOrEqual(11);
    expect(Math.abs(await eta(queued[4]!) - 490)).toBeLessThanOrEqual(1);
    // the event streams' one-statement read gives the same estimates
    const watched = await t.fila.watchedJobs(queued.map((j) => j.id));
    for (const w of watched) expect(Math.abs(w.eta! - await eta(queued.find((j) => j.id === w.id)!))).toBeLessThanOrEqual(1);
  });

  it('takes every slot a job gave back, failures included, and one long hold does not set the pace', async () => {
    // the last 50 jobs that gave a slot back are all upscales (their mix paces the jobs ahead);
    // the last 20 of them: 11 completions of 30 s, 8 failures that gave the slot back after 5 s,
    // and one completion held 900 s (a lost webhook the reaper recovered late)
    await history('upscaler', 30, 30 + 11);
    await history('upscaler', 5, 8, 'failed');
    await history('upscaler', 900, 1);
    const holders = await fillSlots(); // three upscales, just started
    const queued: Job[] = [];
    for (let i = 0; i < 4; i++) queued.push(await submit(t.fila, i));
    // slots come back every ~20.6 s (the trimmed mean: the shortest and longest tenth left out,
    // (6 × 5 + 10 × 30) / 16); the completions' mean with the 900 s hold would say 102.5 s, and
    // the completions alone, even trimmed, 30 s
    const eta = async (j: Job) => (await t.fila.job(j.id)).json.eta!;
    expect(holders).toHaveLength(3);
    expect(await eta(queued[0]!)).toBeGreaterThanOrEqual(20);
    expect(await eta(queued[0]!)).toBeLessThanOrEqual(22);
    expect(Math.abs(await eta(queued[3]!) - 42)).toBeLessThanOrEqual(2);
  });

  it('paces a tool with no recent history by its typical_duration, not by the other tools', async () => {
    await history('upscaler', 30, 50); // the last 200 ended jobs hold no try-on
    await t.admin.query(`update fila.tools set typical_duration = interval '45 seconds' where tool = 'veste_ai'`);
    try {
      const holders = await fillSlots();
      for (const h of holders) await t.admin.query(`update fila.jobs set tool = 'veste_ai' where id = $1`, [h.id]);
      const next = await submit(t.fila);
      // three try-ons just started: the first slot back in about 45 s (the upscales' 30 s said before)
      const eta = (await t.fila.job(next.id)).json.eta!;
      expect(eta).toBeGreaterThanOrEqual(44);
      expect(eta).toBeLessThanOrEqual(45);
    } finally {
      await t.admin.query(`update fila.tools set typical_duration = interval '1 minute' where tool = 'veste_ai'`);
    }
  });
});
