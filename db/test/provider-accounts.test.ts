// Several provider accounts behind one queue: each account's slots and the global cap hold, the
// queue stays one FIFO, trouble on one account pauses only that account — proven in SQL, with many
// connections at once for the limits.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { spreadOverConnections, fulfilled, rejected } from '../../dev/test-support/concurrency.ts';
import { fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';
import { FilaDb, type Job } from '../fila.ts';

let t: TestDatabase;
let pool: pg.Pool;
/** connections at once for the submitters: the file's budget less the race's six finishers and the admin's */
let submitters: number;
beforeAll(async () => {
  t = await createTestDatabase();
  submitters = Math.min(60, t.connectionBudget - 8);
  pool = t.pool(null, submitters);
});
afterAll(async () => { await t.drop(); });

/** Nothing holds a slot or waits, and the accounts are exactly `accounts` (name → slots), all unpaused. */
async function reset(cap: number, accounts: Record<string, number>): Promise<void> {
  await t.admin.query(`update fila.jobs set status = 'canceled', finished_at = now() where status in ('queued', 'starting', 'running')`);
  await t.admin.query(`update fila.provider_accounts set enabled = false, paused_until = null, pause_reason = null, backoff_step = 0, pauses = 0, refusals = 0`);
  await t.admin.query('update fila.settings set max_slots = $1, backoff_base = $2, backoff_max = $3', [cap, '1 hour', '4 hours']);
  for (const [name, slots] of Object.entries(accounts)) await t.fila.setProviderAccount(name, slots);
}

async function submitMany(n: number, tool = 'upscaler'): Promise<Job[]> {
  const jobs: Job[] = [];
  for (let i = 0; i < n; i++) {
    const user = await fundedUser(t.fila);
    jobs.push((await t.fila.submitJob({ userId: user, tool, input: upscaleInput(i) })).job);
  }
  return jobs;
}

async function jobs(ids: string[]): Promise<Job[]> {
  return Promise.all(ids.map(async (id) => (await t.fila.job(id)).job));
}

async function usedPerAccount(): Promise<Record<string, number>> {
  const rows = await t.fila.providerAccounts();
  return Object.fromEntries(rows.filter((r) => r.slots_used > 0).map((r) => [r.account, r.slots_used]));
}

/** Dispatch order: the `queued -> starting` events in the order they were written (dispatch is serial). */
async function startOrder(since = 0): Promise<string[]> {
  const { rows } = await t.admin.query<{ job_id: string }>(
    `select job_id from fila.job_timeline where from_status = 'queued' and to_status = 'starting' and event_id > $1
      order by event_id`, [since]);
  return rows.map((r) => r.job_id);
}

async function lastEventId(): Promise<number> {
  const { rows } = await t.admin.query<{ id: number }>('select coalesce(max(id), 0)::int as id from fila.job_events');
  return rows[0]!.id;
}

beforeEach(async () => { await reset(10, { a: 2, b: 2 }); });

describe('the default account', () => {
  it('is seeded by the migration with the global max_slots, so an upgraded installation behaves as before', async () => {
    const fresh = await createTestDatabase();
    try {
      expect(await fresh.fila.providerAccounts()).toEqual([{
        account: 'default', slots_total: 3, slots_used: 0, enabled: true, paused_until: null, pause_reason: null,
        backoff_step: 0, pauses: 0, refusals: 0,
      }]);
      expect((await fresh.fila.queueOverview()).slots_total).toBe(3);
    } finally {
      await fresh.drop();
    }
  });
});

describe('dispatch over accounts', () => {
  it('two accounts with 2 slots each and a global cap of 10: 4 occupy, 2 per account, the rest queue in order', async () => {
    const all = await submitMany(7);
    const now = await jobs(all.map((j) => j.id));
    expect(now.map((j) => j.status)).toEqual(['starting', 'starting', 'starting', 'starting', 'queued', 'queued', 'queued']);
    // most free slots first, ties by name: a, b, a, b
    expect(now.slice(0, 4).map((j) => j.account)).toEqual(['a', 'b', 'a', 'b']);
    expect(now.slice(4).map((j) => j.account)).toEqual([null, null, null]);
    expect(await usedPerAccount()).toEqual({ a: 2, b: 2 });
    for (const [i, j] of now.slice(4).entries()) expect(await t.fila.queuePosition(j.id)).toBe(i + 1);
    const o = await t.fila.queueOverview();
    expect([o.slots_total, o.slots_used, o.queued]).toEqual([4, 4, 3]);

    // a slot frees on b: the head of the queue takes it, on b
    await t.fila.finishJob(now[1]!.id, 'completed', [], null);
    const [next] = await jobs([now[4]!.id]);
    expect([next!.status, next!.account]).toEqual(['starting', 'b']);
    expect((await jobs([now[5]!.id]))[0]!.status).toBe('queued');
  });

  it('the global cap of 3 with the same accounts: 3 occupy, never a fourth', async () => {
    await t.admin.query('update fila.settings set max_slots = 3');
    const all = await submitMany(5);
    const now = await jobs(all.map((j) => j.id));
    expect(now.map((j) => j.status)).toEqual(['starting', 'starting', 'starting', 'queued', 'queued']);
    expect(now.slice(0, 3).map((j) => j.account)).toEqual(['a', 'b', 'a']);
    expect(await t.fila.dispatch()).toEqual([]);
    const o = await t.fila.queueOverview();
    expect([o.slots_total, o.slots_used]).toEqual([3, 3]);
  });

  it('takes the head of the queue whatever its tool: no job overtakes another because of accounts', async () => {
    await t.admin.query('update fila.settings set max_slots = 2');
    const first = await submitMany(2, 'upscaler');
    const video = (await t.fila.submitJob({ userId: await fundedUser(t.fila), tool: 'video_upscaler', input: { video_url: 'https://f.test/v.mp4' } })).job;
    const pose = (await t.fila.submitJob({ userId: await fundedUser(t.fila), tool: 'pose_changer',
      input: { person_image_url: 'https://f.test/p.png', pose_image_url: 'https://f.test/q.png' } })).job;
    const mark = await lastEventId();
    await t.fila.finishJob(first[0]!.id, 'completed', [], null);
    await t.fila.finishJob(first[1]!.id, 'completed', [], null);
    expect(await startOrder(mark)).toEqual([video.id, pose.id]);
  });

  it('an account answering with trouble is paused alone: its job keeps its place and starts on the other account, which keeps dispatching in FIFO order', async () => {
    const all = await submitMany(6);
    const [a1, b1, a2, b2, q1, q2] = all;
    expect((await jobs([a1!.id, b1!.id])).map((j) => j.account)).toEqual(['a', 'b']);
    // b's key is refused (802): its job goes back to the queue at its place, b pauses
    const mark = await lastEventId();
    const back = await t.fila.requeueJob(b1!.id, 'RunningHub 802 APIKEY_UNAUTHORIZED');
    expect(back.account).toBeNull();
    expect(back.status).toBe('queued'); // a is full, b is paused: it waits, at the head
    expect(await t.fila.queuePosition(b1!.id)).toBe(1);
    expect(await t.fila.queuePosition(q1!.id)).toBe(2);
    const accounts = await t.fila.providerAccounts();
    const b = accounts.find((x) => x.account === 'b')!;
    expect([b.pause_reason, b.backoff_step, b.pauses, b.refusals]).toEqual(['RunningHub 802 APIKEY_UNAUTHORIZED', 1, 1, 1]);
    expect(b.paused_until!.getTime() - Date.now()).toBeGreaterThan(59 * 60_000);
    const a = accounts.find((x) => x.account === 'a')!;
    expect([a.paused_until, a.pause_reason, a.backoff_step, a.refusals]).toEqual([null, null, 0, 0]);
    const timeline = await t.fila.jobTimeline(b1!.id);
    expect(timeline.at(-1)!.reason).toBe('requeued: RunningHub 802 APIKEY_UNAUTHORIZED (account b)');
    // not every account is paused: dispatch as a whole is not
    expect((await t.fila.queueOverview()).dispatch_paused_until).toBeNull();

    // a frees slots: the requeued job first, then the queue in order, all on a; nothing lands on b
    await t.fila.finishJob(a1!.id, 'completed', [], null);
    await t.fila.finishJob(a2!.id, 'failed', null, 'CUDA out of memory');
    expect(await startOrder(mark)).toEqual([b1!.id, q1!.id]);
    expect((await jobs([b1!.id, q1!.id])).map((j) => j.account)).toEqual(['a', 'a']);
    await t.fila.finishJob(b1!.id, 'completed', [], null);
    expect(await startOrder(mark)).toEqual([b1!.id, q1!.id, q2!.id]);
    expect(await usedPerAccount()).toEqual({ a: 2, b: 1 }); // b2 still holds its slot: nothing preempted
    expect((await jobs([b2!.id]))[0]!.status).toBe('starting');
    // the wake-up of b's pause is scheduled, one per account
    const { rows: wake } = await t.admin.query<{ key: string }>(
      `select key from graphile_worker.jobs where task_identifier = 'dispatch'`);
    expect(wake.map((w) => w.key)).toEqual(['fila_dispatch_wakeup:b']);
    // nobody was charged twice or refunded for b's trouble
    const { rows: ledger } = await t.admin.query(`select kind from fila.credit_ledger where job_id = $1`, [b1!.id]);
    expect(ledger).toEqual([{ kind: 'debit' }]);
  });

  it('grows an account\'s back-off once per pause and ends it when that account accepts a task, starting queued jobs on it at once', async () => {
    const [a1, b1, , b2, q1] = await submitMany(6);
    await t.fila.requeueJob(b1!.id, 'RunningHub 421 TASK_QUEUE_MAXED');
    // a second refusal during the same pause counts but does not grow the back-off
    await t.fila.requeueJob(b2!.id, 'RunningHub 421 TASK_QUEUE_MAXED');
    let b = (await t.fila.providerAccounts()).find((x) => x.account === 'b')!;
    expect([b.backoff_step, b.pauses, b.refusals, b.slots_used]).toEqual([1, 1, 2, 0]);
    // the pause runs out; a slot frees on a: b (most free slots) takes the head, a the next, b the next
    await t.admin.query(`update fila.provider_accounts set paused_until = now() - interval '1 second' where account = 'b'`);
    await t.fila.finishJob(a1!.id, 'completed', [], null);
    expect((await jobs([b1!.id, b2!.id, q1!.id])).map((j) => j.account)).toEqual(['b', 'a', 'b']);
    // b refuses again: the back-off doubles
    await t.fila.requeueJob(b1!.id, 'RunningHub 421 TASK_QUEUE_MAXED');
    b = (await t.fila.providerAccounts()).find((x) => x.account === 'b')!;
    expect([b.backoff_step, b.pauses, b.refusals, b.slots_used]).toEqual([2, 2, 3, 1]);
    expect(b.paused_until!.getTime() - Date.now()).toBeGreaterThan(119 * 60_000);
    expect((await jobs([b1!.id]))[0]!.status).toBe('queued'); // a is full, b paused: it waits at the head

    // a task accepted on b (q1, starting there when the pause began) ends b's back-off, and b's free
    // slot goes to the head of the queue at once, not at the end of the hour
    await t.fila.markRunning(q1!.id, 'task-on-b');
    b = (await t.fila.providerAccounts()).find((x) => x.account === 'b')!;
    expect([b.paused_until, b.pause_reason, b.backoff_step, b.slots_used]).toEqual([null, null, 0, 2]);
    expect((await jobs([b1!.id]))[0]!.account).toBe('b');
  });

  it('dispatch as a whole is paused only when every enabled account is', async () => {
    const [a1, b1] = await submitMany(2);
    await t.fila.requeueJob(b1!.id, 'RunningHub 812 CORPAPIKEY_INSUFFICIENT_FUNDS');
    expect((await t.fila.queueOverview()).dispatch_paused_until).toBeNull();
    const after = (await jobs([b1!.id]))[0]!;
    expect(after.account).toBe('a'); // a had a free slot: the job started there at once
    await t.fila.requeueJob(a1!.id, 'RunningHub unreachable (refused)');
    const o = await t.fila.queueOverview();
    expect(o.dispatch_paused_until).not.toBeNull();
    expect(o.backoff_step).toBe(1);
    expect(o.pause_reason).toBe('RunningHub unreachable (refused)'); // ties by name: a speaks first
  });
});

describe('set_provider_account', () => {
  it('adds an account and gives its room to the queue at once', async () => {
    const all = await submitMany(6);
    expect(await usedPerAccount()).toEqual({ a: 2, b: 2 });
    const c = await t.fila.setProviderAccount('c', 1);
    expect([c.account, c.max_slots, c.enabled]).toEqual(['c', 1, true]);
    const [fifth] = await jobs([all[4]!.id]);
    expect([fifth!.status, fifth!.account]).toEqual(['starting', 'c']);
    expect((await t.fila.queueOverview()).slots_total).toBe(5);
  });

  it('disabling an account drains it: its jobs finish there, nothing new starts on it, the others carry on', async () => {
    const all = await submitMany(7);
    const onB = (await jobs(all.map((j) => j.id))).filter((j) => j.account === 'b');
    expect(onB).toHaveLength(2);
    const off = await t.fila.setProviderAccount('b', 2, false);
    expect(off.enabled).toBe(false);
    expect((await t.fila.queueOverview()).slots_total).toBe(2);
    expect(await usedPerAccount()).toEqual({ a: 2, b: 2 }); // nothing preempted
    for (const j of onB) await t.fila.markRunning(j.id, `task-${j.id}`);
    expect((await jobs(onB.map((j) => j.id))).map((j) => j.status)).toEqual(['running', 'running']);
    for (const j of onB) await t.fila.finishJob(j.id, 'completed', [], null);
    expect(await usedPerAccount()).toEqual({ a: 2 }); // b's slots stayed empty although jobs wait
    expect((await t.fila.queueOverview()).queued).toBe(3);
    // a keeps taking the queue in order
    const holders = (await t.fila.activeJobs()).filter((j) => j.account === 'a');
    await t.fila.finishJob(holders[0]!.job_id, 'completed', [], null);
    const [fifth] = await jobs([all[4]!.id]);
    expect([fifth!.status, fifth!.account]).toEqual(['starting', 'a']);
    // enabling it again starts the waiting jobs on it at once
    await t.fila.setProviderAccount('b', 2, true);
    expect(await usedPerAccount()).toEqual({ a: 2, b: 2 });
  });

  it('lowering an account\'s slots below its use preempts nothing and starts nothing more on it', async () => {
    await submitMany(6);
    await t.fila.setProviderAccount('a', 1);
    expect(await usedPerAccount()).toEqual({ a: 2, b: 2 });
    const onA = (await t.fila.activeJobs()).filter((j) => j.account === 'a');
    expect(onA.map((j) => j.status)).toEqual(['starting', 'starting']);
    await t.fila.finishJob(onA[0]!.job_id, 'completed', [], null);
    expect(await usedPerAccount()).toEqual({ a: 1, b: 2 }); // still at (and not above) its new limit
    await t.fila.finishJob(onA[1]!.job_id, 'completed', [], null);
    expect(await usedPerAccount()).toEqual({ a: 1, b: 2 });
  });

  it('refuses a bad name or slot count with 22023 and changes nothing', async () => {
    const before = await t.fila.providerAccounts();
    const bad: Array<[string, number]> = [['', 1], ['Upper', 1], ['a=b', 1], ['a,b', 1], ['x'.repeat(64), 1], ['ok', 0], ['ok', -2]];
    for (const [name, slots] of bad) {
      await expect(t.fila.setProviderAccount(name, slots)).rejects.toMatchObject({ code: '22023' });
    }
    await expect(t.admin.query('select fila.set_provider_account(null, 1)')).rejects.toMatchObject({ code: '22023' });
    await expect(t.admin.query(`select fila.set_provider_account('ok', null)`)).rejects.toMatchObject({ code: '22023' });
    await expect(t.admin.query(`select fila.set_provider_account('ok', 1, null)`)).rejects.toMatchObject({ code: '22023' });
    expect(await t.fila.providerAccounts()).toEqual(before);
  });

  it('is callable by the application role, which still cannot touch the accounts table', async () => {
    await expect(t.app.query('select * from fila.provider_accounts')).rejects.toThrow(/permission denied/);
    await expect(t.app.query(`update fila.provider_accounts set max_slots = 100`)).rejects.toThrow(/permission denied/);
    await expect(t.app.query(`select fila._account_with_free_slot()`)).rejects.toThrow(/permission denied/);
    await expect(t.app.query(`select fila._pause_account('a', 'x')`)).rejects.toThrow(/permission denied/);
    await expect(t.app.query('select * from fila.provider_account_overview')).resolves.toBeDefined();
  });
});

describe('what people read', () => {
  it('job JSON, active_jobs, stale_jobs and recent_jobs name the account; a queued job has none', async () => {
    const [first, , , , queued] = await submitMany(5);
    const { json } = await t.fila.job(first!.id);
    expect(json.account).toBe('a');
    expect((await t.fila.job(queued!.id)).json.account).toBeNull();
    const active = await t.fila.activeJobs();
    expect(active.find((j) => j.job_id === first!.id)!.account).toBe('a');
    await t.fila.markRunning(first!.id, 'task-1');
    await t.fila.finishJob(first!.id, 'completed', [], null);
    // kept after it ends
    expect((await t.fila.job(first!.id)).json.account).toBe('a');
    expect((await t.fila.recentJobs(50)).find((j) => j.job_id === first!.id)!.account).toBe('a');
    await t.admin.query(`update fila.jobs set deadline_at = now() - interval '1 second' where status = 'starting' and account = 'b'`);
    expect((await t.fila.staleJobs()).map((s) => s.account)).toEqual(['b', 'b']);
  });

  it('queue_overview.slots_total is the least of the global cap and the enabled accounts\' slots', async () => {
    expect((await t.fila.queueOverview()).slots_total).toBe(4);
    await t.admin.query('update fila.settings set max_slots = 3');
    expect((await t.fila.queueOverview()).slots_total).toBe(3);
    await t.fila.setProviderAccount('b', 2, false);
    expect((await t.fila.queueOverview()).slots_total).toBe(2);
    await t.fila.setProviderAccount('a', 2, false);
    expect((await t.fila.queueOverview()).slots_total).toBe(0);
    expect(await submitMany(1).then((j) => j[0]!.status)).toBe('queued');
  });
});

describe('under real concurrency', () => {
  it('50 users submitting at once over three accounts while finishers race never exceed the cap or any account, never leave a job behind a free slot, and keep FIFO', async () => {
    await reset(6, { a: 3, b: 2, c: 2 });
    const users = await Promise.all(Array.from({ length: 50 }, () => fundedUser(t.fila)));
    const mark = await lastEventId();
    const violations: string[] = [];
    let racing = true;

    // one statement, one snapshot: the committed state must respect every limit
    const observer = (async () => {
      let samples = 0;
      while (racing) {
        const { rows: [s] } = await t.admin.query<{ busy: number; cap: number; queued: number; over: string[]; room: number }>(
          `select (select count(*) from fila.jobs where status in ('starting','running'))::int as busy,
                  (select max_slots from fila.settings) as cap,
                  (select count(*) from fila.jobs where status = 'queued')::int as queued,
                  array(select a.account || ' ' || count(j.id) || '/' || a.max_slots from fila.provider_accounts a
                        left join fila.jobs j on j.account = a.account and j.status in ('starting','running')
                        group by a.account, a.max_slots having count(j.id) > a.max_slots) as over,
                  (select coalesce(sum(greatest(a.max_slots - (select count(*) from fila.jobs j
                      where j.account = a.account and j.status in ('starting','running')), 0)), 0)
                     from fila.provider_accounts a where a.enabled and (a.paused_until is null or a.paused_until <= now()))::int as room`);
        samples++;
        if (s!.busy > s!.cap) violations.push(`over the cap: ${s!.busy}/${s!.cap}`);
        if (s!.over.length) violations.push(`over an account: ${s!.over.join(', ')}`);
        if (s!.queued > 0 && s!.busy < s!.cap && s!.room > 0) violations.push(`lost wake-up: ${s!.queued} queued, ${s!.busy}/${s!.cap} busy, room ${s!.room}`);
      }
      return samples;
    })();

    const finishers = (async () => {
      const fila = new FilaDb(t.pool(null, 6));
      await Promise.all(Array.from({ length: 6 }, async () => {
        while (racing) {
          const { rows } = await t.admin.query<{ id: string; status: string }>(
            `select id, status from fila.jobs where status in ('starting','running') order by random() limit 1`);
          const j = rows[0];
          if (!j) { await new Promise((r) => setTimeout(r, 2)); continue; }
          if (j.status === 'starting') await fila.markRunning(j.id, `task-${j.id}`);
          else await fila.finishJob(j.id, 'completed', [], null);
        }
      }));
    })();

    let submitted: Job[];
    let samples: number;
    try {
      // as many connections at once as the server allows this file (all 50 on embedded PostgreSQL)
      const results = await spreadOverConnections(pool, submitters, 50, async (client, i) =>
        (await new FilaDb(client).submitJob({ userId: users[i]!, tool: 'upscaler', input: upscaleInput(i) })).job);
      expect(rejected(results)).toEqual([]);
      submitted = fulfilled(results);
      expect(submitted).toHaveLength(50);
      // the finishers drain the queue (bounded wait)
      for (let i = 0; ; i++) {
        const o = await t.fila.queueOverview();
        if (o.queued === 0 && o.slots_used === 0) break;
        if (i > 6000) throw new Error(`queue not drained: ${JSON.stringify(o)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      racing = false;
      samples = await observer;
      await finishers;
    }
    expect(violations).toEqual([]);
    expect(samples).toBeGreaterThan(10);
    // FIFO: dispatch order is ticket order, across accounts
    const order = await startOrder(mark);
    const seqOf = new Map(submitted.map((j) => [j.id, j.queue_seq]));
    const seqs = order.map((id) => seqOf.get(id)!);
    expect(seqs).toHaveLength(50);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    // every account worked
    const used = await t.admin.query<{ account: string; n: number }>(
      `select account, count(*)::int as n from fila.jobs where id = any($1) group by account order by account`, [submitted.map((j) => j.id)]);
    expect(used.rows.map((r) => r.account)).toEqual(['a', 'b', 'c']);
    expect(await t.fila.creditAudit()).toEqual([]);
  }, 240_000); // on a shared server with fsync every commit waits its turn: minutes, not seconds
});
