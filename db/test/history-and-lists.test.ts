// What people read about the past: a user's own jobs page by page, the operator's history charts
// (checked against an independent replay of the event log), one job in full, a job by id prefix.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { onConnections } from '../../dev/test-support/concurrency.ts';
import { fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';
import { FilaDb, type Job, type UserJobJson } from '../fila.ts';

let t: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  t = await createTestDatabase();
  pool = t.pool('fila_app', Math.min(20, t.connectionBudget));
});
afterEach(async () => {
  expect(await t.fila.creditAudit()).toEqual([]);
  await clearSlots();
});
afterAll(async () => { await t.drop(); });

/** Finish whatever holds a slot or waits (through the functions, so the ledger stays right). */
async function clearSlots(): Promise<void> {
  for (const j of await t.fila.activeJobs()) await t.fila.cancelJob(j.job_id, null);
}

const veste = { person_image_url: 'https://files.test/p.png', garment_image_url: 'https://files.test/g.png' };

describe('fila.user_jobs', () => {
  it('lists one user\'s jobs newest first across pages, each once, with refunds, and never another user\'s', async () => {
    const me = await fundedUser(t.fila, 500);
    const other = await fundedUser(t.fila, 500);
    const mine: Job[] = [];
    for (let i = 0; i < 7; i++) {
      const { job } = await t.fila.submitJob({ userId: me, tool: i % 2 ? 'veste_ai' : 'upscaler', input: i % 2 ? veste : upscaleInput(i) });
      mine.push(job);
      // the other user's jobs interleave with mine in time
      const { job: theirs } = await t.fila.submitJob({ userId: other, tool: 'upscaler', input: upscaleInput(100 + i) });
      await t.fila.cancelJob(theirs.id, other);
      if (i === 2) {
        await t.fila.markRunning(job.id, `task-${i}`);
        await t.fila.finishJob(job.id, 'failed', null, 'Nenhum rosto detectado na imagem de referência.');
      } else {
        await t.fila.cancelJob(job.id, me);
      }
    }
    const seen: UserJobJson[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await t.fila.userJobs(me, { limit: 3, before: cursor });
      expect(page.jobs.length).toBeLessThanOrEqual(3);
      seen.push(...page.jobs);
      cursor = page.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen.map((j) => j.id)).toEqual(mine.map((j) => j.id).reverse());
    expect(seen.every((j) => j.user_id === me)).toBe(true);
    const failed = seen.find((j) => j.status === 'failed')!;
    expect(failed).toMatchObject({ error: 'Nenhum rosto detectado na imagem de referência.', refunded_credits: failed.credit_cost });
    const canceled = seen.filter((j) => j.status === 'canceled');
    expect(canceled.every((j) => j.refunded_credits === j.credit_cost)).toBe(true);
  });

  it('filters by tool and by status, and an unfinished job has no refund', async () => {
    const me = await fundedUser(t.fila, 100);
    const { job: a } = await t.fila.submitJob({ userId: me, tool: 'veste_ai', input: veste });
    await t.fila.cancelJob(a.id, me);
    const { job: b } = await t.fila.submitJob({ userId: me, tool: 'upscaler', input: upscaleInput() });
    expect((await t.fila.userJobs(me, { tool: 'veste_ai' })).jobs.map((j) => j.id)).toEqual([a.id]);
    expect((await t.fila.userJobs(me, { tool: 'upscaler' })).jobs.map((j) => j.id)).toEqual([b.id]);
    const active = (await t.fila.userJobs(me, { status: b.status })).jobs;
    expect(active.map((j) => [j.id, j.refunded_credits])).toEqual([[b.id, null]]);
    expect((await t.fila.userJobs(me, { status: 'completed' })).jobs).toEqual([]);
  });

  it('gives an empty page, not someone else\'s jobs, for a cursor that is another user\'s job', async () => {
    const me = await fundedUser(t.fila, 100);
    const other = await fundedUser(t.fila, 100);
    const { job: mine } = await t.fila.submitJob({ userId: me, tool: 'upscaler', input: upscaleInput() });
    await t.fila.cancelJob(mine.id, me);
    const { job: theirs } = await t.fila.submitJob({ userId: other, tool: 'upscaler', input: upscaleInput() });
    const page = await t.fila.userJobs(other, { before: mine.id });
    expect(page).toEqual({ jobs: [], next_cursor: null });
    expect((await t.fila.userJobs(me, { before: theirs.id })).jobs).toEqual([]);
  });

  it('shows each of 20 users submitting at once exactly their own job', async () => {
    const users = await Promise.all(Array.from({ length: 20 }, () => fundedUser(t.fila, 10)));
    const jobs = await onConnections(pool, 20, (c, i) => new FilaDb(c).submitJob({ userId: users[i]!, tool: 'upscaler', input: upscaleInput(i) }));
    const ids = jobs.map((r) => (r.status === 'fulfilled' ? r.value.job.id : null));
    const lists = await onConnections(pool, 20, (c, i) => new FilaDb(c).userJobs(users[i]!));
    lists.forEach((r, i) => {
      expect(r.status).toBe('fulfilled');
      if (r.status === 'fulfilled') expect(r.value.jobs.map((j) => [j.id, j.user_id])).toEqual([[ids[i], users[i]]]);
    });
  });
});

describe('fila.activity_history', () => {
  // times in microseconds since the epoch, as PostgreSQL keeps them (a Date would round to ms)
  interface Ev { job_id: string; at: number; from_status: string | null; to_status: string; created_at: number }

  /** The same numbers, replayed from the raw event log in TypeScript: an independent oracle. */
  function replay(events: Ev[], starts: number[], width: number) {
    const holds = (s: string | null) => s === 'starting' || s === 'running';
    return starts.map((b) => {
      const end = b + width;
      const last = new Map<string, string>();
      for (const e of events) if (e.at < end) last.set(e.job_id, e.to_status);
      const inBucket = events.filter((e) => e.at >= b && e.at < end);
      const waits = inBucket.filter((e) => e.from_status === 'queued' && e.to_status === 'starting')
        .map((e) => (e.at - e.created_at) / 1e6).sort((x, y) => x - y);
      const pct = (p: number) => {
        if (waits.length === 0) return null;
        const k = (waits.length - 1) * p;
        const lo = Math.floor(k);
        return waits[lo]! + (waits[Math.min(lo + 1, waits.length - 1)]! - waits[lo]!) * (k - lo);
      };
      return {
        queue_depth: [...last.values()].filter((s) => s === 'queued').length,
        slots_used: [...last.values()].filter(holds).length,
        starts: waits.length,
        wait_p50_seconds: pct(0.5), wait_p95_seconds: pct(0.95),
        completed: inBucket.filter((e) => e.to_status === 'completed').length,
        failed: inBucket.filter((e) => e.to_status === 'failed').length,
        canceled: inBucket.filter((e) => e.to_status === 'canceled').length,
      };
    });
  }

  it('matches a replay of the event log in every bucket: levels, starts and waits, outcomes', async () => {
    await clearSlots();
    // earlier tests' events sit in the newest bucket; move them out of the window entirely
    await t.admin.query(`update fila.job_events set at = at - interval '1 day'`);
    await t.admin.query(`update fila.jobs set created_at = created_at - interval '1 day'`);
    // six phases, each pushed ten minutes further into the past once it is done
    for (let phase = 0; phase < 6; phase++) {
      const users = await Promise.all(Array.from({ length: 2 + phase }, () => fundedUser(t.fila, 20)));
      const jobs: Job[] = [];
      for (const u of users) jobs.push((await t.fila.submitJob({ userId: u, tool: 'upscaler', input: upscaleInput(phase) })).job);
      const holding = (await t.fila.activeJobs()).filter((j) => j.status === 'starting');
      if (holding[0]) {
        await t.fila.markRunning(holding[0].job_id, `p${phase}`);
        await t.fila.finishJob(holding[0].job_id, 'completed', [{ url: 'https://out.test/x.png', type: 'png' }], null);
      }
      if (holding[1] && phase % 2 === 0) await t.fila.finishJob(holding[1].job_id, 'failed', null, 'CUDA out of memory');
      const queued = (await t.fila.activeJobs()).filter((j) => j.status === 'queued');
      if (queued[0] && phase % 3 === 1) await t.fila.cancelJob(queued[0].job_id, null);
      await t.admin.query(`update fila.job_events set at = at - interval '10 minutes'`);
      await t.admin.query(`update fila.jobs set created_at = created_at - interval '10 minutes'`);
    }
    const history = await t.fila.activityHistory(2, 60);
    const events = (await t.admin.query<Ev>(
      `select e.job_id, e.from_status, e.to_status,
              (extract(epoch from e.at) * 1e6)::float8 as at, (extract(epoch from j.created_at) * 1e6)::float8 as created_at
         from fila.job_events e join fila.jobs j on j.id = e.job_id order by e.id`)).rows;
    expect(history.length).toBeGreaterThanOrEqual(120);
    const expected = replay(events, history.map((h) => h.bucket_start.getTime() * 1000), 60e6);
    const got = history.map(({ bucket_start: _b, refunds: _r, refunded_credits: _c, ...rest }) => rest);
    expect(got).toEqual(expected.map((e) => ({
      ...e,
      wait_p50_seconds: e.wait_p50_seconds === null ? null : expect.closeTo(e.wait_p50_seconds, 5),
      wait_p95_seconds: e.wait_p95_seconds === null ? null : expect.closeTo(e.wait_p95_seconds, 5),
    })));
    // the history is not flat: the phases left queues, slot holders, starts and outcomes behind
    expect(Math.max(...got.map((h) => h.queue_depth))).toBeGreaterThan(0);
    expect(Math.max(...got.map((h) => h.slots_used))).toBe(3);
    expect(got.reduce((n, h) => n + h.completed, 0)).toBe(6);
    expect(got.reduce((n, h) => n + h.failed, 0)).toBe(3);
    expect(got.reduce((n, h) => n + h.starts, 0)).toBeGreaterThan(6);
  });

  it('counts refunds and their credits in the bucket they happened, and nothing for a completed job', async () => {
    const before = (await t.fila.activityHistory(1, 60)).at(-1)!;
    const a = await fundedUser(t.fila, 10);
    const b = await fundedUser(t.fila, 10);
    const { job: ja } = await t.fila.submitJob({ userId: a, tool: 'upscaler', input: { ...upscaleInput(), version: 'pro' } });
    const { job: jb } = await t.fila.submitJob({ userId: b, tool: 'veste_ai', input: veste });
    await t.fila.finishJob(ja.id, 'failed', null, 'Imagem corrompida');
    await t.fila.markRunning(jb.id, 'tb');
    await t.fila.finishJob(jb.id, 'completed', [{ url: 'https://out.test/b.png', type: 'png' }], null);
    const after = (await t.fila.activityHistory(1, 60)).at(-1)!;
    if (after.bucket_start.getTime() !== before.bucket_start.getTime()) {
      // the minute turned between the two reads: the new bucket holds only what came after
      expect([after.refunds, after.refunded_credits]).toEqual([1, ja.credit_cost]);
    } else {
      expect([after.refunds - before.refunds, after.refunded_credits - before.refunded_credits]).toEqual([1, ja.credit_cost]);
    }
  });
});

describe('fila.job_detail', () => {
  it('holds the timeline, the debit and the refund, and the webhooks received for the job', async () => {
    const u = await fundedUser(t.fila, 10);
    const { job } = await t.fila.submitJob({ userId: u, tool: 'upscaler', input: upscaleInput() });
    await t.fila.markRunning(job.id, 'task-d');
    const inbox = await t.fila.receiveWebhook(job.id, 'runninghub', { event: 'TASK_END', taskId: 'task-d', eventData: '{}' });
    await t.fila.finishJob(job.id, 'failed', null, 'Arquivo de imagem inválido');
    const d = await t.fila.jobDetail(job.id);
    expect(d.job).toMatchObject({ id: job.id, status: 'failed', error: 'Arquivo de imagem inválido' });
    expect(d.timeline.map((e) => `${e.from_status ?? '-'}>${e.to_status}`)).toEqual(['->queued', 'queued>starting', 'starting>running', 'running>failed']);
    expect(d.ledger.map((l) => [l.kind, l.amount])).toEqual([['debit', -job.credit_cost], ['refund', job.credit_cost]]);
    expect(d.webhooks).toEqual([expect.objectContaining({ id: inbox, provider: 'runninghub', payload: { event: 'TASK_END', taskId: 'task-d', eventData: '{}' } })]);
  });

  it('answers job_not_found for an unknown id', async () => {
    await expect(t.fila.jobDetail(randomUUID())).rejects.toMatchObject({ code: 'job_not_found' });
  });
});

describe('fila.jobs_by_prefix', () => {
  it('finds one job by a unique prefix (dashes and case ignored) and every job sharing an ambiguous one', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 17; i++) {
      const u = await fundedUser(t.fila, 10);
      const { job } = await t.fila.submitJob({ userId: u, tool: 'upscaler', input: upscaleInput(i) });
      await t.fila.cancelJob(job.id, u);
      ids.push(job.id);
    }
    const [first] = ids;
    expect((await t.fila.jobsByPrefix(first!.slice(0, 13).toUpperCase())).map((j) => j.id)).toEqual([first]);
    expect((await t.fila.jobsByPrefix(first!)).map((j) => j.id)).toEqual([first]);
    // 17 ids, 16 first digits: at least two share one
    const all = (await t.admin.query<{ id: string }>('select id from fila.jobs')).rows.map((r) => r.id);
    const digit = [...'0123456789abcdef'].find((d) => all.filter((id) => id.startsWith(d)).length >= 2)!;
    const expected = all.filter((id) => id.startsWith(digit)).sort();
    expect((await t.fila.jobsByPrefix(digit, 1000)).map((j) => j.id)).toEqual(expected);
  });

  it('refuses something that is not hex digits, and reads nothing', async () => {
    await expect(t.fila.jobsByPrefix("9530ad6c' or 1=1 --")).rejects.toMatchObject({ code: '22023' });
    await expect(t.fila.jobsByPrefix('')).rejects.toMatchObject({ code: '22023' });
  });
});
