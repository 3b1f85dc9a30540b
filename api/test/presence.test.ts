// Abandoned places are given back: a queued job with presence whose page is gone (no stream, no
// heartbeat) for the lease is canceled and refunded by the reaper; a page that reloads within the
// lease keeps its place. Real time passes here: the lease is set short, the reaper runs as is.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobManager, type Job } from '../client/index.ts';
import { clearActive, fillSlots, sleep, startTestApi, uid, upscalerInput, waitFor, type TestApi } from '../../dev/test-support/api.ts';

let api: TestApi;
const leaseSeconds = 4;
beforeAll(async () => {
  api = await startTestApi({ presenceTouchMs: 250, sseHeartbeatMs: 1000 });
  await api.t.admin.query(`update fila.settings set presence_timeout = '${leaseSeconds} seconds'`);
});
afterAll(async () => { await api.close(); });

async function page(user: string): Promise<JobManager> {
  const token = await api.token(user);
  // what a browser tab gets by default: presence on
  return new JobManager({ baseUrl: api.url, getToken: () => token, presence: true, pollIntervalMs: 200 });
}

async function seq(jobId: string): Promise<number> {
  return (await api.t.admin.query<{ queue_seq: number }>('select queue_seq from fila.jobs where id = $1', [jobId])).rows[0]?.queue_seq ?? -1;
}

describe('presence', () => {
  it('cancels and refunds a queued job whose page went away, after the lease; a page that reloads within the lease keeps its place', async () => {
    await fillSlots(api.t);
    const gone = uid();
    const reloading = uid();
    const serverSide = uid();
    for (const u of [gone, reloading, serverSide]) await api.t.fila.grantCredits(u, 10, 'test');

    const goneTab = await page(gone);
    const goneJob = await goneTab.createJob('upscaler', upscalerInput);
    const reloadTab = await page(reloading);
    const reloadJob = await reloadTab.createJob('upscaler', upscalerInput);
    // a server-side caller (no presence) waits as long as it takes
    const token = await api.token(serverSide);
    const backend = new JobManager({ baseUrl: api.url, getToken: () => token, presence: false });
    const backendJob = await backend.createJob('upscaler', upscalerInput);
    expect([goneJob.presence, reloadJob.presence, backendJob.presence]).toEqual([true, true, false]);
    expect([goneJob.position, reloadJob.position, backendJob.position]).toEqual([1, 2, 3]);
    const placeBefore = await seq(reloadJob.id);

    const stopGone = goneTab.subscribe(goneJob.id, () => undefined);
    const firstView: Job[] = [];
    const stopFirst = reloadTab.subscribe(reloadJob.id, (j) => firstView.push(j));
    await waitFor('the first page to see its job', () => firstView.length >= 1);

    // the tab closes: its stream ends and nothing touches the job any more
    const closedAt = Date.now();
    stopGone();
    // the other page reloads: its stream drops, a second later the new page resumes the job
    stopFirst();
    await sleep(1000);
    const reloadedTab = await page(reloading);
    const afterReload: Job[] = [];
    const resumed = await reloadedTab.resume((j) => afterReload.push(j));
    expect(resumed?.job.id).toBe(reloadJob.id);

    // the lease of the closed tab runs out (real time), then the reaper runs
    await sleep(Math.max(0, closedAt + leaseSeconds * 1000 + 700 - Date.now()));
    const goneBalanceBefore = await api.t.fila.creditBalance(gone);
    const reaped = await api.t.fila.reapStaleJobs();
    expect(reaped.map((j) => j.id)).toEqual([goneJob.id]);

    const ended = (await api.t.fila.job(goneJob.id)).job;
    expect(ended.status).toBe('canceled');
    expect(goneBalanceBefore).toBe(8);
    expect(await api.t.fila.creditBalance(gone)).toBe(10);
    const timeline = await api.t.fila.jobTimeline(goneJob.id);
    expect(timeline.at(-1)?.reason).toMatch(/^abandoned/);

    // the reloaded page kept its place (same FIFO ticket) and moved up as the abandoned job left
    expect((await api.t.fila.job(reloadJob.id)).job.status).toBe('queued');
    expect(await seq(reloadJob.id)).toBe(placeBefore);
    await waitFor('the reloaded page to see position 1', () => afterReload.at(-1)?.position === 1);
    // and the server-side job without presence is untouched by the reaper
    expect((await api.t.fila.job(backendJob.id)).json.position).toBe(2);
    resumed?.unsubscribe();
  });

  it('keeps a job seen by heartbeats alone (a client that polls), and gives it up when they stop', async () => {
    await clearActive(api.t);
    await fillSlots(api.t);
    const user = uid();
    await api.t.fila.grantCredits(user, 10, 'test');
    const tab = await page(user);
    const job = await tab.createJob('upscaler', upscalerInput);
    // heartbeats only, no stream, for longer than the lease
    const until = Date.now() + (leaseSeconds + 1) * 1000;
    while (Date.now() < until) {
      await tab.heartbeat(job.id);
      await sleep(500);
    }
    expect(await api.t.fila.reapStaleJobs()).toEqual([]);
    expect((await api.t.fila.job(job.id)).job.status).toBe('queued');
    await sleep(leaseSeconds * 1000 + 700);
    expect((await api.t.fila.reapStaleJobs()).map((j) => j.id)).toEqual([job.id]);
    expect(await api.t.fila.creditBalance(user)).toBe(10);
  });
});
