// fila._job, the one lookup that refuses an unknown job (FL004), and the two status lists
// (fila.is_active, fila.holds_slot) that every function and view asks by name.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';
import type { Job } from '../fila.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  // nothing dispatches: submitted jobs stay queued, where a touch changes last_seen_at
  await t.admin.query(`update fila.provider_accounts set enabled = false`);
});
afterEach(async () => {
  expect(await t.fila.creditAudit()).toEqual([]);
  await t.admin.query(`update fila.jobs set status = 'canceled', finished_at = now() where status in ('queued','starting','running')`);
  await t.admin.query(`update fila.jobs set provider_task_ended_at = now() where provider_cancel_requested_at is not null`);
});
afterAll(async () => { await t.drop(); });

/** The SQLSTATE a call failed with (FilaDb's FilaError carries it as sqlstate), or null. */
async function sqlstate(p: Promise<unknown>): Promise<string | null> {
  return p.then(() => null, (e: { sqlstate?: string; code?: string }) => e.sqlstate ?? e.code ?? 'no code');
}

async function queuedJob(): Promise<{ user: string; job: Job }> {
  const user = await fundedUser(t.fila);
  // presence on, last seen long ago: a touch that got through would change last_seen_at
  const { job } = await t.fila.submitJob({ userId: user, tool: 'upscaler', input: upscaleInput(), presence: true });
  await t.admin.query(`update fila.jobs set last_seen_at = now() - interval '10 seconds' where id = $1`, [job.id]);
  return { user, job };
}

/** Everything a refusal must leave as it was: the row, its timeline, its ledger, the inbox. */
async function footprint(jobId: string): Promise<unknown> {
  const { rows } = await t.admin.query(`
    select to_jsonb(j) as job,
           (select count(*) from fila.job_events e where e.job_id = j.id)::int as events,
           (select count(*) from fila.credit_entries c where c.job_id = j.id)::int as ledger,
           (select count(*) from fila.webhook_inbox w where w.job_id = j.id)::int as inbox
    from fila.jobs j where j.id = $1`, [jobId]);
  return rows[0];
}

const lookup = (jobId: string, userId: string | null, forUpdate: boolean) =>
  t.admin.query<{ id: string; user_id: string }>(`select (fila._job($1, $2, $3)).*`, [jobId, userId, forUpdate]);

describe('fila._job', () => {
  it('returns the job to its owner, and to anyone when no owner is given (operators, the worker)', async () => {
    const { user, job } = await queuedJob();
    for (const forUpdate of [false, true]) {
      expect((await lookup(job.id, user, forUpdate)).rows[0]).toMatchObject({ id: job.id, user_id: user });
      expect((await lookup(job.id, null, forUpdate)).rows[0]).toMatchObject({ id: job.id, user_id: user });
    }
  });

  it('refuses an unknown job and another user\'s job alike (FL004), locked or not', async () => {
    const { job } = await queuedJob();
    const stranger = randomUUID();
    for (const forUpdate of [false, true]) {
      expect(await sqlstate(lookup(randomUUID(), null, forUpdate))).toBe('FL004');
      expect(await sqlstate(lookup(randomUUID(), stranger, forUpdate))).toBe('FL004');
      expect(await sqlstate(lookup(job.id, stranger, forUpdate))).toBe('FL004');
    }
    const e = await lookup(job.id, stranger, false).then(() => null, (err: { message: string; detail: string }) => err);
    expect([e?.message, e?.detail]).toEqual(['Processamento não encontrado.', `job ${job.id}`]);
  });

  it('locks the job\'s row for the caller\'s transaction only when asked', async () => {
    const { job } = await queuedJob();
    const [a, b] = [await t.admin.connect(), await t.admin.connect()];
    try {
      for (const forUpdate of [false, true]) {
        await a.query('begin');
        await a.query(`select fila._job($1, null, $2)`, [job.id, forUpdate]);
        const other = await sqlstate(b.query(`select 1 from fila.jobs where id = $1 for update nowait`, [job.id]));
        expect(other).toBe(forUpdate ? '55P03' : null);
        await a.query('rollback');
      }
    } finally {
      a.release();
      b.release();
    }
  });

  it('is what every public path refuses with: a stranger or an unknown id gets FL004 and nothing changes', async () => {
    const { user, job } = await queuedJob();
    const stranger = await fundedUser(t.fila);
    const before = await footprint(job.id);
    const unknown = randomUUID();
    const refusals = {
      job: await sqlstate(t.fila.job(job.id, stranger)),
      jobUnknown: await sqlstate(t.fila.job(unknown)),
      cancel: await sqlstate(t.fila.cancelJob(job.id, stranger)),
      cancelUnknown: await sqlstate(t.fila.cancelJob(unknown, null)),
      touch: await sqlstate(t.fila.touchJob(job.id, stranger)),
      touchUnknown: await sqlstate(t.fila.touchJob(unknown, user)),
      webhookUnknown: await sqlstate(t.fila.receiveWebhook(unknown, 'runninghub', { taskId: 't' })),
      finishUnknown: await sqlstate(t.fila.finishJob(unknown, 'failed', null, 'x')),
      markRunningUnknown: await sqlstate(t.fila.markRunning(unknown, 't')),
      providerTaskEndedUnknown: await sqlstate(t.fila.providerTaskEnded(unknown)),
    };
    expect(refusals).toEqual(Object.fromEntries(Object.keys(refusals).map((k) => [k, 'FL004'])));
    expect(await footprint(job.id)).toEqual(before);
    expect((await t.admin.query(`select count(*)::int as n from fila.webhook_inbox where job_id = $1`, [unknown])).rows[0].n).toBe(0);
    // the owner's own touch goes through
    await t.fila.touchJob(job.id, user);
    expect(await footprint(job.id)).not.toEqual(before);
  });

  it('touch_job without a user is refused (22004), not taken as an operator\'s call', async () => {
    const { job } = await queuedJob();
    const before = await footprint(job.id);
    expect(await sqlstate(t.admin.query(`select fila.touch_job($1, null)`, [job.id]))).toBe('22004');
    expect(await footprint(job.id)).toEqual(before);
  });
});

describe('fila.is_active and fila.holds_slot', () => {
  it('name the lists: queued/starting/running are active, starting/running hold a slot', async () => {
    const { rows } = await t.admin.query(`
      select s::text as status, fila.is_active(s) as active, fila.holds_slot(s) as holds
      from unnest(enum_range(null::fila.job_status)) s`);
    expect(rows).toEqual([
      { status: 'queued', active: true, holds: false },
      { status: 'starting', active: true, holds: true },
      { status: 'running', active: true, holds: true },
      { status: 'completed', active: false, holds: false },
      { status: 'failed', active: false, holds: false },
      { status: 'canceled', active: false, holds: false },
    ]);
  });

  // The partial indexes spell the lists out; a query written with the functions uses them only
  // while the planner inlines the functions and the lists agree. Sequential scans are off so that
  // the plan shows which index could be used, whatever the table's size.
  it('are inlined: queries written with them use the partial indexes that spell the same lists', async () => {
    const c = await t.admin.connect();
    try {
      await c.query('set enable_seqscan = off');
      const plan = async (sql: string) =>
        (await c.query<{ 'QUERY PLAN': string }>(`explain ${sql}`)).rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(await plan(`select 1 from fila.jobs j where j.user_id = '${randomUUID()}' and fila.is_active(j.status)`))
        .toContain('jobs_one_active_per_user');
      expect(await plan(`select 1 from fila.jobs j where fila.holds_slot(j.status) and j.deadline_at < now()`))
        .toContain('jobs_holding_slot');
      expect(await plan(`select count(*) from fila.jobs j where j.account = 'default' and fila.holds_slot(j.status)`))
        .toContain('jobs_holding_slot_by_account');
      expect(await plan(`select * from fila.active_jobs`)).toContain('jobs_one_active_per_user');
    } finally {
      await c.query('reset enable_seqscan');
      c.release();
    }
  });
});
