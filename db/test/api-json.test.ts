// The JSON the SQL produces is the JSON the API documents: fila.job_json, fila.user_jobs, the
// credits and the queue snapshot fit their zod schemas (common/api-json.ts) with no field missing
// and none extra, in every state a job can show. The schemas are the one source of the shape.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from '@hono/zod-openapi';
import { CreditsSchema, JobSchema, MyJobsPage, QueueSchema, UserJobSchema } from '../../common/api-json.ts';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';

let t: TestDatabase;
beforeAll(async () => { t = await createTestDatabase(); });
afterAll(async () => { await t.drop(); });

/** The schema's keys and the JSON's keys are the same set, and the values parse. */
function fits(schema: z.ZodObject, json: unknown): void {
  expect(Object.keys(json as object).sort()).toEqual(Object.keys(schema.shape).sort());
  schema.strict().parse(json);
}

describe('the SQL\'s JSON and the zod schemas', () => {
  it('fila.job_json fits JobSchema while queued, starting, running, completed, failed and canceled', async () => {
    const seen = new Set<string>();
    const users = await Promise.all([1, 2, 3, 4, 5, 6].map(() => fundedUser(t.fila)));
    const jobs = [];
    for (const [i, u] of users.entries()) {
      const { json } = await t.fila.submitJob({ userId: u, tool: 'upscaler', input: upscaleInput(i) });
      fits(JobSchema, json);
      seen.add(json.status);
      jobs.push(json);
    }
    // three slots: the first three are starting, the rest queued
    const [a, b, c, d] = jobs as [typeof jobs[number], typeof jobs[number], typeof jobs[number], typeof jobs[number]];
    await t.fila.markRunning(a.id, 'task-a');
    await t.fila.finishJob(a.id, 'completed', [{ url: 'https://files.test/out.png', type: 'png' }], null);
    await t.fila.markRunning(b.id, 'task-b');
    await t.fila.finishJob(b.id, 'failed', null, 'the provider said no');
    await t.fila.cancelJob(d.id, null);
    for (const j of [a, b, c, d, ...jobs.slice(4)]) {
      const { json } = await t.fila.job(j.id);
      fits(JobSchema, json);
      seen.add(json.status);
    }
    expect([...seen].sort()).toEqual(['canceled', 'completed', 'failed', 'queued', 'starting']);
    const running = await fundedUser(t.fila);
    const { json } = await t.fila.submitJob({ userId: running, tool: 'upscaler', input: upscaleInput(9) });
    for (const j of await t.fila.activeJobs()) if (j.job_id !== json.id) await t.fila.cancelJob(j.job_id, null);
    const started = (await t.fila.job(json.id)).json;
    expect(started.status).toBe('starting');
    await t.fila.markRunning(json.id, 'task-r');
    const r = (await t.fila.job(json.id)).json;
    expect(r.status).toBe('running');
    fits(JobSchema, r);
    await t.fila.cancelJob(json.id, null);
  });

  it('fila.user_jobs, the credits and the queue snapshot fit MyJobsPage, CreditsSchema and QueueSchema', async () => {
    const holders = await Promise.all([1, 2, 3].map(() => fundedUser(t.fila)));
    for (const [i, u] of holders.entries()) await t.fila.submitJob({ userId: u, tool: 'upscaler', input: upscaleInput(20 + i) });
    const me = await fundedUser(t.fila);
    const { job } = await t.fila.submitJob({ userId: me, tool: 'upscaler', input: upscaleInput(30), presence: true });
    const snapshot = await t.fila.queueSnapshot();
    fits(QueueSchema, snapshot);
    fits(QueueSchema.shape.overview, snapshot.overview);
    expect(snapshot.jobs.length).toBeGreaterThan(0);
    for (const q of snapshot.jobs) fits(QueueSchema.shape.jobs.element, q);

    await t.fila.cancelJob(job.id, me);
    const page = await t.fila.userJobs(me);
    fits(MyJobsPage, page);
    for (const j of page.jobs) fits(UserJobSchema, j);
    expect(page.jobs[0]!.refunded_credits).toBe(job.credit_cost);

    const credits = await t.fila.userCredits(me);
    CreditsSchema.parse(credits);
    expect(Object.keys(credits).sort()).toEqual(Object.keys(CreditsSchema.shape).sort());
    expect(credits.recent.map((l) => l.kind).sort()).toEqual(['debit', 'grant', 'refund']);
  });
});
