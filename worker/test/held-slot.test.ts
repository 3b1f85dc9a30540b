// A create that got no answer made a task anyway; its job then ended at the starting deadline
// (failed, refunded). The task still runs at the provider, so its slot is not handed on: the next
// job starts only once the provider names the task (its webhook makes it an orphan). The fake
// provider counts the tasks active at once; it must never count more than max_slots.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../dev/test-support/harness.ts';

let h: Harness;
beforeAll(async () => {
  // tasks run 6 s; a create-timeout create answers after 30 s, long after the client gave up (2 s;
  // an ordinary create answers at once, even on a loaded machine); the starting deadline is 3 s
  h = await startHarness({ fake: { defaultMs: 6000, createTimeoutMs: 30_000 } });
  await h.t.admin.query(`update fila.settings set max_slots = 1, starting_timeout = '3 seconds'`);
  await h.t.fila.setProviderAccount('default', 1);
  await h.startWorker({ runninghub: { baseUrl: h.fake.url, accounts: h.keys, timeoutMs: 2000 } });
});
afterAll(async () => { await h?.stop(); });

describe('a task from an unanswered create', () => {
  it('keeps its slot after its job failed at the starting deadline, until its webhook names it; the provider never runs two', async () => {
    const a = await h.submit('upscaler', { image_url: 'https://files.example/a.png#fake=create-timeout', category: 'pessoas' });
    const b = await h.submit('upscaler', { image_url: 'https://files.example/b.png', category: 'pessoas' });
    expect([a.status, b.status]).toEqual(['starting', 'queued']);

    // the reaper's passes (cron in production) end A at its starting deadline
    const failed = await h.waitFor('A to fail at its starting deadline', async () => {
      await h.reap();
      const job = await h.job(a.id);
      return job.status === 'failed' ? job : null;
    }, 20_000);
    expect(failed.error).toContain('starting_timeout');
    expect(await h.refunds(a.id)).toBe(1);
    const taskOfA = [...h.fake.tasks.values()].find((t) => t.jobId === a.id)!;
    expect(taskOfA.status === 'QUEUED' || taskOfA.status === 'RUNNING').toBe(true);
    await h.reap();
    expect((await h.job(b.id)).status).toBe('queued'); // A's task still runs: its slot is held

    const done = await h.waitStatus(b.id, 'completed', 30_000);
    expect(taskOfA.finishedAt).not.toBeNull();
    expect(done.started_at!.getTime()).toBeGreaterThanOrEqual(taskOfA.finishedAt!);
    expect(h.fake.peakActive).toBe(1);
    const note = (await h.timeline(a.id)).find((e) => e.note && e.reason.includes(taskOfA.taskId));
    expect(note?.reason).toMatch(/^orphan provider task/);
    expect(h.createsFor(a.id)).toHaveLength(1); // never created twice
  });
});

describe('a task the provider is still stopping', () => {
  let h2: Harness;
  beforeAll(async () => {
    // the provider takes 1.5 s to stop a task; tasks would run 20 s
    h2 = await startHarness({ fake: { defaultMs: 20_000, cancelDelayMs: 1500 } });
    await h2.t.admin.query(`update fila.settings set max_slots = 1`);
    await h2.t.fila.setProviderAccount('default', 1);
    await h2.startWorker();
  });
  afterAll(async () => { await h2?.stop(); });

  it('keeps the slot of a canceled running job until the provider answers the cancel; the provider never runs two', async () => {
    const a = await h2.submit('upscaler', { image_url: 'https://files.example/a.png', category: 'pessoas' });
    await h2.waitStatus(a.id, 'running');
    const b = await h2.submit('upscaler', { image_url: 'https://files.example/b.png#fake=ok:200', category: 'pessoas' });
    expect(b.status).toBe('queued');

    await h2.t.fila.cancelJob(a.id, a.user_id);
    expect(await h2.refunds(a.id)).toBe(1);
    // the cancel is on its way: A's slot is held, B waits
    const held = await h2.t.admin.query(`select why from fila.held_slots where job_id = $1 and held_until > now()`, [a.id]);
    expect(held.rows).toEqual([{ why: 'provider cancel pending' }]);
    expect((await h2.job(b.id)).status).toBe('queued');

    const done = await h2.waitStatus(b.id, 'completed', 20_000);
    const taskOfA = h2.fake.tasks.get((await h2.job(a.id)).provider_task_id!)!;
    expect(taskOfA.canceled).toBe(true);
    expect(done.started_at!.getTime()).toBeGreaterThanOrEqual(taskOfA.finishedAt!);
    expect(h2.fake.peakActive).toBe(1);
    expect((await h2.t.admin.query(`select count(*)::int as n from fila.held_slots where job_id = $1 and held_until > now()`, [a.id])).rows[0]).toEqual({ n: 0 });
  });
});

describe('a job canceled while its create is on its way', () => {
  let h3: Harness;
  beforeAll(async () => {
    // the provider answers a create after 2 s; tasks run 3 s
    h3 = await startHarness({ fake: { defaultMs: 3000, createDelayMs: 2000 } });
    await h3.t.admin.query(`update fila.settings set max_slots = 1`);
    await h3.t.fila.setProviderAccount('default', 1);
    await h3.startWorker();
  });
  afterAll(async () => { await h3?.stop(); });

  it('keeps its slot until the task the create made is named and stopped; the provider never runs two', async () => {
    const a = await h3.submit('upscaler', { image_url: 'https://files.example/a.png', category: 'pessoas' });
    await h3.waitFor('the create of A to reach the provider', async () => h3.createsFor(a.id).length === 1);
    const b = await h3.submit('upscaler', { image_url: 'https://files.example/b.png', category: 'pessoas' });
    expect(b.status).toBe('queued');

    await h3.t.fila.cancelJob(a.id, a.user_id);
    expect(await h3.refunds(a.id)).toBe(1);
    // the create is out: its task may exist, so A's slot is not handed to B
    const held = await h3.t.admin.query(`select why from fila.held_slots where job_id = $1 and held_until > now()`, [a.id]);
    expect(held.rows).toEqual([{ why: 'create unanswered' }]);
    expect((await h3.job(b.id)).status).toBe('queued');

    const done = await h3.waitStatus(b.id, 'completed', 30_000);
    const taskOfA = [...h3.fake.tasks.values()].find((t) => t.jobId === a.id)!;
    expect(taskOfA.canceled).toBe(true);
    expect(done.started_at!.getTime()).toBeGreaterThanOrEqual(taskOfA.finishedAt!);
    expect(h3.fake.peakActive).toBe(1);
    expect(h3.createsFor(a.id)).toHaveLength(1);
  });
});
