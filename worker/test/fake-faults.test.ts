// The fake RunningHub's fault injection (the chaos run's provider): each job without a `#fake=`
// directive draws one at the configured rates, the same one every time for the same job, and the
// create-timeout directive creates the task before an answer that comes too late for the client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drawDirective, startFakeRunningHub, type FakeFaults, type FakeRunningHub } from '../../dev/fake-runninghub/server.ts';
import { waitFor } from '../../dev/test-support/wait.ts';
import { RunningHubClient, RunningHubUnreachableError } from '../runninghub/client.ts';

const job = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const faults: FakeFaults = {
  seed: 7, okMs: [100, 200],
  rates: { fail: 0.2, loseWebhook: 0.05, duplicateWebhook: 0.1, queueMaxed: 0.05, hang: 0.01, createTimeout: 0.01 },
  failMessages: (workflowId) => (workflowId === '1' ? ['only for workflow one'] : ['another workflow\'s message']),
};

describe('fault rates', () => {
  it('draw each directive at its rate over many jobs, and the same directive for the same job', () => {
    const n = 20_000;
    const counts = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const d = drawDirective(faults, job(i), '1', 150);
      const kind = d.split(':')[0]!;
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      expect(drawDirective(faults, job(i), '1', 150)).toBe(d);
    }
    const share = (k: string) => (counts.get(k) ?? 0) / n;
    expect(share('fail')).toBeGreaterThan(0.18);
    expect(share('fail')).toBeLessThan(0.22);
    expect(share('lose-webhook')).toBeGreaterThan(0.04);
    expect(share('lose-webhook')).toBeLessThan(0.06);
    expect(share('duplicate-webhook')).toBeGreaterThan(0.085);
    expect(share('duplicate-webhook')).toBeLessThan(0.115);
    expect(share('queue-maxed')).toBeGreaterThan(0.04);
    expect(share('queue-maxed')).toBeLessThan(0.06);
    expect(share('hang')).toBeGreaterThan(0.005);
    expect(share('create-timeout')).toBeGreaterThan(0.005);
    expect(share('ok')).toBeGreaterThan(0.55);
    expect(share('ok')).toBeLessThan(0.61);
  });

  it('fail with the workflow\'s own messages, and succeed within okMs', () => {
    const drawn = Array.from({ length: 2000 }, (_, i) => drawDirective(faults, job(i), '2', 150));
    const fails = drawn.filter((d) => d.startsWith('fail:'));
    expect(fails.length).toBeGreaterThan(0);
    expect(new Set(fails.map((d) => decodeURIComponent(d.slice('fail:'.length))))).toEqual(new Set(['another workflow\'s message']));
    for (const d of drawn.filter((x) => x.startsWith('ok:'))) {
      const ms = Number(d.slice(3));
      expect(ms).toBeGreaterThanOrEqual(100);
      expect(ms).toBeLessThanOrEqual(200);
    }
  });

  it('do not override a directive the input carries, and without the option nothing is drawn', () => {
    const seeded = Array.from({ length: 50 }, (_, i) => drawDirective({ ...faults, rates: {} }, job(i), '1', 150));
    expect(new Set(seeded.map((d) => d.split(':')[0]))).toEqual(new Set(['ok']));
  });
});

describe('the fake with faults', () => {
  const injected: FakeFaults = { ...faults, rates: { queueMaxed: 0.5, createTimeout: 0.5 } };
  let fake: FakeRunningHub;
  let client: RunningHubClient;
  beforeAll(async () => {
    // the client waits 3 s (a loaded machine can take a second to answer an ordinary create); a
    // create-timeout create answers only after 8 s
    fake = await startFakeRunningHub({ defaultMs: 100, createTimeoutMs: 8000, faults: injected });
    client = new RunningHubClient({ baseUrl: fake.url, apiKey: 'k', timeoutMs: 3000 });
  });
  afterAll(async () => { await fake?.stop(); });

  const create = (n: number, url = `https://files.example/${n}.png`) => client.create({
    workflowId: '1', nodeInfoList: [{ nodeId: '10', fieldName: 'image', fieldValue: url }],
    webhookUrl: `http://127.0.0.1:9/v1/webhooks/runninghub/${job(n)}?token=t`,
  });

  it('refuses a queue-maxed job once (421, recorded), then creates its task; a create-timeout task exists although the answer never came in time', async () => {
    let maxed = -1; let timedOut = -1;
    for (let i = 0; (maxed < 0 || timedOut < 0) && i < 100; i++) {
      const d = drawDirective(injected, job(i), '1', 100);
      if (d.startsWith('queue-maxed') && maxed < 0) maxed = i;
      if (d === 'create-timeout' && timedOut < 0) timedOut = i;
    }
    await expect(create(maxed)).rejects.toMatchObject({ code: 421 });
    expect(fake.refusals).toEqual([expect.objectContaining({ jobId: job(maxed), code: 421 })]);
    const second = await create(maxed);
    expect(fake.tasks.get(second.taskId)?.drawn).toBe('queue-maxed:1');

    const err = await create(timedOut).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunningHubUnreachableError);
    expect((err as RunningHubUnreachableError).reason).toBe('timeout');
    const task = [...fake.tasks.values()].find((t) => t.jobId === job(timedOut));
    expect(task?.drawn).toBe('create-timeout');
    await waitFor('the timed-out task to finish on its own', () => task?.status === 'SUCCESS');
    expect(fake.peakActive).toBeGreaterThanOrEqual(1);
  });

  it('keeps the directive an input carries', async () => {
    const { taskId } = await create(1000, 'https://files.example/x.png#fake=ok:50');
    expect(fake.tasks.get(taskId)?.drawn).toBeNull();
    expect(fake.tasks.get(taskId)?.script).toEqual({ kind: 'ok', ms: 50 });
  });
});
