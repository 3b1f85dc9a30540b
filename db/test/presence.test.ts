// Presence is heard through the API's event streams. While no API process beats (down, or
// restarting) nobody can hear a page, so nothing counts as abandoned; an API process that starts
// gives every queued job a fresh lease (its pages reconnect to it). Real time, short settings.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';
import { sleep } from '../../dev/test-support/wait.ts';
import type { Job } from '../fila.ts';

let t: TestDatabase;
beforeAll(async () => { t = await createTestDatabase(); });
afterAll(async () => { await t.drop(); });

beforeEach(async () => {
  await t.admin.query(`update fila.jobs set status = 'canceled', finished_at = now(), account = coalesce(account, 'default')
                       where status in ('queued', 'starting', 'running')`);
  await t.admin.query('delete from fila.presence_services');
  await t.admin.query(`update fila.settings set max_slots = 1, presence_timeout = '3 seconds'`);
  await t.fila.setProviderAccount('default', 1);
});

/** A slot holder, then a queued job whose page never sends anything after its submit. */
async function queuedPage(): Promise<Job> {
  const holder = await fundedUser(t.fila);
  await t.fila.submitJob({ userId: holder, tool: 'upscaler', input: upscaleInput() });
  const user = await fundedUser(t.fila);
  const { job } = await t.fila.submitJob({ userId: user, tool: 'upscaler', input: upscaleInput(1), presence: true });
  expect(job.status).toBe('queued');
  return job;
}
const status = async (id: string) => (await t.fila.job(id)).job.status;

/** An API process beating every 300 ms until stopped. */
function apiProcess(): { instance: string; stop(): Promise<void> } {
  const instance = randomUUID();
  let running = true;
  const loop = (async () => {
    while (running) {
      await t.fila.presenceBeat(instance, 300);
      await sleep(300);
    }
  })();
  return { instance, async stop() { running = false; await loop; } };
}

describe('presence is judged only while it can be heard', () => {
  it('while an API process beats, a page unseen for presence_timeout is abandoned', async () => {
    const api = apiProcess();
    try {
      await sleep(200);
      const job = await queuedPage();
      await sleep(3300);
      expect((await t.fila.reapStaleJobs()).map((j) => j.id)).toEqual([job.id]);
      expect(await status(job.id)).toBe('canceled');
    } finally { await api.stop(); }
  });

  it('while no API process beats (the API is away), nothing is abandoned; once it is back, the lease runs from its start', async () => {
    const before = apiProcess();
    await sleep(200);
    const job = await queuedPage();
    await before.stop(); // the API goes away: its last beat ages past two intervals
    await sleep(3300);
    expect(await t.fila.reapStaleJobs()).toEqual([]);
    await t.fila.dispatch();
    expect(await status(job.id)).toBe('queued');

    const after = apiProcess(); // a new process: every page has presence_timeout to reconnect
    try {
      await sleep(1500);
      expect(await t.fila.reapStaleJobs()).toEqual([]);
      await sleep(2000); // 3.5 s since the new process started, and the page never came back
      expect((await t.fila.reapStaleJobs()).map((j) => j.id)).toEqual([job.id]);
    } finally { await after.stop(); }
  });

  it('a page that reconnects after an API restart keeps its job', async () => {
    const api = apiProcess();
    try {
      const job = await queuedPage();
      await sleep(2500);
      const again = apiProcess(); // restarted: a new process
      await api.stop();
      try {
        await sleep(1000);
        await t.fila.touchJob(job.id, (await t.fila.job(job.id)).job.user_id); // the page's stream is back
        await sleep(2500);
        expect(await t.fila.reapStaleJobs()).toEqual([]);
        expect(await status(job.id)).toBe('queued');
      } finally { await again.stop(); }
    } finally { await api.stop(); }
  });

  it('refuses a beat without its interval', async () => {
    await expect(t.fila.presenceBeat(randomUUID(), 0)).rejects.toMatchObject({ code: '22023' });
  });
});
