// A lost webhook costs seconds of slot time, not minutes: a running job whose webhook has not come
// by its tool's typical duration is asked about through /task/openapi/outputs every few seconds,
// with a bound on the requests whatever the number of workers.
import { FilaDb } from '../../db/fila.ts';
import { fulfilled, onConnections } from '../../dev/test-support/concurrency.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerProviderCancels } from '../../dev/test-support/fixtures.ts';
import { startHarness, type Harness } from '../../dev/test-support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => { await h?.stop(); });

describe('prompt recovery of a lost webhook', () => {
  it('a job whose webhook is lost completes from /outputs within seconds, long before its soft deadline, with nobody calling the reaper', async () => {
    await h.t.admin.query(`update fila.tools set typical_duration = '1 second', soft_deadline = '10 minutes' where tool = 'upscaler'`);
    const w = await h.startWorker({ crontab: false });
    const job = await h.submit('upscaler', { image_url: 'https://files.example/lost.png#fake=lose-webhook', category: 'logo' });
    const done = await h.waitStatus(job.id, ['completed', 'failed'], 20_000);
    await w.stop();
    expect(done.status).toBe('completed');
    expect(done.recovered_by).toBe('poll');
    expect(done.outputs![0]!.url).toContain(`/files/${done.provider_task_id}/`);
    expect(h.fake.webhookDeliveries.filter((d) => d.taskId === done.provider_task_id)).toEqual([]);
    // what RunningHub reported the task cost, kept for cost reports
    expect(done.provider_cost).toMatchObject({ taskCostTime: expect.stringMatching(/^\d+$/), consumeCoins: expect.stringMatching(/^\d+$/) });
    // asked through /outputs, never through the unmaintained /status
    expect(h.fake.requestsTo('outputs').some((r) => (r.body as { taskId: string }).taskId === done.provider_task_id)).toBe(true);
    expect(h.fake.requestsTo('status')).toEqual([]);
    const recovery = await h.t.fila.providerRecovery();
    expect(recovery.recovered_by_poll).toBe(1);
    expect(recovery.lost_slot_seconds).toBeGreaterThanOrEqual(0);
    expect(await h.refunds(job.id)).toBe(0);
  });
});

describe('fila.claim_overdue_polls bounds the requests to the provider', () => {
  it('hands out each overdue job to one caller at a time, at most max_jobs per call, and not again within poll_every, however many callers at once', async () => {
    await h.t.admin.query(`update fila.settings set max_slots = 12`);
    await h.t.admin.query(`select fila.set_provider_account('default', 12)`);
    await h.t.admin.query(`update fila.tools set typical_duration = '1 second' where tool = 'veste_ai'`);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const job = await h.submit('veste_ai', { person_image_url: `https://files.example/p${i}.png`, garment_image_url: 'https://files.example/g.png' });
      await h.t.fila.markRunning(job.id, `poll-task-${i}-${job.id.slice(0, 8)}`);
      ids.push(job.id);
    }
    // running for a minute already: overdue
    await h.t.admin.query(`update fila.jobs set running_at = now() - interval '1 minute' where id = any($1)`, [ids]);

    const pool = h.t.pool('fila_worker', 8); // ended with the test database
    const results = fulfilled(await onConnections(pool, 8, (c) => new FilaDb(c).claimOverduePolls(3, 60)));
    expect(results).toHaveLength(8);
    for (const r of results) expect(r.length).toBeLessThanOrEqual(3);
    const claimed = results.flat().map((j) => j.id);
    expect(new Set(claimed).size).toBe(claimed.length); // nobody got the same job twice
    expect(new Set(claimed)).toEqual(new Set(ids)); // 8 callers × 3 ≥ 10: every overdue job, once
    // within poll_every nobody gets them again
    expect(await new FilaDb(pool).claimOverduePolls(10, 60)).toEqual([]);
    for (const id of ids) await h.t.fila.cancelJob(id, null);
    await answerProviderCancels(h.t.fila, h.t.admin); // no worker here: their cancels' answers
  });
});

describe('fila.claim_overdue_polls_by_account bounds the requests to each account', () => {
  it('gives each account its own budget of asks per window over all callers at once: a busy account neither passes it nor takes the others\' turns', async () => {
    await h.t.admin.query(`update fila.settings set max_slots = 14`);
    await h.t.admin.query(`select fila.set_provider_account('default', 14)`);
    await h.t.admin.query(`select fila.set_provider_account('busy', 10), fila.set_provider_account('quiet', 4)`);
    await h.t.admin.query(`update fila.tools set typical_duration = '1 second' where tool = 'veste_ai'`);
    const byAccount: Record<string, string[]> = { busy: [], quiet: [] };
    for (let i = 0; i < 12; i++) {
      const account = i < 10 ? 'busy' : 'quiet';
      const job = await h.submit('veste_ai', { person_image_url: `https://files.example/acc${i}.png`, garment_image_url: 'https://files.example/g.png' });
      await h.t.fila.markRunning(job.id, `acc-task-${i}-${job.id.slice(0, 8)}`);
      byAccount[account]!.push(job.id);
    }
    const ids = [...byAccount.busy!, ...byAccount.quiet!];
    for (const [account, jobIds] of Object.entries(byAccount)) {
      await h.t.admin.query(`update fila.jobs set account = $2, running_at = now() - interval '1 minute' where id = any($1)`, [jobIds, account]);
    }

    const pool = h.t.pool('fila_worker', 8);
    const results = fulfilled(await onConnections(pool, 8, (c) => new FilaDb(c).claimOverduePollsByAccount(3, 60)));
    const claimed = results.flat();
    expect(new Set(claimed.map((j) => j.id)).size).toBe(claimed.length); // nobody got the same job twice
    // 8 callers at once, yet 3 asks for the busy account in the window, and the quiet one got both of its jobs
    expect(claimed.filter((j) => j.account === 'busy')).toHaveLength(3);
    expect(claimed.filter((j) => j.account === 'quiet').map((j) => j.id).sort()).toEqual([...byAccount.quiet!].sort());
    // the window's budget is spent: nothing more until it passes
    expect(await new FilaDb(pool).claimOverduePollsByAccount(3, 60)).toEqual([]);
    // the window passes: the busy account's next 3, those never asked first
    await h.t.admin.query(`update fila.jobs set last_polled_at = last_polled_at - interval '2 minutes' where id = any($1) and last_polled_at is not null`, [ids]);
    const next = await new FilaDb(pool).claimOverduePollsByAccount(3, 60);
    const firstBusy = new Set(claimed.filter((j) => j.account === 'busy').map((j) => j.id));
    expect(next.filter((j) => j.account === 'busy')).toHaveLength(3);
    expect(next.filter((j) => j.account === 'busy').some((j) => firstBusy.has(j.id))).toBe(false);
    for (const id of ids) await h.t.fila.cancelJob(id, null);
  });
});
