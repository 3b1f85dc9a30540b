// fila's slots agree with the account's real concurrency: the worker reads RunningHub's
// /uc/openapi/accountStatus at start-up and periodically, and /metrics says when RunningHub runs a
// different number of tasks than fila holds slots for (here: a task leaked outside any job).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAccountStatus } from '../poller.ts';
import { RunningHubAccounts } from '../runninghub/accounts.ts';
import { startHarness, testLogger, type Harness } from '../../dev/test-support/harness.ts';

let h: Harness;
beforeAll(async () => { h = await startHarness(); });
afterAll(async () => { await h?.stop(); });

const metric = (text: string, name: string): string | undefined =>
  text.split('\n').find((l) => l.startsWith(name))?.split(' ').at(-1);

describe('the account status', () => {
  it('is read when the worker starts, and agrees with fila while every provider task is a job\'s', async () => {
    await h.startWorker();
    const check = await h.waitFor('the start-up read', async () => (await h.t.fila.providerAccountChecks())[0]);
    expect(check).toMatchObject({ account: 'default', provider_running: 0, fila_occupied: 0, disagrees: false, remain_coins: '99879' });
    expect(h.fake.requestsTo('accountStatus').length).toBeGreaterThanOrEqual(1);
  });

  it('a task running at RunningHub that no job holds shows on /metrics as a disagreement, with both counts', async () => {
    const job = await h.submit('video_upscaler', { video_url: 'https://files.example/long.mp4#fake=hang' });
    await h.waitStatus(job.id, 'running');
    // a leaked task: running under the account, held by no job
    await h.client.create({ workflowId: '1904136902449209001', webhookUrl: '',
      nodeInfoList: [{ nodeId: '10', fieldName: 'image', fieldValue: 'https://files.example/leak.png#fake=hang' }] });
    expect(await checkAccountStatus({ db: h.t.fila, runninghub: new RunningHubAccounts(new Map([['default', h.client]])), logger: testLogger }, 'default')).toBe(true);
    const [check] = await h.t.fila.providerAccountChecks();
    expect(check).toMatchObject({ provider_running: 2, fila_occupied: 1, disagrees: true });

    const api = await h.startApi();
    const text = await (await fetch(`${api.url}/metrics`)).text();
    expect(metric(text, 'fila_provider_running_tasks{account="default"}')).toBe('2');
    expect(metric(text, 'fila_provider_occupancy_disagrees{account="default"}')).toBe('1');
    expect(metric(text, 'fila_slots_used')).toBe('1');
    expect(metric(text, 'fila_tool_disabled{tool="video_upscaler"}')).toBe('0');
    expect(metric(text, 'fila_orphan_provider_tasks')).toBe('0');
    await h.t.fila.cancelJob(job.id, null);
  });
});
