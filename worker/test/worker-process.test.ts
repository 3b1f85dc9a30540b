// The worker as its own process (`npm run worker`): start-up checks, logs without the API key, a
// graceful stop, and a SIGKILL in the middle of a create.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultWorkflowsFile } from '../../common/tools/index.ts';
import { startFakeRunningHub, type FakeRunningHub } from '../../dev/fake-runninghub/server.ts';
import { startHarness, type Harness } from '../../dev/test-support/harness.ts';
import { isStarted, spawnWorker } from '../../dev/test-support/child-worker.ts';

let h: Harness;
let slowFake: FakeRunningHub;
beforeAll(async () => {
  h = await startHarness();
  // answers create only after 20 s: a worker killed meanwhile dies with the job in `starting`
  slowFake = await startFakeRunningHub({ defaultMs: 300, createDelayMs: 20_000 });
});
afterAll(async () => {
  await slowFake?.stop();
  await h?.stop();
});

const env = (extra: Record<string, string> = {}): Record<string, string> => ({
  DATABASE_URL: h.t.url,
  RUNNINGHUB_BASE_URL: h.fake.url,
  RUNNINGHUB_API_KEY: h.apiKey,
  FILA_PUBLIC_URL: h.receiver.url,
  FILA_WEBHOOK_SECRET: h.secret,
  FILA_WORKER_CRONTAB: 'off',
  FILA_WORKER_CONCURRENCY: '4',
  ...extra,
});

describe('start-up', () => {
  it('in production, a missing webhook secret or API key stops start-up with a message naming each', async () => {
    const w = spawnWorker({ NODE_ENV: 'production', DATABASE_URL: h.t.url, FILA_PUBLIC_URL: 'https://fila.example' });
    const { code } = await w.exited;
    expect(code).toBe(1);
    expect(w.output()).toContain('missing FILA_WEBHOOK_SECRET');
    expect(w.output()).toContain('RUNNINGHUB_API_KEY');
  });

  it('without RUNNINGHUB_API_KEY it refuses to start in development too, naming the variable, and starts no fake provider', async () => {
    const w = spawnWorker({ NODE_ENV: 'development', DATABASE_URL: h.t.url, FILA_WEBHOOK_SECRET: h.secret, FILA_WORKER_CRONTAB: 'off' });
    const { code } = await w.exited;
    expect(code).toBe(1);
    expect(w.output()).toContain('missing RUNNINGHUB_API_KEY');
    expect(w.output()).not.toContain('fake RunningHub');
    expect(w.lines.some(isStarted)).toBe(false);
  });

  it('without FILA_WEBHOOK_SECRET it refuses to start whatever NODE_ENV says, in one line naming it', async () => {
    const runs = [undefined, 'development', 'staging'].map((NODE_ENV) => ({
      NODE_ENV, w: spawnWorker({ ...env(), FILA_WEBHOOK_SECRET: undefined, ...(NODE_ENV ? { NODE_ENV } : {}) }),
    }));
    for (const { NODE_ENV, w } of runs) {
      const { code } = await w.exited;
      expect(code, NODE_ENV).toBe(1);
      expect(w.lines, NODE_ENV).toEqual([expect.stringContaining('missing FILA_WEBHOOK_SECRET')]);
    }
  }, 120_000);

  it('a workflows file missing a key stops start-up with an error naming that key', async () => {
    const cfg = JSON.parse(readFileSync(defaultWorkflowsFile, 'utf8')) as { upscaler: { workflows: Record<string, unknown> }; veste_ai: { nodes: Record<string, unknown> } };
    delete cfg.upscaler.workflows['pro/comida/longe'];
    delete cfg.veste_ai.nodes.garment_image;
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'fila-workflows-')), 'workflows.json');
    writeFileSync(file, JSON.stringify(cfg));
    const w = spawnWorker(env({ FILA_WORKFLOWS_FILE: file }));
    const { code } = await w.exited;
    expect(code).toBe(1);
    expect(w.output()).toContain('upscaler.workflows[\\"pro/comida/longe\\"]: missing');
    expect(w.output()).toContain('veste_ai.nodes.garment_image: missing');
  });

  it('runs jobs, logs JSON without ever printing the API key, and stops gracefully on SIGTERM', async () => {
    const w = spawnWorker(env({ LOG_LEVEL: 'debug' }));
    await w.waitForLine(isStarted);
    const job = await h.submit('veste_ai', { person_image_url: 'https://files.example/p.png', garment_image_url: 'https://files.example/g.png' });
    expect((await h.waitStatus(job.id, ['completed', 'failed'])).status).toBe('completed');
    const { code } = await w.kill('SIGTERM');
    expect(code).toBe(0);
    expect(w.lines.every((l) => l.startsWith('{'))).toBe(true);
    expect(w.output()).toContain('"msg":"worker stopped"');
    expect(w.output()).not.toContain(h.apiKey);
    // the start-up line says which provider and accounts (names, never keys) this worker serves
    const started = JSON.parse(w.lines.find(isStarted)!) as Record<string, unknown>;
    expect(started).toMatchObject({ runninghub_accounts: ['default'], runninghub_base_url: h.fake.url });
    expect(h.fake.requestsTo('create').some((r) => (r.body as { apiKey: string }).apiKey === h.apiKey)).toBe(true);
  });
});

describe('worker killed', () => {
  it('SIGKILL while a job is starting: the job does not outlive its starting deadline and is refunded exactly once; the slot its task may use is not handed on', async () => {
    await h.t.admin.query(`update fila.settings set starting_timeout = '3 seconds', max_slots = 1`);
    await h.t.fila.setProviderAccount('default', 1);
    const w = spawnWorker(env({ RUNNINGHUB_BASE_URL: slowFake.url }));
    await w.waitForLine(isStarted);
    // the task the provider creates finishes after 6 s: after the reaper has failed the job
    const job = await h.submit('upscaler', { image_url: 'https://files.example/k.png#fake=ok:6000', category: 'logo' }, 10);
    await h.waitFor('the create call to reach the provider', async () => slowFake.requestsTo('create').length === 1);
    expect((await h.job(job.id)).status).toBe('starting');
    const next = await h.submit('upscaler', { image_url: 'https://files.example/n.png', category: 'logo' });
    expect(next.status).toBe('queued');
    const { signal } = await w.kill('SIGKILL');
    expect(signal).toBe('SIGKILL');
    await h.waitFor('every process of the killed worker to be gone', async () => {
      try { process.kill(-w.proc.pid!, 0); return false; } catch (err) { return (err as NodeJS.ErrnoException).code === 'ESRCH'; }
    }, 5000);

    await h.waitFor('the starting deadline to pass', async () => (await h.t.fila.staleJobs()).some((s) => s.job_id === job.id && s.past === 'hard'));
    const pass = await h.reap();
    expect(pass.reaped.map((j) => j.id)).toEqual([job.id]);
    const failed = await h.job(job.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/starting_timeout/);
    expect(await h.t.fila.creditBalance(job.user_id)).toBe(10);
    // the create reached the provider and nobody heard its answer: its task may run, so the one
    // slot stays with it and the next job waits
    const held = await h.t.admin.query(`select why from fila.held_slots where job_id = $1 and held_until > now()`, [job.id]);
    expect(held.rows).toEqual([{ why: 'create unanswered' }]);
    expect((await h.job(next.id)).status).toBe('queued');

    // a new worker and more reaper passes change nothing: the dead worker's start_job is still
    // locked, and the task the provider did create (its job already failed and refunded) is an
    // orphan: its webhook changes nothing but canceling it
    await h.startWorker();
    await h.reap();
    const [hook] = await h.waitFor('the late webhook to be processed', async () => {
      const { rows } = await h.t.admin.query<{ outcome: string | null }>('select outcome from fila.webhook_inbox where job_id = $1', [job.id]);
      return rows.length === 1 && rows[0]!.outcome ? rows : null;
    }, 15_000);
    expect(hook!.outcome).toMatch(/^orphan: task \d+ is not the task of this failed job; canceled at the provider$/);
    expect(await h.refunds(job.id)).toBe(1);
    expect(await h.t.fila.creditBalance(job.user_id)).toBe(10);
    // named and canceled, the task frees the slot: the next job runs, and never beside it
    const done = await h.waitFor('the next job to end', async () => {
      await h.reap();
      const j = await h.job(next.id);
      return j.status === 'completed' || j.status === 'failed' ? j : null;
    }, 30_000);
    expect(done.status).toBe('completed');
    const orphan = [...slowFake.tasks.values()].find((t) => t.jobId === job.id)!;
    expect(done.started_at!.getTime()).toBeGreaterThanOrEqual(orphan.finishedAt ?? orphan.createdAt);
    expect(await h.t.fila.creditAudit()).toEqual([]);
    const timeline = await h.timeline(job.id);
    expect(timeline.filter((e) => !e.note).map((e) => e.to_status)).toEqual(['queued', 'starting', 'failed']);
    expect(timeline.filter((e) => e.note).map((e) => e.reason)).toEqual([expect.stringMatching(/^orphan provider task \d+ canceled at the provider: a webhook named it after the job was failed$/)]);
  });
});
