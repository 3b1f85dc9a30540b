// The chaos checker is itself checked: a small honest run through fila's real SQL functions passes
// every row, and the same run doctored by hand (a dispatch that overtakes, a second refund, a lost
// webhook left unrecovered, a page closed and its job started anyway) is reported as the break it is.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { FilaDb } from '../../db/fila.ts';
import { checkRun, type CheckResult } from '../chaos/checker.ts';
import type { ChaosRecord, ProviderTaskRecord, SubmitRecord } from '../chaos/record.ts';
import { fakeFailNode } from '../../dev/fake-runninghub/server.ts';

let t: TestDatabase;
beforeEach(async () => { t = await createTestDatabase(); });
afterEach(async () => { await t.drop(); });

const input = (n: string) => ({ image_url: `https://files.example/${n}.png`, category: 'comida' });
const outputs = (taskId: string) => [{ url: `http://127.0.0.1:1/files/${taskId}/ComfyUI_00001_.png`, type: 'png' }];

interface Honest { record: ChaosRecord; jobs: { a: string; b: string; c: string } }

/**
 * One slot; A runs, B and C wait (B submitted after A's answer, C after B's). A completes, B fails
 * with the provider's message (refunded), C completes. Each step through the real functions.
 */
async function honestRun(db: TestDatabase): Promise<Honest> {
  await db.admin.query('update fila.settings set max_slots = 1');
  const worker = new FilaDb(db.admin);
  const users = [randomUUID(), randomUUID(), randomUUID()];
  for (const u of users) await db.fila.grantCredits(u, 10, 'checker test');
  const submits: SubmitRecord[] = [];
  const submit = async (user: string, name: string) => {
    const rec: SubmitRecord = { user, tool: 'upscaler', behaviour: 'wait', beganAt: Date.now(), answeredAt: null, jobId: null, retries: 0, abandonedAt: null, cancelRequestedAt: null };
    const { job } = await db.fila.submitJob({ userId: user, tool: 'upscaler', input: input(name), idempotencyKey: null, presence: false });
    rec.answeredAt = Date.now();
    rec.jobId = job.id;
    submits.push(rec);
    await new Promise((r) => setTimeout(r, 5)); // the next submit begins strictly after this answer
    return job.id;
  };
  const a = await submit(users[0]!, 'a');
  const b = await submit(users[1]!, 'b');
  const c = await submit(users[2]!, 'c');
  await worker.markRunning(a, 'task-a');
  await worker.finishJob(a, 'completed', outputs('task-a'), null);
  await worker.markRunning(b, 'task-b');
  await worker.finishJob(b, 'failed', null, 'CUDA out of memory.');
  await worker.markRunning(c, 'task-c');
  await worker.finishJob(c, 'completed', outputs('task-c'), null);
  const task = (taskId: string, jobId: string, script: string, status: ProviderTaskRecord['status'], failMessage: string | null = null): ProviderTaskRecord =>
    ({ taskId, jobId, script, failMessage, status, canceled: false, createdAt: Date.now(), finishedAt: Date.now() });
  return {
    jobs: { a, b, c },
    record: {
      submits, outages: [], reaperPeriodMs: 1000,
      provider: {
        peakActive: 1, refusals: {},
        tasks: [task('task-a', a, 'ok', 'SUCCESS'), task('task-b', b, 'fail', 'FAILED', 'CUDA out of memory.'), task('task-c', c, 'lose-webhook', 'SUCCESS')],
      },
    },
  };
}

const row = (r: CheckResult, rule: string) => {
  const found = r.rows.find((x) => x.rule.startsWith(rule));
  if (!found) throw new Error(`no row "${rule}" in:\n${r.rows.map((x) => x.rule).join('\n')}`);
  return found;
};
const broken = (r: CheckResult) => r.rows.filter((x) => x.breaks > 0).map((x) => x.rule);

describe('chaos checker', () => {
  it('passes an honest run on every row', async () => {
    const { record } = await honestRun(t);
    const result = await checkRun(t.url, record);
    expect(broken(result), JSON.stringify(result.rows, null, 2)).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.counts).toMatchObject({ jobs: 3, completed: 2, failed: 1 });
  });

  it('reports a dispatch that overtook a job answered before it was submitted (and the slot it over-filled)', async () => {
    await t.admin.query('update fila.settings set max_slots = 1');
    const users = [randomUUID(), randomUUID(), randomUUID()];
    for (const u of users) await t.fila.grantCredits(u, 10, 'checker test');
    const submits: SubmitRecord[] = [];
    for (const [i, u] of users.entries()) {
      const beganAt = Date.now();
      const { job } = await t.fila.submitJob({ userId: u, tool: 'upscaler', input: input(`j${i}`), idempotencyKey: null, presence: false });
      submits.push({ user: u, tool: 'upscaler', behaviour: 'wait', beganAt, answeredAt: Date.now(), jobId: job.id, retries: 0, abandonedAt: null, cancelRequestedAt: null });
      await new Promise((r) => setTimeout(r, 5));
    }
    const third = submits[2]!.jobId!;
    // by hand, in this copy: the third job takes a slot while the second (answered first) waits
    await t.admin.query(`update fila.jobs set status = 'starting', account = 'default', started_at = now(), deadline_at = now() + interval '1 minute' where id = $1`, [third]);
    await t.admin.query(`insert into fila.job_events (job_id, from_status, to_status, reason) values ($1, 'queued', 'starting', 'doctored')`, [third]);
    const result = await checkRun(t.url, { submits, outages: [], reaperPeriodMs: 1000, provider: { peakActive: 0, refusals: {}, tasks: [] } });
    const fifo = row(result, 'FIFO');
    expect(fifo.breaks).toBe(1);
    expect(fifo.detail).toContain(`${third} dispatched`);
    expect(fifo.detail).toContain(`while ${submits[1]!.jobId} waited`);
    expect(row(result, 'occupancy').breaks).toBeGreaterThan(0);
    expect(result.ok).toBe(false);
  });

  it('reports a second refund inserted by hand even when the balance was adjusted to match it', async () => {
    const { record, jobs } = await honestRun(t);
    await t.admin.query('alter table fila.credit_entries drop constraint one_entry_per_job_and_kind');
    const { rows: [b] } = await t.admin.query<{ user_id: string; credit_cost: number }>('select user_id, credit_cost from fila.jobs where id = $1', [jobs.b]);
    await t.admin.query(`insert into fila.credit_entries (user_id, job_id, kind, amount, reason) values ($1, $2, 'refund', $3, 'doctored')`, [b!.user_id, jobs.b, b!.credit_cost]);
    await t.admin.query('update fila.balances set balance = balance + $2 where user_id = $1', [b!.user_id, b!.credit_cost]);
    const result = await checkRun(t.url, record);
    const refunds = row(result, 'one debit per job');
    expect(refunds.breaks).toBe(1);
    expect(refunds.detail).toContain(`failed job ${jobs.b}: 2 refunds`);
    expect(row(result, 'sum(debits)').breaks).toBe(1);
    expect(row(result, 'credit_audit').breaks).toBe(0); // the balance was made to agree: only the refund rule sees it
  });

  it('takes the provider\'s message with the node the fake named as its verdict, and reports any other wording', async () => {
    const { record, jobs } = await honestRun(t);
    await t.admin.query(`update fila.jobs set error = $2 where id = $1`, [jobs.b, `CUDA out of memory. (${fakeFailNode})`]);
    expect(row(await checkRun(t.url, record), 'every failure is').breaks).toBe(0);
    for (const error of ['CUDA out of memory. (OtherNode)', 'Falha no processamento.', 'CUDA out of memory']) {
      await t.admin.query(`update fila.jobs set error = $2 where id = $1`, [jobs.b, error]);
      const wrong = row(await checkRun(t.url, record), 'every failure is');
      expect([wrong.breaks, wrong.detail.includes(jobs.b)], error).toEqual([1, true]);
    }
  });

  it('measures the ETAs pages were shown against the wait that followed, from the event log', async () => {
    const { record, jobs } = await honestRun(t);
    const { rows: [start] } = await t.admin.query<{ at_ms: number }>(
      `select (extract(epoch from at) * 1000)::float8 as at_ms from fila.job_events
       where job_id = $1 and from_status = 'queued' and to_status = 'starting' order by id desc limit 1`, [jobs.b]);
    const rec = record.submits.find((s) => s.jobId === jobs.b)!;
    // 10 s before the start the page said 12 s (2 s off, 20 %); 4 s before it said 4 s (exact);
    // a reading after the start is not a wait and is left out
    rec.etas = [{ at: start!.at_ms - 10_000, eta: 12 }, { at: start!.at_ms - 4000, eta: 4 }, { at: start!.at_ms + 500, eta: 1 }];
    const { eta } = await checkRun(t.url, record);
    expect(eta).toMatchObject({ samples: 2, jobs: 1 });
    expect(eta!.p90S).toBeCloseTo(2, 1);
    expect(eta!.p90Pct).toBeCloseTo(20, 0);
  });

  it('reports an output copy that failed or is missing, and counts one still pending without a break', async () => {
    const { record, jobs } = await honestRun(t);
    const worker = new FilaDb(t.admin);
    const copies = 'every output of a completed job is copied';
    // the honest run: both completed jobs' copies still pending (no worker here): counted, not broken
    const honest = await checkRun(t.url, record);
    expect(row(honest, copies).breaks).toBe(0);
    expect(honest.counts).toMatchObject({ outputs: 2, copied: 0, pendingCopies: 2 });
    // A's copy fails for good (a worker without a store), C's copy row is gone
    await worker.recordOutputCopyFailure(jobs.a, 0, 'this worker has no file store', 'failed');
    await t.admin.query('delete from fila.output_copies where job_id = $1', [jobs.c]);
    const result = await checkRun(t.url, record);
    expect(row(result, copies).breaks).toBe(2);
    expect(row(result, copies).detail).toContain(`output 0 of job ${jobs.a} failed: this worker has no file store`);
    expect(row(result, copies).detail).toContain(`output 0 of job ${jobs.c} has no copy recorded`);
    expect(result.ok).toBe(false);
  });

  it('reports a balance that differs from its ledger', async () => {
    const { record } = await honestRun(t);
    await t.admin.query('update fila.balances set balance = balance + 1 where user_id = (select min(user_id::text)::uuid from fila.balances)');
    const result = await checkRun(t.url, record);
    expect(row(result, 'credit_audit').breaks).toBeGreaterThan(0);
  });

  it('reports a lost webhook whose finished task was not recovered, and a provider task left running', async () => {
    const { record, jobs } = await honestRun(t);
    // the provider says the lost-webhook task of C succeeded, but this copy says C failed
    await t.admin.query(`update fila.jobs set status = 'failed', outputs = null, error = 'Prazo esgotado' where id = $1`, [jobs.c]);
    await t.admin.query(`insert into fila.job_events (job_id, from_status, to_status, reason) values ($1, 'completed', 'failed', 'doctored')`, [jobs.c]);
    record.provider.tasks.push({ taskId: 'task-x', jobId: jobs.a, script: 'hang', failMessage: null, status: 'RUNNING', canceled: false, createdAt: Date.now(), finishedAt: null });
    const result = await checkRun(t.url, record);
    expect(row(result, 'every lost webhook').detail).toContain(`job ${jobs.c} ended failed`);
    expect(row(result, 'every lost webhook').breaks).toBe(1);
    expect(row(result, 'no provider task left running').breaks).toBe(1);
    expect(row(result, 'every failure is').breaks).toBe(1); // a failure the provider never reported
  });

  it('reports a job started after its page was gone for presence_timeout, and one canceled as abandoned while its page was open', async () => {
    const { record, jobs } = await honestRun(t);
    // A's page "closed" long before it was dispatched; B's page never closed but it was given up
    record.submits[0]!.abandonedAt = Date.now() - 10 * 60_000;
    await t.admin.query(`update fila.job_events set at = now() where job_id = $1 and to_status = 'starting'`, [jobs.a]);
    await t.admin.query(`insert into fila.job_events (job_id, from_status, to_status, reason) values ($1, 'failed', 'canceled', 'abandoned: doctored')`, [jobs.b]);
    const result = await checkRun(t.url, record);
    expect(row(result, 'no job whose page was gone').breaks).toBe(1);
    expect(row(result, 'no job whose page was open').breaks).toBe(1);
  });
});
