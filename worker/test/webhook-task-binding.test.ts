// A webhook's result applies only to the task fila recorded for that job, confirmed with the
// provider for THAT task; tasks nobody owns are canceled and written on the timeline. Attackers go
// through the real HTTP API (POST /v1/jobs, POST /v1/webhooks/runninghub/:job), the worker runs on
// graphile-worker, RunningHub is the fake over HTTP.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobJson } from '../../db/fila.ts';
import { webhookUrl } from '../../common/webhook-token.ts';
import { startHarness, type Harness } from '../../dev/test-support/harness.ts';

let h: Harness;
let api: Awaited<ReturnType<Harness['startApi']>>;
// the worker gives up on a create after 1.5 s: slow-create:3000 is a create that timed out after
// the task was created; slow-create:800 is a slow create that still answers in time
const createTimeoutMs = 1500;

beforeAll(async () => {
  // tasks run 2.5 s, so a canceled job's late task is still running when its cancel arrives
  h = await startHarness({ fake: { defaultMs: 2500 } });
  api = await h.startApi();
  await h.startWorker({ publicUrl: api.url, runninghub: { baseUrl: h.fake.url, accounts: { default: h.apiKey }, timeoutMs: createTimeoutMs } });
});
afterAll(async () => {
  await h?.stop();
});

/** A user with credits submits through the HTTP API. */
async function submit(input: Record<string, unknown>, tool = 'upscaler'): Promise<{ user: string; job: JobJson }> {
  const user = randomUUID();
  await h.t.fila.grantCredits(user, 50, 'test');
  const res = await fetch(`${api.url}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await api.token(user)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ tool, input }),
  });
  expect(res.status).toBe(201);
  return { user, job: await res.json() as JobJson };
}

/** What the provider's webhook for a task looks like: its real outputs as eventData. */
async function webhookBodyFor(taskId: string): Promise<unknown> {
  const outputs = await fetch(`${h.fake.url}/task/openapi/outputs`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: h.apiKey, taskId }) });
  return { event: 'TASK_END', taskId, eventData: await outputs.text() };
}

/** The attacker holds their own job's webhook URL and posts whatever they like to it. */
async function postWebhook(jobId: string, body: unknown): Promise<number> {
  const res = await fetch(webhookUrl(api.url, jobId, h.secret), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

async function inbox(jobId: string): Promise<Array<{ task: string; processed: boolean; outcome: string | null }>> {
  const { rows } = await h.t.admin.query<{ task: string; processed: boolean; outcome: string | null }>(
    `select payload ->> 'taskId' as task, processed_at is not null as processed, outcome
       from fila.webhook_inbox where job_id = $1 order by id`, [jobId]);
  return rows;
}

/** User B's finished job: its task id and outputs are what an attacker would like to get. */
async function victim(): Promise<{ jobId: string; taskId: string; url: string }> {
  const b = await submit({ image_url: 'https://files.example/victim.png', category: 'logo' });
  const done = await h.waitStatus(b.job.id, 'completed');
  return { jobId: done.id, taskId: done.provider_task_id!, url: done.outputs![0]!.url };
}

describe('a webhook applies only to the task fila recorded for its job', () => {
  it('user A posts user B\'s task id to A\'s own webhook URL while A\'s job is starting: A never gets B\'s outputs, gets its own, and B\'s task is not canceled', async () => {
    const b = await victim();
    const a = await submit({ image_url: 'https://files.example/attacker.png#fake=slow-create:800', category: 'logo' });
    await h.waitFor('A\'s create to reach the provider', async () => h.createsFor(a.job.id).length === 1);
    expect((await h.job(a.job.id)).status).toBe('starting');

    expect(await postWebhook(a.job.id, await webhookBodyFor(b.taskId))).toBe(200); // stored, like any webhook
    const done = await h.waitStatus(a.job.id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    expect(done.provider_task_id).not.toBe(b.taskId);
    expect(done.outputs!.map((o) => o.url)).not.toContain(b.url);
    expect(done.outputs![0]!.url).toContain(`/files/${done.provider_task_id}/`);
    await h.waitFor('both webhooks to be processed', async () => (await inbox(a.job.id)).every((w) => w.processed) || null);
    const rows = await inbox(a.job.id);
    expect(rows.find((w) => w.task === b.taskId)?.outcome).toBe(`rejected: task ${b.taskId} belongs to another job`);
    expect(rows.find((w) => w.task === done.provider_task_id)?.outcome).toBe('applied: completed');
    expect(h.fake.tasks.get(b.taskId)?.canceled).toBe(false);
    expect((await h.job(b.jobId)).outputs![0]!.url).toBe(b.url);
  });

  it('after a create that timed out, A\'s post of B\'s task id is never adopted; A\'s own task, confirmed with the provider, is', async () => {
    const b = await victim();
    const a = await submit({ image_url: 'https://files.example/attacker2.png#fake=slow-create:3000', category: 'logo' });
    await h.waitFor('A\'s create to reach the provider', async () => h.createsFor(a.job.id).length === 1);
    expect(await postWebhook(a.job.id, await webhookBodyFor(b.taskId))).toBe(200);
    const done = await h.waitStatus(a.job.id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    const aTask = [...h.fake.tasks.values()].find((t) => t.jobId === a.job.id)!;
    expect(done.provider_task_id).toBe(aTask.taskId);
    expect(done.outputs![0]!.url).toContain(`/files/${aTask.taskId}/`);
    const timeline = await h.timeline(a.job.id);
    expect(timeline.map((e) => [e.from_status, e.to_status])).toEqual([
      [null, 'queued'], ['queued', 'starting'], ['starting', 'starting'], ['starting', 'running'], ['running', 'completed']]);
    expect(timeline[2]).toMatchObject({ note: true, reason: expect.stringMatching(/^create uncertain/) });
    await h.waitFor('the attacker\'s webhook to be processed', async () => (await inbox(a.job.id)).every((w) => w.processed) || null);
    expect((await inbox(a.job.id)).find((w) => w.task === b.taskId)?.outcome).toBe(`rejected: task ${b.taskId} belongs to another job`);
    expect(h.fake.tasks.get(b.taskId)?.canceled).toBe(false);
    expect(h.createsFor(a.job.id)).toHaveLength(1); // never created twice
  });
});

describe('no provider task is left running unseen', () => {
  it('a create that answers after the job was canceled: the task is canceled at the provider and noted on the job\'s timeline', async () => {
    const a = await submit({ image_url: 'https://files.example/late.png#fake=slow-create:800', category: 'logo' });
    await h.waitFor('the create to reach the provider', async () => h.createsFor(a.job.id).length === 1);
    await h.t.fila.cancelJob(a.job.id, a.user);
    const task = await h.waitFor('the task to be canceled at the provider',
      async () => [...h.fake.tasks.values()].find((t) => t.jobId === a.job.id && t.canceled));
    const note = await h.waitFor('the orphan on the timeline', async () =>
      (await h.timeline(a.job.id)).find((e) => e.note && e.reason.includes(task.taskId)));
    expect(note).toMatchObject({ from_status: 'canceled', to_status: 'canceled' });
    expect(note.reason).toBe(`orphan provider task ${task.taskId} canceled at the provider: the create answered after the job was canceled`);
    expect(h.fake.webhookDeliveries.filter((d) => d.taskId === task.taskId)).toEqual([]);
    expect(await h.refunds(a.job.id)).toBe(1);
  });

  it('a webhook naming a task no job owns, for a finished job, cancels that task once and notes it; repeats change nothing', async () => {
    const a = await submit({ image_url: 'https://files.example/done.png', category: 'logo' });
    await h.waitStatus(a.job.id, 'completed');
    // a task that exists at the provider under our key but belongs to no job (e.g. a create whose
    // job failed at its starting deadline before the answer came)
    const stray = await h.client.create({ workflowId: '1904136902449209001', webhookUrl: '',
      nodeInfoList: [{ nodeId: '10', fieldName: 'image', fieldValue: 'https://files.example/stray.png#fake=hang' }] });
    const body = { event: 'TASK_END', taskId: stray.taskId, eventData: '{"code":0,"msg":"success","data":[]}' };
    expect(await postWebhook(a.job.id, body)).toBe(200);
    expect(await postWebhook(a.job.id, body)).toBe(200);
    await h.waitFor('the stray task to be canceled', async () => h.fake.tasks.get(stray.taskId)?.canceled);
    await h.waitFor('both webhooks processed', async () => {
      const rows = await inbox(a.job.id);
      return rows.filter((w) => w.task === stray.taskId && w.processed).length === 2 || null;
    });
    const notes = (await h.timeline(a.job.id)).filter((e) => e.note);
    expect(notes.map((e) => e.reason)).toEqual([
      `orphan provider task ${stray.taskId} canceled at the provider: a webhook named it after the job was completed`]);
    expect(h.fake.requestsTo('cancel').filter((r) => (r.body as { taskId: string }).taskId === stray.taskId)).toHaveLength(1);
    expect((await h.job(a.job.id)).status).toBe('completed');
  });
});
