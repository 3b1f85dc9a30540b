// Three worker processes at once, 200 jobs from 200 users: occupancy sampled from the database
// throughout never exceeds the 3 slots, and jobs start in FIFO order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fifoViolations, startHarness, type Harness } from '../../dev/test-support/harness.ts';
import { isStarted, spawnWorker, type ChildWorker } from '../../dev/test-support/child-worker.ts';

let h: Harness;
const children: ChildWorker[] = [];
beforeAll(async () => {
  h = await startHarness({ fake: { defaultMs: 30 } });
});
afterAll(async () => {
  await Promise.all(children.map((c) => c.kill('SIGKILL')));
  await h?.stop();
});

describe('three worker processes', () => {
  it('200 jobs from 200 users: occupancy never exceeds 3, FIFO holds, every job completes, debited once, nothing refunded', async () => {
    for (let i = 0; i < 3; i++) {
      children.push(spawnWorker({
        DATABASE_URL: h.t.url, RUNNINGHUB_BASE_URL: h.fake.url, RUNNINGHUB_API_KEY: h.apiKey,
        FILA_PUBLIC_URL: h.receiver.url, FILA_WEBHOOK_SECRET: h.secret, FILA_WORKER_CONCURRENCY: '4',
        FILA_WORKER_CRONTAB: i === 0 ? 'on' : 'off', LOG_LEVEL: 'info',
      }));
    }
    await Promise.all(children.map((c) => c.waitForLine(isStarted)));

    let sampling = true;
    const samples: number[] = [];
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await h.t.admin.query<{ n: number }>(
          `select count(*)::int as n from fila.jobs where status in ('starting', 'running')`);
        samples.push(rows[0]!.n);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const t0 = Date.now();
    const ids: string[] = [];
    const tools = [
      { tool: 'upscaler', input: { image_url: 'https://files.example/a.png', category: 'pessoas' } },
      { tool: 'pose_changer', input: { person_image_url: 'https://files.example/p.png', pose_image_url: 'https://files.example/q.png' } },
      { tool: 'veste_ai', input: { person_image_url: 'https://files.example/p.png', garment_image_url: 'https://files.example/g.png' } },
      { tool: 'video_upscaler', input: { video_url: 'https://files.example/v.mp4' } },
    ];
    // submitted 8 at a time, concurrently with the workers draining the queue
    for (let i = 0; i < 200; i += 8) {
      const batch = await Promise.all(Array.from({ length: 8 }, (_, k) => h.submit(tools[(i + k) % 4]!.tool, tools[(i + k) % 4]!.input)));
      ids.push(...batch.map((j) => j.id));
    }
    await h.waitFor('all 200 jobs to finish', async () => {
      const { rows } = await h.t.admin.query<{ n: number }>(
        `select count(*)::int as n from fila.jobs where status in ('completed', 'failed', 'canceled')`);
      return rows[0]!.n === 200;
    }, 120_000);
    const elapsed = Date.now() - t0;
    sampling = false;
    await sampler;

    const { rows: states } = await h.t.admin.query<{ status: string; n: number }>(
      'select status, count(*)::int as n from fila.jobs group by status');
    expect(states).toEqual([{ status: 'completed', n: 200 }]);
    const max = Math.max(...samples);
    console.log(`three workers: 200 jobs in ${elapsed} ms; ${samples.length} occupancy samples, max ${max}; ` +
      `start_job per process: ${children.map((c) => c.lines.filter((l) => l.includes('RunningHub task created')).length).join('/')}`);
    expect(max).toBeLessThanOrEqual(3);
    expect(max).toBe(3); // and the slots were really used
    expect(await fifoViolations(h)).toEqual([]);
    // every job went to the provider exactly once and was never requeued (the provider never saw a 4th task)
    expect(h.fake.requestsTo('create')).toHaveLength(200);
    const { rows: requeues } = await h.t.admin.query(`select * from fila.job_events where from_status = 'starting' and to_status = 'queued'`);
    expect(requeues).toEqual([]);
    const { rows: ledger } = await h.t.admin.query<{ kind: string; n: number }>(
      'select kind, count(*)::int as n from fila.credit_ledger where job_id is not null group by kind');
    expect(ledger).toEqual([{ kind: 'debit', n: 200 }]);
    expect(await h.t.fila.creditAudit()).toEqual([]);
    // the three processes all did work
    for (const c of children) expect(c.lines.some((l) => l.includes('RunningHub task created'))).toBe(true);
  }, 150_000);
});
