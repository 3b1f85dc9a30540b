// A slot is not handed on while the provider may still run a task fila cannot name (a create that
// got no answer, then its job ended), and dispatch never starts a job whose page is gone. Real
// time throughout: the deadlines are set short and the test waits them out.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';
import { sleep, waitFor } from '../../dev/test-support/wait.ts';
import type { Job } from '../fila.ts';

let t: TestDatabase;
beforeAll(async () => { t = await createTestDatabase(); });
afterAll(async () => { await t.drop(); });

async function submit(presence = false): Promise<{ user: string; job: Job }> {
  const user = await fundedUser(t.fila, 10);
  const { job } = await t.fila.submitJob({ userId: user, tool: 'upscaler', input: upscaleInput(), presence });
  return { user, job };
}
const status = async (id: string) => (await t.fila.job(id)).job.status;

beforeEach(async () => {
  // nothing left holding a slot from the previous case
  await t.admin.query(`update fila.jobs set status = 'canceled', finished_at = now(), account = coalesce(account, 'default')
                       where status in ('queued', 'starting', 'running')`);
  await t.admin.query(`update fila.jobs set create_uncertain_at = null where create_uncertain_at is not null`);
  await t.admin.query(`update fila.jobs set provider_task_ended_at = now() where provider_cancel_requested_at is not null`);
  await t.admin.query(`update fila.tools set soft_deadline = '5 minutes', hard_deadline = '10 minutes'`);
  await t.admin.query(`update fila.settings set max_slots = 1, starting_timeout = '300 milliseconds', presence_timeout = '60 seconds'`);
  await t.fila.setProviderAccount('default', 1);
});

/** A job whose create got no answer, ended by its starting deadline: failed and refunded. */
async function endedAfterUncertainCreate(): Promise<{ user: string; job: Job }> {
  const a = await submit();
  expect(a.job.status).toBe('starting');
  await t.fila.noteUncertainCreate(a.job.id, 'timeout: no answer in 30000 ms');
  await sleep(400);
  const reaped = await t.fila.reapStaleJobs();
  expect(reaped.map((j) => [j.id, j.status])).toEqual([[a.job.id, 'failed']]);
  expect(await t.fila.creditBalance(a.user)).toBe(10);
  return a;
}

describe('a task that may exist at the provider keeps its slot', () => {
  it('after its job ended, until the provider names the task (its webhook records the orphan): then the next job starts', async () => {
    const a = await endedAfterUncertainCreate();
    const b = await submit();
    expect(b.job.status).toBe('queued');
    await t.fila.dispatch();
    expect(await status(b.job.id)).toBe('queued');
    const held = await t.admin.query(`select job_id, account from fila.held_slots where held_until > now()`);
    expect(held.rows).toEqual([{ job_id: a.job.id, account: 'default' }]);
    // the user is free meanwhile: one active job per user counts jobs, not held slots
    expect((await t.fila.submitJob({ userId: a.user, tool: 'upscaler', input: upscaleInput(1) })).job.status).toBe('queued');

    expect(await t.fila.recordOrphanTask(a.job.id, 'task-of-a', 'a webhook named it after the job was failed')).toBe(true);
    // named: it is canceled at the provider, and the slot waits for that answer
    await t.fila.dispatch();
    expect(await status(b.job.id)).toBe('queued');
    expect((await t.admin.query(`select why from fila.held_slots where job_id = $1 and held_until > now()`, [a.job.id])).rows)
      .toEqual([{ why: 'provider cancel pending' }]);
    await t.fila.providerTaskEnded(a.job.id); // what the worker's cancel_provider_task reports
    expect(await status(b.job.id)).toBe('starting');
  });

  it('after its job ended, until its tool\'s hard deadline since the create has passed, and no longer', async () => {
    await t.admin.query(`update fila.tools set soft_deadline = '1 second', hard_deadline = '2 seconds' where tool = 'upscaler'`);
    const a = await endedAfterUncertainCreate();
    const b = await submit();
    await t.fila.reapStaleJobs();
    expect(await status(b.job.id)).toBe('queued');
    const { rows } = await t.admin.query<{ held_until: Date; create_uncertain_at: Date }>(
      `select h.held_until, j.create_uncertain_at from fila.held_slots h join fila.jobs j on j.id = h.job_id where h.job_id = $1`, [a.job.id]);
    expect(rows[0]!.held_until.getTime() - rows[0]!.create_uncertain_at.getTime()).toBe(2000);
    // the reaper's passes free it once the bound has passed
    await waitFor('the held slot to be released by a reaper pass', async () => {
      await t.fila.reapStaleJobs();
      return (await status(b.job.id)) === 'starting' || null;
    }, 10_000);
    expect(Date.now()).toBeGreaterThanOrEqual(rows[0]!.held_until.getTime());
  });

  it('a job canceled by its user while its create was unanswered holds the slot too', async () => {
    const a = await submit();
    await t.fila.noteUncertainCreate(a.job.id, 'network: socket hang up');
    await t.fila.cancelJob(a.job.id, a.user);
    const b = await submit();
    expect(b.job.status).toBe('queued');
    expect(await t.fila.creditBalance(a.user)).toBe(10);
  });

  it('a job whose create was answered gives its slot back at once', async () => {
    const a = await submit();
    await t.fila.markRunning(a.job.id, 'task-known');
    await t.fila.finishJob(a.job.id, 'failed', null, 'CUDA out of memory');
    const b = await submit();
    expect(b.job.status).toBe('starting');
  });
});

describe('dispatch never starts a job whose page is gone', () => {
  it('cancels (and refunds) an abandoned job at the head of the queue and starts the next one', async () => {
    await t.admin.query(`update fila.settings set presence_timeout = '500 milliseconds'`);
    const holder = await submit();
    const gone = await submit(true);
    const next = await submit(false);
    expect([holder.job.status, gone.job.status, next.job.status]).toEqual(['starting', 'queued', 'queued']);
    await sleep(700); // the page sends no heartbeat: abandoned, and no reaper pass has run
    await t.fila.markRunning(holder.job.id, 'task-holder');
    await t.fila.finishJob(holder.job.id, 'completed', [{ url: 'https://out.test/x.png', type: 'png' }], null);
    expect(await status(gone.job.id)).toBe('canceled');
    expect(await status(next.job.id)).toBe('starting');
    expect(await t.fila.creditBalance(gone.user)).toBe(10);
    const timeline = await t.fila.jobTimeline(gone.job.id);
    expect(timeline.map((e) => [e.from_status, e.to_status])).toEqual([[null, 'queued'], ['queued', 'canceled']]);
    expect(timeline.at(-1)!.reason).toMatch(/^abandoned/);
  });

  it('starts a job whose page is still there (heartbeats within presence_timeout)', async () => {
    // touch_job writes at most every 2 s: the lease must be longer than that
    await t.admin.query(`update fila.settings set presence_timeout = '3 seconds'`);
    const holder = await submit();
    const here = await submit(true);
    for (let i = 0; i < 5; i++) { await sleep(1000); await t.fila.touchJob(here.job.id, here.user); }
    await t.fila.markRunning(holder.job.id, 'task-holder-2');
    await t.fila.finishJob(holder.job.id, 'completed', [{ url: 'https://out.test/x.png', type: 'png' }], null);
    expect(await status(here.job.id)).toBe('starting');
  });
});
