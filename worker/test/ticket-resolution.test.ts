// A launch: the slots are held by long jobs and a burst of submits queues behind them. No status
// changes, so nothing took the dispatch lock exclusively to resolve their tickets; the worker's
// poller does, and the positions stay exact.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../dev/test-support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => { await h?.stop(); });

describe('ticket resolution after a burst of submits', () => {
  it('a running worker resolves the tickets of a burst while every slot stays busy, and every position stays exact', async () => {
    const resolved = async () => Number((await h.t.admin.query<{ n: string }>('select tickets_resolved as n from fila.dispatch_state')).rows[0]!.n);
    await h.startWorker({ providerPoll: { intervalMs: 100, everySeconds: 60, resolveTicketsPast: 20 } });
    const holders = [];
    for (let i = 0; i < 3; i++) holders.push(await h.submit('upscaler', { image_url: `https://files.example/h${i}.png#fake=hang`, category: 'logo' }));
    for (const j of holders) await h.waitStatus(j.id, 'running');
    // from here on no status changes: the holders hang
    const before = await resolved();
    const queued = [];
    for (let i = 0; i < 30; i++) queued.push(await h.submit('upscaler', { image_url: `https://files.example/q${i}.png`, category: 'logo' }));
    const last = Math.max(...queued.map((j) => Number(j.queue_seq)));
    // the poller resolves whenever 20 or more are pending: at most 19 stay unresolved
    await h.waitFor('the poller to resolve the burst', async () => {
      const now = await resolved();
      return now > before && last - now < 20;
    });
    expect((await h.t.fila.jobTimeline(queued[0]!.id)).map((e) => e.to_status)).toEqual(['queued']);
    // the burst is still queued, in order, each at its place
    const { rows } = await h.t.admin.query<{ job_id: string; position: number }>('select job_id, position from fila.queue');
    expect(rows.map((r) => r.job_id)).toEqual(queued.map((j) => j.id));
    for (const r of rows) expect(await h.t.fila.queuePosition(r.job_id)).toBe(r.position);
    for (const j of [...holders, ...queued]) await h.t.fila.cancelJob(j.id, null);
  });
});
