// The state machine's guarded transitions, the reaper's SQL part, presence, webhooks inbox, roles.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';
import { FilaError } from '../errors.ts';
import type { Job } from '../fila.ts';

let t: TestDatabase;
beforeAll(async () => { t = await createTestDatabase(); });
afterEach(async () => {
  expect(await t.fila.creditAudit()).toEqual([]);
  // leave the slots empty for the next test
  await t.admin.query(`update fila.jobs set status = 'canceled', finished_at = now() where status in ('queued','starting','running')`);
  // and no ended job still holding one while its provider task's cancel is pending (no worker here)
  await t.admin.query(`update fila.jobs set provider_task_ended_at = now() where provider_cancel_requested_at is not null`);
});
afterAll(async () => { await t.drop(); });

async function refusal(p: Promise<unknown>): Promise<FilaError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(FilaError);
  return err as FilaError;
}

async function submit(credits = 10, presence = false): Promise<{ user: string; job: Job }> {
  const user = await fundedUser(t.fila, credits);
  const { job } = await t.fila.submitJob({ userId: user, tool: 'upscaler', input: upscaleInput(), presence });
  return { user, job };
}

async function events(jobId: string): Promise<string[]> {
  return (await t.fila.jobTimeline(jobId)).map((e) => `${e.from_status ?? '-'}>${e.to_status}`);
}

describe('guarded transitions', () => {
  it('walks queued -> starting -> running -> completed, recording every transition', async () => {
    const { job } = await submit();
    const running = await t.fila.markRunning(job.id, '1910246754753896450');
    expect([running.status, running.provider_task_id]).toEqual(['running', '1910246754753896450']);
    expect(running.deadline_at!.getTime()).toBeGreaterThan(running.soft_deadline_at!.getTime());
    const done = await t.fila.finishJob(job.id, 'completed', [{ url: 'https://out.test/a.png', type: 'png' }], null);
    expect(done.outputs).toEqual([{ url: 'https://out.test/a.png', type: 'png' }]);
    expect(await events(job.id)).toEqual(['->queued', 'queued>starting', 'starting>running', 'running>completed']);
  });

  it('treats a duplicate finish_job as a no-op that returns the job unchanged', async () => {
    const { user, job } = await submit();
    await t.fila.markRunning(job.id, 't1');
    const first = await t.fila.finishJob(job.id, 'failed', null, 'CUDA out of memory. Tried to allocate 2.00 GiB');
    const second = await t.fila.finishJob(job.id, 'failed', null, 'CUDA out of memory. Tried to allocate 2.00 GiB');
    const third = await t.fila.finishJob(job.id, 'completed', [], null);
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    expect(first.error).toBe('CUDA out of memory. Tried to allocate 2.00 GiB');
    expect(await events(job.id)).toEqual(['->queued', 'queued>starting', 'starting>running', 'running>failed']);
    expect(await t.fila.creditBalance(user)).toBe(10);
  });

  it('changes nothing and refunds nothing when finish_job reaches a canceled job', async () => {
    const { user, job } = await submit();
    await t.fila.markRunning(job.id, 't2');
    await t.fila.cancelJob(job.id, user);
    const after = await t.fila.finishJob(job.id, 'failed', null, 'late webhook');
    expect([after.status, after.error]).toEqual(['canceled', null]);
    const { rows } = await t.admin.query(`select kind from fila.credit_ledger where job_id = $1 order by id`, [job.id]);
    expect(rows).toEqual([{ kind: 'debit' }, { kind: 'refund' }]);
    // the running job had a provider task: its cancel is in the worker's queue
    const { rows: jobs } = await t.admin.query(`select payload from graphile_worker._private_jobs j join graphile_worker._private_tasks k on k.id = j.task_id where k.identifier = 'cancel_provider_task'`);
    expect(jobs).toContainEqual({ payload: { job_id: job.id, provider_task_id: 't2' } });
  });

  it('applies a webhook that arrives before mark_running (a fast task); mark_running then only records the task id', async () => {
    const { job } = await submit();
    const done = await t.fila.finishJob(job.id, 'completed', [{ url: 'https://out.test/fast.png', type: 'png' }], null);
    expect(done.status).toBe('completed');
    const events = await t.fila.jobTimeline(job.id);
    const late = await t.fila.markRunning(job.id, 't-fast');
    expect([late.status, late.provider_task_id, late.outputs]).toEqual(['completed', 't-fast', done.outputs]);
    expect(await t.fila.jobTimeline(job.id)).toEqual(events); // no transition
    expect((await t.fila.markRunning(job.id, 't-other')).provider_task_id).toBe('t-fast'); // a fact is not overwritten

    // a job canceled while its task was being created names the orphaned task
    const { user, job: other } = await submit();
    await t.fila.cancelJob(other.id, user);
    expect(await t.fila.markRunning(other.id, 't-orphan')).toMatchObject({ status: 'canceled', provider_task_id: 't-orphan' });
  });

  it('refuses to cancel a completed job (FL005) and another user\'s job (FL004), changing nothing', async () => {
    const { user, job } = await submit();
    await t.fila.markRunning(job.id, 't3');
    await t.fila.finishJob(job.id, 'completed', [], null);
    const e = await refusal(t.fila.cancelJob(job.id, user));
    expect([e.sqlstate, e.code]).toEqual(['FL005', 'invalid_transition']);
    const other = await submit();
    const stranger = await fundedUser(t.fila);
    const before = await t.fila.job(other.job.id);
    const e2 = await refusal(t.fila.cancelJob(other.job.id, stranger));
    expect([e2.sqlstate, e2.code]).toEqual(['FL004', 'job_not_found']);
    expect((await refusal(t.fila.job(other.job.id, stranger))).code).toBe('job_not_found');
    expect((await refusal(t.fila.touchJob(other.job.id, stranger))).code).toBe('job_not_found');
    expect((await refusal(t.fila.cancelJob(crypto.randomUUID(), null))).code).toBe('job_not_found');
    expect(await t.fila.job(other.job.id)).toEqual(before);
  });

  it('refuses to finish a job that is still queued (FL005)', async () => {
    for (let i = 0; i < 3; i++) await submit();
    const { job } = await submit();
    expect(job.status).toBe('queued');
    expect((await refusal(t.fila.finishJob(job.id, 'completed', [], null))).code).toBe('invalid_transition');
    expect((await t.fila.job(job.id)).job.status).toBe('queued');
  });

  it('lets an operator cancel any job (user_id null)', async () => {
    const { user, job } = await submit();
    const canceled = await t.fila.cancelJob(job.id, null);
    expect(canceled.job.status).toBe('canceled');
    expect(await t.fila.creditBalance(user)).toBe(10);
    expect((await t.fila.jobTimeline(job.id)).at(-1)?.reason).toBe('canceled by an operator');
  });
});

describe('the reaper (SQL part)', () => {
  it('fails starting and running jobs past their hard deadline, saying which, refunds, and starts the next in line', async () => {
    const a = await submit(); // starting
    const b = await submit(); await t.fila.markRunning(b.job.id, 'task-b'); // running
    const c = await submit(); await t.fila.markRunning(c.job.id, 'task-c');
    const waiting = await submit(); // queued
    expect(waiting.job.status).toBe('queued');

    expect(await t.fila.reapStaleJobs()).toEqual([]); // nothing is stale yet
    // starting_timeout (2 min) has passed for a; the running jobs' 10-minute hard deadline not yet
    const reaped = await t.fila.reapStaleJobs(new Date(Date.now() + 5 * 60_000));
    expect(reaped.map((j) => j.id)).toEqual([a.job.id]);
    expect(reaped[0]!.error).toContain('starting_timeout');
    expect((await t.fila.job(waiting.job.id)).job.status).toBe('starting');
    expect(await t.fila.creditBalance(a.user)).toBe(10);

    const later = await t.fila.reapStaleJobs(new Date(Date.now() + 11 * 60_000));
    expect(later.map((j) => j.id).sort()).toEqual([b.job.id, c.job.id, waiting.job.id].sort());
    const bb = (await t.fila.job(b.job.id)).job;
    expect([bb.status, bb.error]).toEqual(['failed', 'Prazo esgotado: o processamento passou do prazo máximo de 00:10:00 (hard_deadline de upscaler).']);
    expect(await t.fila.creditBalance(b.user)).toBe(10);
    const { rows } = await t.admin.query(`select payload->>'provider_task_id' as task from graphile_worker._private_jobs j join graphile_worker._private_tasks k on k.id = j.task_id where k.identifier = 'cancel_provider_task' and payload->>'job_id' in ($1, $2)`, [b.job.id, c.job.id]);
    expect(rows.map((r) => r.task).sort()).toEqual(['task-b', 'task-c']);
  });

  it('cancels and refunds queued jobs whose page is gone past the lease, and leaves jobs without presence waiting', async () => {
    for (let i = 0; i < 3; i++) await submit(); // fill the slots
    const browser = await submit(10, true);
    const server = await submit(10, false);
    const seen = await submit(10, true);
    expect([browser.job.status, server.job.status, seen.job.status]).toEqual(['queued', 'queued', 'queued']);
    // 90 s later (lease 60 s); `seen` had a heartbeat meanwhile
    await t.admin.query(`update fila.jobs set last_seen_at = now() - interval '90 seconds' where id in ($1, $2)`, [browser.job.id, seen.job.id]);
    await t.fila.touchJob(seen.job.id, seen.user);
    const reaped = await t.fila.reapStaleJobs();
    expect(reaped.map((j) => [j.id, j.status])).toEqual([[browser.job.id, 'canceled']]);
    expect(await t.fila.creditBalance(browser.user)).toBe(10);
    expect((await t.fila.jobTimeline(browser.job.id)).at(-1)?.reason).toMatch(/^abandoned/);
    // a server-side job waits as long as it takes
    expect((await t.fila.reapStaleJobs(new Date(Date.now() + 30 * 24 * 3600_000))).map((j) => j.id)).not.toContain(server.job.id);
  });
});

describe('webhook inbox', () => {
  it('stores the raw payload and enqueues apply_webhook in one step; an unknown job is FL004', async () => {
    const { job } = await submit();
    const payload = { event: 'TASK_END', taskId: '1', eventData: '{"code":0,"msg":"success","data":[]}' };
    const id = await t.fila.receiveWebhook(job.id, 'runninghub', payload);
    expect((await t.fila.webhook(id))?.payload).toEqual(payload);
    const { rows } = await t.admin.query(`select payload from graphile_worker._private_jobs j join graphile_worker._private_tasks k on k.id = j.task_id where k.identifier = 'apply_webhook'`);
    expect(rows).toContainEqual({ payload: { inbox_id: id } });
    expect((await refusal(t.fila.receiveWebhook(crypto.randomUUID(), 'runninghub', payload))).code).toBe('job_not_found');
  });
});

describe('roles', () => {
  it('gives the application role functions and views but "permission denied" on every table', async () => {
    for (const table of ['jobs', 'job_events', 'credit_entries', 'balances', 'settings', 'tools', 'tool_prices', 'dispatch_state', 'webhook_inbox']) {
      await expect(t.app.query(`select * from fila.${table} limit 1`)).rejects.toThrow(/permission denied/);
    }
    await expect(t.app.query(`update fila.balances set balance = 1000000`)).rejects.toThrow(/permission denied/);
    await expect(t.app.query(`select fila._dispatch_locked()`)).rejects.toThrow(/permission denied/);
    await expect(t.app.query(`select * from fila.queue_overview`)).resolves.toBeDefined();
    await expect(t.app.query(`select * from fila.credit_audit`)).resolves.toBeDefined();
    const { rows } = await t.app.query(`select current_user`);
    expect(rows[0]).toEqual({ current_user: 'fila_app' });
  });

  it('refuses state changes under REPEATABLE READ, where the dispatch lock could not see what committed', async () => {
    const c = await t.pool('fila_worker', 1).connect();
    try {
      await c.query('begin isolation level repeatable read');
      await expect(c.query('select * from fila.dispatch()')).rejects.toThrow(/READ COMMITTED/);
    } finally {
      await c.query('rollback');
      c.release();
    }
  });
});
