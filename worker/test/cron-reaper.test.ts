// The reaper as it runs in production: from graphile-worker's crontab, once a minute, with nobody
// calling it. A job whose webhook is lost is completed by the first cron pass after its soft
// deadline. This waits for a real minute boundary (up to about 60 s; other files run meanwhile).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../dev/test-support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});

describe('the crontab', () => {
  it('runs the reaper every minute by itself: a lost webhook is recovered with nobody calling reapOnce', async () => {
    await h.t.admin.query(`update fila.tools set soft_deadline = '1 second', hard_deadline = '10 minutes' where tool = 'upscaler'`);
    await h.startWorker({ crontab: true });
    const job = await h.submit('upscaler', { image_url: 'https://files.example/cron.png#fake=lose-webhook', category: 'logo' });
    const running = await h.waitStatus(job.id, 'running');
    const task = h.fake.tasks.get(running.provider_task_id!)!;
    await h.waitFor('the provider to finish the task', async () => task.status === 'SUCCESS');

    const done = await h.waitStatus(job.id, ['completed', 'failed'], 90_000);
    expect(done.status).toBe('completed');
    expect(done.outputs).toEqual([{ url: `${h.fake.url}/files/${task.taskId}/ComfyUI_00001_.png`, type: 'png' }]);
    expect(h.fake.webhookDeliveries.filter((d) => d.taskId === task.taskId)).toEqual([]); // no webhook: the reaper did it
    // asked the provider for the result (the pass's outputs call) rather than guessing
    expect(h.fake.requestsTo('outputs').some((r) => (r.body as { taskId?: string }).taskId === task.taskId)).toBe(true);
    const { rows } = await h.t.admin.query<{ last_execution: Date | null }>(
      `select last_execution from graphile_worker._private_known_crontabs where identifier = 'fila_reap'`);
    expect(rows[0]?.last_execution).toBeInstanceOf(Date);
    expect(await h.refunds(job.id)).toBe(0);
  }, 120_000);
});
