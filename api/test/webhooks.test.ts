// The provider webhook: a forgery (wrong token, another job's token) is refused with 401 and
// leaves no trace; an unknown job is 404; a genuine one is stored and queued for the worker in one
// transaction and answered at once; replays are stored but applied once.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { webhookToken, webhookUrl } from '../../common/webhook-token.ts';
import { clearActive, snapshot, startTestApi, uid, upscalerInput, webhookSecret, type TestApi } from '../../dev/test-support/api.ts';

let api: TestApi;
beforeAll(async () => { api = await startTestApi(); });
afterAll(async () => { await api.close(); });
beforeEach(async () => { await clearActive(api.t); });

const payload = (taskId: string) => ({
  event: 'TASK_END', taskId,
  eventData: JSON.stringify({ code: 0, msg: 'success', data: [{ fileUrl: 'https://rh.example.com/out.png', fileType: 'png', taskCostTime: '12', nodeId: '9' }] }),
});

async function applyWebhookJobs(): Promise<number> {
  const { rows } = await api.t.admin.query<{ n: number }>(
    "select count(*)::int as n from graphile_worker.jobs where task_identifier = 'apply_webhook'");
  return rows[0]?.n ?? -1;
}

async function runningJob(): Promise<{ id: string; user: string }> {
  const user = uid();
  await api.t.fila.grantCredits(user, 10, 'test');
  const { job } = await api.t.fila.submitJob({ userId: user, tool: 'upscaler', input: upscalerInput });
  await api.t.fila.markRunning(job.id, `task-${job.id.slice(0, 8)}`);
  return { id: job.id, user };
}

const post = (jobId: string, token: string | null, body: unknown = payload('t')) =>
  fetch(`${api.url}/v1/webhooks/runninghub/${jobId}${token === null ? '' : `?token=${encodeURIComponent(token)}`}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('POST /v1/webhooks/runninghub/:jobId', () => {
  it('refuses a missing or wrong token, and another job\'s token, with 401 and stores nothing', async () => {
    const a = await runningJob();
    const b = await runningJob();
    const before = await snapshot(api.t);
    const queuedBefore = await applyWebhookJobs();
    for (const token of [null, '', 'garbage', webhookToken(a.id, 'another-secret'), webhookToken(b.id, webhookSecret), `${webhookToken(a.id, webhookSecret)}x`]) {
      const res = await post(a.id, token);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_webhook_token');
    }
    // a forgery with a malformed body is still a 401 first: nothing about it is read
    expect((await post(a.id, 'garbage', '{not json')).status).toBe(401);
    expect(await snapshot(api.t)).toEqual(before);
    expect(await applyWebhookJobs()).toBe(queuedBefore);
  });

  it('answers 404 for an unknown job with a valid token for its id, and stores nothing', async () => {
    const ghost = uid();
    const before = await snapshot(api.t);
    const res = await post(ghost, webhookToken(ghost, webhookSecret));
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('job_not_found');
    expect(await snapshot(api.t)).toEqual(before);
  });

  it('stores a genuine webhook raw with its apply_webhook job and answers 200 at once; the URL the worker builds works', async () => {
    const a = await runningJob();
    const queuedBefore = await applyWebhookJobs();
    const url = webhookUrl(api.url, a.id, webhookSecret);
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload('t-1')) });
    expect(res.status).toBe(200);
    const { inbox_id } = (await res.json()) as { inbox_id: number };
    const stored = await api.t.fila.webhook(inbox_id);
    expect(stored).toMatchObject({ job_id: a.id, provider: 'runninghub', payload: payload('t-1'), processed_at: null });
    expect(await applyWebhookJobs()).toBe(queuedBefore + 1);
    // "at once": the answer did not wait for the result to be applied; the job itself is untouched
    // until the worker confirms the result with the provider
    expect((await api.t.fila.job(a.id)).job.status).toBe('running');
  });

  it('stores each replay but applies the result once: one completion, no refund, one transition', async () => {
    const a = await runningJob();
    const b = await runningJob();
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await post(a.id, webhookToken(a.id, webhookSecret), payload('t-a'));
      expect(res.status).toBe(200);
      ids.push(((await res.json()) as { inbox_id: number }).inbox_id);
    }
    expect(new Set(ids).size).toBe(3);
    for (let i = 0; i < 2; i++) expect((await post(b.id, webhookToken(b.id, webhookSecret), payload('t-b'))).status).toBe(200);

    // what the worker's apply_webhook does with each stored webhook, after confirming with the provider
    for (const id of ids) {
      await api.t.fila.finishJob(a.id, 'completed', [{ url: 'https://rh.example.com/out.png', type: 'png' }], null);
      await api.t.fila.markWebhookProcessed(id, 'applied');
    }
    for (let i = 0; i < 2; i++) await api.t.fila.finishJob(b.id, 'failed', null, 'VALIDATE_PROMPT_FAILED: node 9');

    const events = await api.t.admin.query<{ job_id: string; to_status: string }>(
      'select job_id, to_status from fila.job_events where job_id = any($1) and from_status is not null and to_status in (\'completed\', \'failed\')', [[a.id, b.id]]);
    expect(events.rows.filter((e) => e.job_id === a.id).map((e) => e.to_status)).toEqual(['completed']);
    expect(events.rows.filter((e) => e.job_id === b.id).map((e) => e.to_status)).toEqual(['failed']);
    expect(await api.t.fila.creditBalance(a.user)).toBe(8);
    expect(await api.t.fila.creditBalance(b.user)).toBe(10);
    const refunds = await api.t.admin.query<{ n: number }>("select count(*)::int as n from fila.credit_entries where kind = 'refund' and job_id = any($1)", [[a.id, b.id]]);
    expect(refunds.rows[0]?.n).toBe(1);
    expect(await api.t.fila.creditAudit()).toEqual([]);
  });

  it('answers 400 for a body that is not JSON (with a valid token) and stores nothing', async () => {
    const a = await runningJob();
    const before = await snapshot(api.t);
    const res = await post(a.id, webhookToken(a.id, webhookSecret), '{"event": ');
    expect(res.status).toBe(400);
    expect(await snapshot(api.t)).toEqual(before);
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(metrics).toMatch(/fila_webhooks_total\{outcome="bad_token"\} 7/);
    expect(metrics).toMatch(/fila_webhooks_total\{outcome="unknown_job"\} 1/);
    expect(metrics).toMatch(/fila_webhooks_total\{outcome="accepted"\} 6/);
  });
});
