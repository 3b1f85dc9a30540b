// Rules 1, 2 and 7: at most max_slots jobs hold a slot, one global FIFO, no job waits behind a
// free slot — proven with many connections at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { onConnections, fulfilled, rejected } from '../../dev/test-support/concurrency.ts';
import { observeSlots } from '../../dev/test-support/slot-observer.ts';
import { fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';
import { FilaDb, type Job } from '../fila.ts';

let t: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  t = await createTestDatabase();
  pool = t.pool('fila_app', Math.min(50, t.connectionBudget));
});
afterAll(async () => { await t.drop(); });

async function counts(): Promise<Record<string, number>> {
  const { rows } = await t.admin.query<{ status: string; n: number }>(
    'select status::text, count(*)::int as n from fila.jobs group by status');
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

/** Dispatch order: the `queued -> starting` events in the order they were written (dispatch is serial). */
async function startOrder(): Promise<string[]> {
  const { rows } = await t.admin.query<{ job_id: string }>(
    `select job_id from fila.job_timeline where from_status = 'queued' and to_status = 'starting' order by event_id`);
  return rows.map((r) => r.job_id);
}

async function finishOneStarting(fila: FilaDb): Promise<Job | null> {
  const { rows } = await t.admin.query<{ id: string }>(
    `select id from fila.jobs where status in ('starting', 'running') order by started_at, queue_seq limit 1`);
  const id = rows[0]?.id;
  if (!id) return null;
  return fila.finishJob(id, 'completed', [{ url: 'https://out.test/x.png', type: 'png' }], null);
}

async function drain(): Promise<void> {
  for (let job = await finishOneStarting(t.fila); job; job = await finishOneStarting(t.fila)) { /* finish them all */ }
}

describe('slots and FIFO', () => {
  it('fills exactly max_slots when 50 users submit at once and queues the rest with positions 1..47', async () => {
    const users = await Promise.all(Array.from({ length: 50 }, () => fundedUser(t.fila)));
    const n = Math.min(50, t.connectionBudget);
    const results = await onConnections(pool, n, async (client, i) => {
      const fila = new FilaDb(client);
      const mine: Job[] = [];
      for (let u = i; u < users.length; u += n) {
        mine.push((await fila.submitJob({ userId: users[u]!, tool: 'upscaler', input: upscaleInput(u) })).job);
      }
      return mine;
    });
    expect(rejected(results)).toEqual([]);
    const submitted = fulfilled(results).flat();
    expect(submitted).toHaveLength(50);
    expect(await counts()).toEqual({ starting: 3, queued: 47 });

    const { rows: queue } = await t.admin.query<{ job_id: string; position: number }>(
      'select job_id, position from fila.queue order by position');
    expect(queue.map((q) => q.position)).toEqual(Array.from({ length: 47 }, (_, i) => i + 1));
    // queue_position (the cheap path) agrees with the view for every queued job
    for (const q of queue) expect(await t.fila.queuePosition(q.job_id)).toBe(q.position);

    // finishing one by one starts the queued jobs strictly in submit order
    const expected = (await startOrder()).concat(queue.map((q) => q.job_id));
    await drain();
    expect(await startOrder()).toEqual(expected);
    expect(await counts()).toEqual({ completed: 50 });
  });

  it('never lets a queued job be overtaken and never leaves one waiting behind a free slot while submits race with finishes', async () => {
    const submitters = Math.min(30, t.connectionBudget - 12);
    const perSubmitter = 4;
    const users = await Promise.all(Array.from({ length: submitters * perSubmitter }, () => fundedUser(t.fila)));
    const times = new Map<string, { begin: number; end: number }>();
    let racing = true;
    // an observer: every committed state it sees must have busy <= slots and no job queued behind a free slot
    const observer = observeSlots(t.admin);

    // finishers on their own connections, each finishing whatever holds a slot
    const finishers = (async () => {
      const fp = t.pool('fila_worker', 6);
      const fila = new FilaDb(fp);
      const loops = Array.from({ length: 6 }, async () => {
        while (racing) {
          const { rows } = await t.admin.query<{ id: string; status: string }>(
            `select id, status from fila.jobs where status in ('starting','running') order by random() limit 1`);
          const j = rows[0];
          if (!j) { await new Promise((r) => setTimeout(r, 2)); continue; }
          if (j.status === 'starting') await fila.markRunning(j.id, `task-${j.id}`);
          else await fila.finishJob(j.id, Math.random() < 0.8 ? 'completed' : 'failed',
            [{ url: 'https://out.test/y.png', type: 'png' }], 'CUDA out of memory');
        }
      });
      await Promise.all(loops);
    })();

    const results = await onConnections(pool, submitters, async (client, i) => {
      const fila = new FilaDb(client);
      for (let k = 0; k < perSubmitter; k++) {
        const user = users[i * perSubmitter + k]!;
        const begin = performance.now();
        const { job } = await fila.submitJob({ userId: user, tool: 'pose_changer',
          input: { person_image_url: `https://f.test/p${i}-${k}.png`, pose_image_url: 'https://f.test/pose.png' } });
        times.set(job.id, { begin, end: performance.now() });
      }
    });
    expect(rejected(results)).toEqual([]);
    // let the finishers work through the queue, then stop them
    for (let i = 0; i < 2000 && ((await counts()).queued ?? 0) > 0; i++) await new Promise((r) => setTimeout(r, 10));
    racing = false;
    const { samples, violations } = await observer.stop();
    await finishers;
    await drain();

    expect(violations).toEqual([]);
    expect(samples).toBeGreaterThan(10);
    const order = (await startOrder()).filter((id) => times.has(id));
    expect(order).toHaveLength(submitters * perSubmitter);
    // 1. dispatch order is FIFO-ticket order
    const { rows: seqs } = await t.admin.query<{ id: string; queue_seq: number }>('select id, queue_seq from fila.jobs');
    const seqOf = new Map(seqs.map((r) => [r.id, r.queue_seq]));
    const dispatchedSeqs = order.map((id) => seqOf.get(id)!);
    expect(dispatchedSeqs).toEqual([...dispatchedSeqs].sort((a, b) => a - b));
    // 2. as a client sees it: a job whose submit returned before another's began started first
    const rank = new Map(order.map((id, i) => [id, i]));
    let pairs = 0;
    const inversions: string[] = [];
    for (const [a, ta] of times) {
      for (const [b, tb] of times) {
        if (ta.end < tb.begin) {
          pairs++;
          if (rank.get(a)! > rank.get(b)!) inversions.push(`${a} submitted before ${b} but started after it`);
        }
      }
    }
    expect(pairs).toBeGreaterThan(100);
    expect(inversions).toEqual([]);
    expect(await t.fila.creditAudit()).toEqual([]);
  });

  it('starts a submit that commits while a finish frees a slot (no lost wake-up), round after round', async () => {
    // a: the worker finishing, b: the API submitting
    const [a, b] = [await t.pool('fila_worker', 1).connect(), await t.pool('fila_app', 1).connect()];
    const lost: string[] = [];
    try {
      // three slot holders, nobody waiting
      for (let i = 0; i < 3; i++) await t.fila.submitJob({ userId: await fundedUser(t.fila), tool: 'upscaler', input: upscaleInput(i) });
      for (let round = 0; round < 150; round++) {
        const { rows: [holder] } = await t.admin.query<{ id: string }>(
          `select id from fila.jobs where status in ('starting','running') order by random() limit 1`);
        const user = await fundedUser(t.fila);
        const [, submitted] = await Promise.all([
          new FilaDb(a).finishJob(holder!.id, 'completed', [], null),
          new FilaDb(b).submitJob({ userId: user, tool: 'upscaler', input: upscaleInput(round) }),
        ]);
        const now = (await t.fila.job(submitted.job.id)).job;
        if (now.status !== 'starting') lost.push(`round ${round}: new job ${now.status} while a slot was free`);
      }
    } finally {
      a.release(); b.release();
    }
    expect(lost).toEqual([]);
    expect((await counts()).queued ?? 0).toBe(0);
    await drain();
  });

  it('admits exactly one job when twenty dispatchers race for one free slot', async () => {
    const users = await Promise.all(Array.from({ length: 30 }, () => fundedUser(t.fila)));
    for (const [i, u] of users.entries()) await t.fila.submitJob({ userId: u, tool: 'upscaler', input: upscaleInput(i) });
    expect((await counts()).starting).toBe(3);
    // the account has room for 8; the global cap decides (set_provider_account would dispatch itself)
    await t.fila.setProviderAccount('default', 8);
    const workers = t.pool('fila_worker', 20);
    for (let slots = 4; slots <= 8; slots++) {
      await t.admin.query('update fila.settings set max_slots = $1', [slots]);
      const results = await onConnections(workers, 20, (client) => new FilaDb(client).dispatch());
      expect(rejected(results)).toEqual([]);
      expect(fulfilled(results).flat()).toHaveLength(1);
      expect((await counts()).starting).toBe(slots);
    }
    await t.admin.query('update fila.settings set max_slots = 3');
    await t.fila.setProviderAccount('default', 3);
    await drain();
    await drain();
  });

  it('keeps a requeued job at the head of the line and pauses dispatch with a growing back-off', async () => {
    await t.admin.query(`update fila.settings set backoff_base = '1 hour', backoff_max = '4 hours'`);
    const users = await Promise.all(Array.from({ length: 6 }, () => fundedUser(t.fila)));
    const jobs: Job[] = [];
    for (const [i, u] of users.entries()) jobs.push((await t.fila.submitJob({ userId: u, tool: 'veste_ai', input: { person_image_url: `https://f.test/${i}.png`, garment_image_url: 'https://f.test/g.png' } })).job);
    expect(jobs.map((j) => j.status)).toEqual(['starting', 'starting', 'starting', 'queued', 'queued', 'queued']);
    const before = await t.fila.creditBalance(users[0]!);

    const requeued = await t.fila.requeueJob(jobs[0]!.id, 'TASK_QUEUE_MAXED (421)');
    expect(requeued.status).toBe('queued');
    expect(await t.fila.queuePosition(jobs[0]!.id)).toBe(1); // its old place: ahead of everyone waiting
    expect(await t.fila.queuePosition(jobs[3]!.id)).toBe(2);
    const o1 = await t.fila.queueOverview();
    expect(o1.pause_reason).toBe('TASK_QUEUE_MAXED (421)');
    expect(o1.backoff_step).toBe(1);
    expect(o1.dispatch_paused_until!.getTime() - Date.now()).toBeGreaterThan(59 * 60_000);

    // paused: a free slot stays free, nobody jumps in
    await t.fila.finishJob(jobs[1]!.id, 'completed', [], null);
    expect((await t.fila.job(jobs[3]!.id)).job.status).toBe('queued');
    // the wake-up is scheduled in graphile-worker's queue, one of it
    const { rows: wake } = await t.admin.query(`select run_at from graphile_worker.jobs where task_identifier = 'dispatch'`);
    expect(wake).toHaveLength(1);

    // the pause ends: the requeued job goes first; nothing was refunded or charged twice
    await t.admin.query(`update fila.provider_accounts set paused_until = now() - interval '1 second'`);
    const started = await t.fila.dispatch();
    expect(started.map((j) => j.id)).toEqual([jobs[0]!.id, jobs[3]!.id]);
    expect(await t.fila.creditBalance(users[0]!)).toBe(before);

    // a second requeue in a row doubles the pause; a success resets it
    await t.fila.requeueJob(jobs[0]!.id, 'TASK_QUEUE_MAXED (421)');
    const o2 = await t.fila.queueOverview();
    expect(o2.backoff_step).toBe(2);
    expect(o2.dispatch_paused_until!.getTime() - Date.now()).toBeGreaterThan(119 * 60_000);
    await t.admin.query(`update fila.provider_accounts set paused_until = now() - interval '1 second'`);
    await t.fila.dispatch();
    await t.fila.markRunning(jobs[0]!.id, 'task-ok');
    const o3 = await t.fila.queueOverview();
    expect([o3.backoff_step, o3.pause_reason]).toEqual([0, null]);
    const { rows: ledger } = await t.admin.query(`select kind from fila.credit_ledger where job_id = $1`, [jobs[0]!.id]);
    expect(ledger).toEqual([{ kind: 'debit' }]);
    await drain();
  });

  it('answers queue_position like the queue view after cancels in the middle and a requeued head', async () => {
    await t.admin.query(`update fila.provider_accounts set paused_until = null, backoff_step = 0`);
    const users = await Promise.all(Array.from({ length: 15 }, () => fundedUser(t.fila)));
    const jobs: Job[] = [];
    for (const [i, u] of users.entries()) jobs.push((await t.fila.submitJob({ userId: u, tool: 'video_upscaler', input: { video_url: `https://f.test/${i}.mp4` } })).job);
    await t.fila.cancelJob(jobs[5]!.id, users[5]!);
    await t.fila.cancelJob(jobs[9]!.id, null);
    await t.fila.requeueJob(jobs[1]!.id, 'provider unreachable');
    const { rows: queue } = await t.admin.query<{ job_id: string; position: number }>('select job_id, position from fila.queue');
    expect(queue.length).toBe(15 - 3 - 2 + 1);
    for (const q of queue) expect(await t.fila.queuePosition(q.job_id)).toBe(q.position);
    expect(await t.fila.queuePosition(jobs[0]!.id)).toBeNull(); // holds a slot: no place in line
    expect(await t.fila.queuePosition(jobs[5]!.id)).toBeNull(); // canceled
    await t.admin.query(`update fila.provider_accounts set paused_until = null`);
    await t.fila.dispatch();
    await drain();
  });
});
