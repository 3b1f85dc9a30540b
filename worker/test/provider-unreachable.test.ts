// The provider unreachable (the fake's listening socket really closed) for a while: nobody fails,
// nobody is refunded, dispatch pauses with a growing back-off, and the queue drains in order after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fifoViolations, startHarness, type Harness } from '../../dev/test-support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await h.t.admin.query(`update fila.settings set backoff_base = '300 ms', backoff_max = '1200 ms'`);
  await h.startWorker();
});
afterAll(async () => { await h?.stop(); });

describe('provider unreachable', () => {
  it('requeues without failing or refunding anyone, pauses dispatch with a growing back-off, then drains the queue in FIFO order', async () => {
    await h.fake.pause();
    expect(h.fake.listening).toBe(false);
    const jobs = [];
    for (let i = 0; i < 6; i++) {
      jobs.push(await h.submit('upscaler', { image_url: `https://files.example/u${i}.png`, category: 'comida' }, 10));
    }
    // several back-off rounds while it is down
    const overview = await h.waitFor('the back-off to grow past two steps', async () => {
      const o = await h.t.fila.queueOverview();
      return o.backoff_step >= 3 ? o : null;
    }, 20_000);
    expect(overview.pause_reason).toMatch(/^RunningHub unreachable \(refused\)/);
    const { rows: states } = await h.t.admin.query<{ status: string; n: number }>(
      'select status, count(*)::int as n from fila.jobs group by status');
    expect(states.filter((s) => !['queued', 'starting'].includes(s.status))).toEqual([]);
    expect((await h.t.admin.query(`select * from fila.credit_ledger where kind = 'refund'`)).rows).toEqual([]);
    for (const j of jobs) expect(await h.t.fila.creditBalance(j.user_id)).toBe(10 - j.credit_cost);
    const requeues = (await h.t.admin.query<{ n: number }>(
      `select count(*)::int as n from fila.job_events where from_status = 'starting' and to_status = 'queued'`)).rows[0]!.n;
    expect(requeues).toBeGreaterThanOrEqual(6);
    expect(h.fake.requestsTo('create')).toEqual([]); // it really received nothing

    await h.fake.resume();
    for (const j of jobs) expect((await h.waitStatus(j.id, ['completed', 'failed'], 30_000)).status).toBe('completed');
    expect(await fifoViolations(h)).toEqual([]);
    // each job reached the provider exactly once, in queue order as far as the slots allow
    const firstCreate = jobs.map((j) => h.fake.requestsTo('create').findIndex((r) => (r.body as { webhookUrl: string }).webhookUrl.includes(j.id)));
    expect(firstCreate.every((i) => i >= 0)).toBe(true);
    for (const j of jobs) expect(h.createsFor(j.id)).toHaveLength(1);
    for (let i = 3; i < jobs.length; i++) expect(firstCreate[i]).toBeGreaterThan(Math.min(...firstCreate.slice(0, 3)));
    expect((await h.t.admin.query(`select * from fila.credit_ledger where kind = 'refund'`)).rows).toEqual([]);
    const after = await h.t.fila.queueOverview();
    expect(after.backoff_step).toBe(0); // mark_running ended the pause
    expect(after.pause_reason).toBeNull();
  });
});
