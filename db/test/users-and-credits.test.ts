// Rules 3 and 4: one active job per user; credits debited once, refunded in full exactly once.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { onConnections, fulfilled, rejected } from '../../dev/test-support/concurrency.ts';
import { answerProviderCancels, fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';
import { FilaDb } from '../fila.ts';
import { FilaError } from '../errors.ts';

let t: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  t = await createTestDatabase();
  pool = t.pool('fila_app', Math.min(30, t.connectionBudget));
});
afterEach(async () => {
  expect(await t.fila.creditAudit()).toEqual([]);
  await answerProviderCancels(t.fila, t.admin); // no worker here: its cancels' answers, so no slot stays held
});
afterAll(async () => { await t.drop(); });

const FL001 = 'Você já tem um processamento em andamento. Aguarde finalizar.';

async function snapshot() {
  const { rows: [r] } = await t.admin.query<{ jobs: number; entries: number; balances: number; events: number }>(
    `select (select count(*) from fila.jobs)::int as jobs, (select count(*) from fila.credit_entries)::int as entries,
            (select coalesce(sum(balance), 0) from fila.balances)::int as balances,
            (select count(*) from fila.job_events)::int as events`);
  return r!;
}

async function refusal(p: Promise<unknown>): Promise<FilaError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(FilaError);
  return err as FilaError;
}

describe('one active job per user', () => {
  it('lets one of 20 concurrent submits by the same user through, refuses 19 with FL001 and debits once', async () => {
    const user = await fundedUser(t.fila, 100);
    const results = await onConnections(pool, 20, (client, i) =>
      new FilaDb(client).submitJob({ userId: user, tool: i % 2 ? 'upscaler' : 'veste_ai',
        input: i % 2 ? upscaleInput(i) : { person_image_url: 'https://f.test/p.png', garment_image_url: 'https://f.test/g.png' } }));
    expect(fulfilled(results)).toHaveLength(1);
    const errors = rejected(results) as FilaError[];
    expect(errors).toHaveLength(19);
    for (const e of errors) {
      expect(e).toBeInstanceOf(FilaError);
      expect([e.sqlstate, e.code, e.message]).toEqual(['FL001', 'user_has_active_job', FL001]);
    }
    const { rows } = await t.admin.query('select kind, amount from fila.credit_ledger where user_id = $1 order by id', [user]);
    const cost = fulfilled(results)[0]!.job.credit_cost;
    expect(rows).toEqual([{ kind: 'grant', amount: 100 }, { kind: 'debit', amount: -cost }]);
    expect(await t.fila.creditBalance(user)).toBe(100 - cost);
  });

  it('frees the user the moment the job ends, whatever the tool', async () => {
    const user = await fundedUser(t.fila);
    const { job } = await t.fila.submitJob({ userId: user, tool: 'video_upscaler', input: { video_url: 'https://f.test/v.mp4' } });
    expect((await t.fila.activeJob(user))?.job.id).toBe(job.id);
    await t.fila.finishJob(job.id, 'failed', null, 'CUDA out of memory. Tried to allocate 2.00 GiB');
    expect(await t.fila.activeJob(user)).toBeNull();
    const next = await t.fila.submitJob({ userId: user, tool: 'pose_changer', input: { person_image_url: 'https://f.test/a.png', pose_image_url: 'https://f.test/b.png' } });
    expect(next.created).toBe(true);
  });
});

describe('refusals change nothing', () => {
  it('refuses a user without enough credits with FL002: no job row, no ledger row', async () => {
    const user = await fundedUser(t.fila, 3);
    const before = await snapshot();
    const e = await refusal(t.fila.submitJob({ userId: user, tool: 'upscaler', input: { ...upscaleInput(), version: 'pro' } }));
    expect([e.sqlstate, e.code]).toEqual(['FL002', 'insufficient_credits']);
    expect(e.detail).toContain('price 4, balance 3');
    expect(await snapshot()).toEqual(before);
    const poor = crypto.randomUUID(); // never granted anything
    expect((await refusal(t.fila.submitJob({ userId: poor, tool: 'upscaler', input: upscaleInput() }))).code).toBe('insufficient_credits');
    expect(await snapshot()).toEqual(before);
  });

  it('refuses an unknown or disabled tool with FL003 and changes nothing', async () => {
    const user = await fundedUser(t.fila);
    const before = await snapshot();
    expect((await refusal(t.fila.submitJob({ userId: user, tool: 'face_swap', input: {} }))).code).toBe('unknown_tool');
    await t.admin.query(`update fila.tools set enabled = false where tool = 'veste_ai'`);
    const e = await refusal(t.fila.submitJob({ userId: user, tool: 'veste_ai', input: { person_image_url: 'https://f.test/a.png', garment_image_url: 'https://f.test/b.png' } }));
    await t.admin.query(`update fila.tools set enabled = true where tool = 'veste_ai'`);
    expect([e.sqlstate, e.code]).toEqual(['FL003', 'unknown_tool']);
    expect(await snapshot()).toEqual(before);
  });

  it('prices on the server from the tool and its input (a table the DBA edits)', async () => {
    const user = await fundedUser(t.fila, 50);
    const pro = await t.fila.submitJob({ userId: user, tool: 'upscaler', input: { ...upscaleInput(), version: 'pro' } });
    expect(pro.job.credit_cost).toBe(4);
    await t.fila.cancelJob(pro.job.id, user);
    await t.admin.query(`update fila.tool_prices set price = 7 where tool = 'upscaler' and match = '{}'`);
    const std = await t.fila.submitJob({ userId: user, tool: 'upscaler', input: { ...upscaleInput(), version: 'standard' } });
    expect(std.job.credit_cost).toBe(7);
    await t.admin.query(`update fila.tool_prices set price = 2 where tool = 'upscaler' and match = '{}'`);
    await t.fila.cancelJob(std.job.id, user);
    expect(await t.fila.creditBalance(user)).toBe(50);
  });
});

describe('idempotency keys', () => {
  it('returns the same job for the same key and debits once, even after the job became active or finished', async () => {
    const user = await fundedUser(t.fila, 20);
    const req = { userId: user, tool: 'upscaler', input: upscaleInput(7), idempotencyKey: 'click-1' };
    const first = await t.fila.submitJob(req);
    expect(first.created).toBe(true);
    const again = await t.fila.submitJob(req); // checked before FL001
    expect([again.job.id, again.created]).toEqual([first.job.id, false]);
    await t.fila.markRunning(first.job.id, 'task-1');
    await t.fila.finishJob(first.job.id, 'completed', [{ url: 'https://out.test/1.png', type: 'png' }], null);
    expect((await t.fila.submitJob(req)).job.status).toBe('completed');
    const { rows } = await t.admin.query(`select count(*)::int as n from fila.credit_ledger where user_id = $1 and kind = 'debit'`, [user]);
    expect(rows[0]).toEqual({ n: 1 });

    const concurrentKey = { ...req, idempotencyKey: 'click-2', input: upscaleInput(8) };
    const results = await onConnections(pool, 10, (c) => new FilaDb(c).submitJob(concurrentKey));
    expect(rejected(results)).toEqual([]);
    expect(new Set(fulfilled(results).map((r) => r.job.id)).size).toBe(1);
    expect(fulfilled(results).filter((r) => r.created)).toHaveLength(1);
  });

  it('tells a replay from a submit even when the replay\'s transaction has the same now() as the creation', async () => {
    // two simultaneous requests can start their transactions in the same microsecond; CI once saw
    // 201 + 201 when "created" was judged by created_at = now()
    const user = await fundedUser(t.fila, 20);
    const req = { userId: user, tool: 'upscaler', input: upscaleInput(3), idempotencyKey: 'same-instant' };
    const first = await t.fila.submitJob(req);
    const c = await pool.connect();
    try {
      await c.query('begin');
      const { rows } = await c.query<{ now: string }>('select now()::text as now'); // text: a Date drops the microseconds
      await t.admin.query('update fila.jobs set created_at = $2::timestamptz where id = $1', [first.job.id, rows[0]?.now]);
      const replay = await new FilaDb(c).submitJob(req);
      expect([replay.job.id, replay.created]).toEqual([first.job.id, false]);
    } finally {
      await c.query('rollback');
      c.release();
    }
  });

  it('refuses the same key with another request (FL006) and changes nothing', async () => {
    const user = await fundedUser(t.fila, 20);
    await t.fila.submitJob({ userId: user, tool: 'upscaler', input: upscaleInput(1), idempotencyKey: 'k' });
    const before = await snapshot();
    const e = await refusal(t.fila.submitJob({ userId: user, tool: 'upscaler', input: upscaleInput(2), idempotencyKey: 'k' }));
    expect([e.sqlstate, e.code]).toEqual(['FL006', 'idempotency_key_reused']);
    expect((await refusal(t.fila.submitJob({ userId: user, tool: 'video_upscaler', input: { video_url: 'https://f.test/v.mp4' }, idempotencyKey: 'k' }))).code).toBe('idempotency_key_reused');
    expect(await snapshot()).toEqual(before);
    // another user may use the same key
    const other = await fundedUser(t.fila, 20);
    expect((await t.fila.submitJob({ userId: other, tool: 'upscaler', input: upscaleInput(2), idempotencyKey: 'k' })).created).toBe(true);
  });

  it('grants once per key', async () => {
    const user = crypto.randomUUID();
    expect(await t.fila.grantCredits(user, 30, 'top-up', 'pix-123')).toBe(30);
    expect(await t.fila.grantCredits(user, 30, 'top-up', 'pix-123')).toBe(30);
    expect((await refusal(t.fila.grantCredits(user, 31, 'top-up', 'pix-123'))).code).toBe('idempotency_key_reused');
    expect(await t.fila.grantCredits(user, -10, 'chargeback')).toBe(20);
    expect((await refusal(t.fila.grantCredits(user, -21, 'too much'))).code).toBe('insufficient_credits');
    expect(await t.fila.creditBalance(user)).toBe(20);
  });
});

describe('refunds exactly once', () => {
  it('refunds once when finish_job(failed), cancel_job and reap_stale_jobs hit the same job at once, 100 times over', async () => {
    // as in production: the worker finishes and reaps, the API cancels
    const clients = await Promise.all([t.pool('fila_worker', 1).connect(), t.pool('fila_app', 1).connect(), t.pool('fila_worker', 1).connect()]);
    const [finisher, canceler, reaper] = clients.map((c) => new FilaDb(c)) as [FilaDb, FilaDb, FilaDb];
    const outcomes = new Map<string, number>();
    try {
      for (let round = 0; round < 100; round++) {
        const user = await fundedUser(t.fila, 10);
        const { job } = await t.fila.submitJob({ userId: user, tool: 'pose_changer', input: { person_image_url: `https://f.test/${round}.png`, pose_image_url: 'https://f.test/p.png' } });
        if (round % 2) await t.fila.markRunning(job.id, `task-${round}`); // half starting, half running
        const results = await Promise.allSettled([
          finisher.finishJob(job.id, 'failed', null, 'CUDA out of memory'),
          canceler.cancelJob(job.id, user),
          reaper.reapStaleJobs(new Date(Date.now() + 24 * 3600_000)),
        ]);
        for (const r of results) {
          if (r.status === 'rejected') expect((r.reason as FilaError).code).toBe('invalid_transition'); // cancel after it failed
        }
        const final = (await t.fila.job(job.id)).job;
        outcomes.set(final.status, (outcomes.get(final.status) ?? 0) + 1);
        expect(['failed', 'canceled']).toContain(final.status);
        const { rows } = await t.admin.query(`select kind, amount from fila.credit_ledger where job_id = $1 order by id`, [job.id]);
        expect(rows).toEqual([{ kind: 'debit', amount: -3 }, { kind: 'refund', amount: 3 }]);
        expect(await t.fila.creditBalance(user)).toBe(10);
        const { rows: ev } = await t.admin.query(`select count(*)::int as n from fila.job_events where job_id = $1 and to_status in ('failed','canceled')`, [job.id]);
        expect(ev[0]).toEqual({ n: 1 });
      }
    } finally {
      for (const c of clients) c.release();
    }
    expect([...outcomes.values()].reduce((a, b) => a + b)).toBe(100);
  });

  it('keeps the ledger append-only and balances non-negative', async () => {
    const user = await fundedUser(t.fila, 5);
    await expect(t.admin.query(`update fila.credit_entries set amount = 1000 where user_id = $1`, [user])).rejects.toMatchObject({ code: 'FL007' });
    await expect(t.admin.query(`delete from fila.credit_entries where user_id = $1`, [user])).rejects.toMatchObject({ code: 'FL007' });
    await expect(t.admin.query(`truncate fila.credit_entries cascade`)).rejects.toMatchObject({ code: 'FL007' });
    await expect(t.admin.query(`update fila.balances set balance = -1 where user_id = $1`, [user])).rejects.toThrow(/balance_never_negative/);
    const { rows } = await t.admin.query(`select fila.credit_balance($1) as b`, [user]);
    expect(rows[0]).toEqual({ b: 5 });
  });

  it('never refunds a completed job, and a second debit or refund for a job is refused by the ledger', async () => {
    const user = await fundedUser(t.fila, 10);
    const { job } = await t.fila.submitJob({ userId: user, tool: 'upscaler', input: upscaleInput() });
    await t.fila.markRunning(job.id, 't');
    await t.fila.finishJob(job.id, 'completed', [{ url: 'https://out.test/a.png', type: 'png' }], null);
    await t.fila.finishJob(job.id, 'failed', null, 'late failure webhook');
    expect(await t.fila.creditBalance(user)).toBe(8);
    await expect(t.admin.query(`insert into fila.credit_entries (user_id, job_id, kind, amount) values ($1, $2, 'debit', -2)`, [user, job.id]))
      .rejects.toThrow(/one_entry_per_job_and_kind/);
  });
});
