// A create call that gets no answer in time may still have created a (paid) task: the worker never
// creates again and the job keeps its slot; the task's own webhook, confirmed with the provider for
// that task, makes it the job's task and completes the job.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../dev/test-support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ fake: { createDelayMs: 1500, defaultMs: 2000 } });
  await h.startWorker({ runninghub: { baseUrl: h.fake.url, accounts: h.keys, timeoutMs: 300 } });
});
afterAll(async () => { await h?.stop(); });

describe('create timed out', () => {
  it('is not retried (one task at the provider), is noted on the timeline, and the webhook the provider confirms completes the job', async () => {
    const job = await h.submit('video_upscaler', { video_url: 'https://files.example/t.mp4' });
    const done = await h.waitStatus(job.id, ['completed', 'failed'], 15_000);
    expect(done.status).toBe('completed');
    expect(h.createsFor(job.id)).toHaveLength(1);
    expect(h.fake.tasks.size).toBe(1);
    const timeline = await h.timeline(job.id);
    expect(timeline.map((e) => [e.from_status, e.to_status, e.note]))
      .toEqual([[null, 'queued', false], ['queued', 'starting', false], ['starting', 'starting', true], ['starting', 'running', false], ['running', 'completed', false]]);
    expect(timeline[2]!.reason).toMatch(/^create uncertain/);
    expect(done.provider_task_id).toBe([...h.fake.tasks.keys()][0]);
    expect(done.outputs).toEqual([{ url: expect.stringMatching(/\.mp4$/), type: 'mp4' }]);
  });
});
