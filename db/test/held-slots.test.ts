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
  await t.admin.query(`update fila.jobs set create_uncertain_at = null, create_unanswered_since = null
                       where create_uncertain_at is not null or create_unanswered_since is not null`);
  await t.admin.query(`delete from fila.provider_account_status`);
  await t.admin.query(`update fila.provider_accounts set enabled = false where account <> 'default'`);
  await t.admin.query(`update fila.jobs set provider_task_ended_at = now() where provider_cancel_requested_at is not null`);
  await t.admin.query(`update fila.tools set soft_deadline = '5 minutes', hard_deadline = '10 minutes'`);
  await t.admin.query(`update fila.settings set max_slots = 1, starting_timeout = '300 milliseconds', presence_timeout = '60 seconds'`);
  await t.fila.setProviderAccount('default', 1);
});

const idle = (running: number) => ({ currentTaskCounts: running, remainCoins: null, remainMoney: null, apiType: null });

async function heldUntilOf(jobId: string): Promise<Date> {
  const { rows } = await t.admin.query<{ held_until: Date }>(`select held_until from fila.held_slots where job_id = $1`, [jobId]);
  expect(rows).toHaveLength(1);
  return rows[0]!.held_until;
}

/** Real time: wait until the database's clock has passed `at`. */
async function sleepUntil(at: Date): Promise<void> {
  await waitFor('the database clock to pass the held slot\'s deadline', async () =>
    (await t.admin.query<{ past: boolean }>(`select clock_timestamp() > $1 as past`, [at])).rows[0]!.past || null, 10_000);
}

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

  it('after its job ended, until its tool\'s hard deadline since the create has passed and RunningHub\'s count, read after it, shows no task fila does not run', async () => {
    await t.admin.query(`update fila.tools set soft_deadline = '1 second', hard_deadline = '2 seconds' where tool = 'upscaler'`);
    const a = await endedAfterUncertainCreate();
    const b = await submit();
    await t.fila.reapStaleJobs();
    expect(await status(b.job.id)).toBe('queued');
    const heldUntil = await heldUntilOf(a.job.id);
    const { rows } = await t.admin.query<{ create_uncertain_at: Date }>(`select create_uncertain_at from fila.jobs where id = $1`, [a.job.id]);
    expect(heldUntil.getTime() - rows[0]!.create_uncertain_at.getTime()).toBe(2000);
    await t.fila.recordAccountStatus('default', idle(0)); // read before the deadline: says nothing about after it
    await sleepUntil(heldUntil);
    // past the deadline, with no reading since: still held (the task may run on)
    await t.fila.reapStaleJobs();
    expect(await status(b.job.id)).toBe('queued');
    // the worker's next reading: RunningHub runs nothing, so the task never existed or has ended
    await t.fila.recordAccountStatus('default', idle(0));
    await t.fila.reapStaleJobs();
    expect(await status(b.job.id)).toBe('starting');
  });

  it('past the deadline, while RunningHub counts a task fila does not run on that account (the create reached it, the task hangs)', async () => {
    await t.admin.query(`update fila.tools set soft_deadline = '1 second', hard_deadline = '2 seconds' where tool = 'upscaler'`);
    await t.admin.query(`update fila.settings set max_slots = 2`);
    await t.fila.setProviderAccount('default', 2);
    // one job runs on the account (its task known), then a second's create goes unanswered and it ends
    const runner = await submit();
    await t.fila.markRunning(runner.job.id, 'task-running');
    const a = await endedAfterUncertainCreate();
    const heldUntil = await heldUntilOf(a.job.id);
    const b = await submit();
    expect(b.job.status).toBe('queued');
    await sleepUntil(heldUntil);
    // RunningHub counts two tasks: the running job's and one fila cannot name
    await t.fila.recordAccountStatus('default', idle(2));
    await t.fila.dispatch();
    expect(await status(b.job.id)).toBe('queued');
    await sleep(300);
    await t.fila.dispatch();
    expect(await status(b.job.id)).toBe('queued');
    // the hanging task ends: RunningHub counts only the running job's
    await t.fila.recordAccountStatus('default', idle(1));
    await t.fila.dispatch();
    expect(await status(b.job.id)).toBe('starting');
  });

  it('counts only tasks of jobs running before the reading against RunningHub\'s count, and only on that account', async () => {
    await t.admin.query(`update fila.tools set soft_deadline = '1 second', hard_deadline = '2 seconds' where tool = 'upscaler'`);
    await t.admin.query(`update fila.settings set max_slots = 3`);
    await t.fila.setProviderAccount('default', 2);
    await t.fila.setProviderAccount('other', 1);
    const a = await endedAfterUncertainCreate(); // on 'default' (first with a free slot)
    expect((await t.admin.query(`select account from fila.jobs where id = $1`, [a.job.id])).rows).toEqual([{ account: 'default' }]);
    await sleepUntil(await heldUntilOf(a.job.id));
    // a reading of 1 on 'default' taken before any fila job ran there: the one task is the unnamed one
    await t.fila.recordAccountStatus('default', idle(1));
    await t.fila.recordAccountStatus('other', idle(0)); // another account's reading says nothing about 'default'
    const runner = await submit();
    await t.fila.markRunning(runner.job.id, 'task-after-reading'); // started after the reading: not in its count
    const b = await submit();
    expect(b.job.status).toBe('starting');
    expect((await t.admin.query(`select account from fila.jobs where id = $1`, [b.job.id])).rows).toEqual([{ account: 'other' }]);
    const c = await submit();
    expect(c.job.status).toBe('queued'); // 'default': 1 running + 1 still held = 2; 'other': 1 of 1
  });

  it('past the deadline by more than 10 minutes with no reading, or by more than a day, holds nothing', async () => {
    const a = await endedAfterUncertainCreate();
    const b = await submit();
    expect(b.job.status).toBe('queued');
    await t.admin.query(`update fila.jobs set create_uncertain_at = now() - interval '10 minutes 10 seconds' - (select hard_deadline from fila.tools where tool = 'upscaler') where id = $1`, [a.job.id]);
    await t.fila.dispatch();
    expect(await status(b.job.id)).toBe('starting');
    await t.fila.finishJob(b.job.id, 'failed', null, 'make room');
    // a reading after the deadline counting a task fila does not run: held, for a day at most
    await t.fila.recordAccountStatus('default', idle(1));
    const c = await submit();
    expect(c.job.status).toBe('queued');
    await t.admin.query(`update fila.jobs set create_uncertain_at = now() - interval '1 day 10 seconds' - (select hard_deadline from fila.tools where tool = 'upscaler') where id = $1`, [a.job.id]);
    await t.fila.dispatch();
    expect(await status(c.job.id)).toBe('starting');
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
