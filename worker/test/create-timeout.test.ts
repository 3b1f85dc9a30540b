// A create call that gets no answer in time may still have created a (paid) task: the worker never
// creates again; the task's webhook, arriving while the job is still `starting`, completes it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../dev/test-support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ fake: { createDelayMs: 1500, defaultMs: 2000 } });
  await h.startWorker({ runninghub: { baseUrl: h.fake.url, apiKey: h.apiKey, timeoutMs: 300 } });
});
afterAll(async () => { await h?.stop(); });

describe('create timed out', () => {
  it('is not retried (one task at the provider), and the webhook that beats mark_running completes the starting job', async () => {
    const job = await h.submit('video_upscaler', { video_url: 'https://files.example/t.mp4' });
    const done = await h.waitStatus(job.id, ['completed', 'failed'], 15_000);
    expect(done.status).toBe('completed');
    expect(h.createsFor(job.id)).toHaveLength(1);
    expect(h.fake.tasks.size).toBe(1);
    expect((await h.timeline(job.id)).map((e) => [e.from_status, e.to_status]))
      .toEqual([[null, 'queued'], ['queued', 'starting'], ['starting', 'completed']]);
    expect(done.outputs).toEqual([{ url: expect.stringMatching(/\.mp4$/), type: 'mp4' }]);
  });
});
