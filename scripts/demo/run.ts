// The demo: many simulated users on all four tools, through the HTTP API and the JobManager client,
// with a live terminal view and a closing report computed from the database.
import { mkdtempSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createLogger } from '../../common/logger.ts';
import type pg from 'pg';
import { createPool } from '../../db/pool.ts';
import { FilaDb, isSettled, isTerminalStatus, type ActiveJob, type JobStatus, type QueueOverview } from '../../db/fila.ts';
import { signToken } from '../../api/auth.ts';
import { reapOnce } from '../../worker/reaper.ts';
import { RunningHubAccounts } from '../../worker/runninghub/accounts.ts';
import { setBackoff, setToolDeadlines } from '../../dev/dba-settings.ts';
import { fakeAccountKeys } from '../../dev/fake-runninghub/server.ts';
import { removeDir, startSystem, type RunningSystem } from '../system.ts';
import { buildPlan, type DemoUser } from './plan.ts';
import { buildReport, type DemoReport, type Observed } from './report.ts';
import { LiveView } from './view.ts';
import { demoClient } from './client.ts';

export interface DemoTarget { apiUrl: string; databaseUrl: string; jwtSecret: string }

export interface DemoOptions {
  users: number;
  fast: boolean;
  /** redraw a live view (a TTY) or print a progress line every few seconds */
  live: boolean;
  out: NodeJS.WritableStream;
  /** a running system to drive; unset = start one of our own */
  target?: DemoTarget;
  /** our own system's PostgreSQL (a superuser URL); unset = embedded in a temp dir */
  databaseUrl?: string;
  /** include the lost-webhook job (default: yes on our own system, where deadlines are shortened) */
  lostWebhook?: boolean;
  /** give up waiting for the jobs after this long */
  timeoutMs?: number;
  /** our own system's log level (default silent: the demo prints its own view) */
  logLevel?: string;
}

export interface DemoResult { report: DemoReport; durationMs: number; startupMs: number; jobs: number }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const own = !opts.target;
  const lostWebhook = opts.lostWebhook ?? own;
  const cleanups: (() => Promise<void>)[] = [];
  try {
    let target: DemoTarget;
    let system: RunningSystem | null = null;
    if (opts.target) {
      target = opts.target;
    } else {
      const dir = mkdtempSync(path.join(tmpdir(), 'fila-demo-'));
      cleanups.push(async () => removeDir(dir));
      const jwtSecret = randomBytes(24).toString('base64url');
      system = await startSystem({
        databaseUrl: opts.databaseUrl, dataDir: dir, persistent: false, port: 0, development: true,
        jwtSecret, webhookSecret: randomBytes(24).toString('base64url'), fakeDefaultMs: opts.fast ? 300 : 1500,
        logger: createLogger({ level: opts.logLevel ?? 'silent' }),
      });
      const s = system;
      cleanups.push(() => s.stop());
      target = { apiUrl: system.apiUrl, databaseUrl: system.databaseUrl, jwtSecret };
      // a DBA's edit, on our own system only: short soft deadlines so the reaper finds the lost
      // webhook in seconds, and a short back-off after the capacity refusal
      const dba = createPool(system.databaseUrl, null, 1);
      try {
        for (const tool of ['upscaler', 'pose_changer', 'veste_ai', 'video_upscaler']) {
          await setToolDeadlines(dba, tool, opts.fast ? 1.5 : 8, 120);
        }
        await setBackoff(dba, opts.fast ? 0.3 : 1, opts.fast ? 1 : 5);
      } finally {
        await dba.end();
      }
    }
    const startupMs = performance.now() - t0;

    const appPool = createPool(target.databaseUrl, 'fila_app', 4);
    cleanups.push(() => appPool.end());
    const db = new FilaDb(appPool);

    const users = buildPlan({ users: opts.users, fast: opts.fast, lostWebhook });
    const operatorToken = await signToken(target.jwtSecret, '00000000-0000-4000-8000-00000000f11a', { operator: true });
    const names = new Map(users.map((u) => [u.id, u.name]));
    const view = new LiveView(opts.out, opts.live, users.length, names);
    cleanups.push(async () => view.stop());

    // the reaper: every second on our own system (the worker's crontab runs it only once a minute)
    let reaperTimer: NodeJS.Timeout | null = null;
    if (system?.fakeRunningHubUrl) {
      const workerPool: pg.Pool = createPool(target.databaseUrl, 'fila_worker', 2);
      cleanups.push(() => workerPool.end());
      const db = new FilaDb(workerPool);
      const runninghub = RunningHubAccounts.fromKeys(fakeAccountKeys(await db.providerAccounts()), { baseUrl: system.fakeRunningHubUrl });
      const deps = { db, runninghub, logger: pino({ level: 'silent' }) };
      let busy = false;
      reaperTimer = setInterval(() => {
        if (busy) return;
        busy = true;
        reapOnce(deps).catch((err: unknown) => view.note(`reaper pass failed: ${(err as Error).message}`)).finally(() => { busy = false; });
      }, 1000);
      cleanups.push(async () => { if (reaperTimer) clearInterval(reaperTimer); });
    }


    // credits for everyone, through the API (the operator's route), once per user
    await Promise.all(users.map(async (u) => {
      const res = await fetch(`${target.apiUrl}/v1/admin/credits`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json', 'idempotency-key': `demo-${u.id}` },
        body: JSON.stringify({ user_id: u.id, amount: 30, reason: 'fila demo' }),
      });
      if (!res.ok) throw new Error(`granting credits through POST /v1/admin/credits: ${res.status} ${await res.text()}`);
    }));

    // sample occupancy from the database the whole time
    const observed: Observed = { jobs: new Map(), maxOccupancySampled: 0, secondAttempt: null, cancelSeenStatus: null, unfinished: [], etas: [] };
    const sawEta = (j: { id: string; status: string; eta: number | null }) => {
      if (j.status === 'queued' && j.eta !== null) observed.etas.push({ jobId: j.id, at: new Date(), eta: j.eta });
    };
    const statuses = new Map<string, JobStatus>();
    let overview: QueueOverview | null = null;
    let holders: ActiveJob[] = [];
    let sampling = true;
    const runStart = performance.now();
    const sampler = (async () => {
      while (sampling) {
        try {
          [overview, holders] = await Promise.all([db.queueOverview(), db.activeJobs()]);
          observed.maxOccupancySampled = Math.max(observed.maxOccupancySampled, overview.slots_used);
          view.update({ overview, holders: holders.filter((h) => h.status !== 'queued'), statuses, elapsedMs: performance.now() - runStart });
        } catch (err) {
          view.note(`sampling failed: ${(err as Error).message}`);
        }
        await sleep(100);
      }
    })();
    cleanups.push(async () => { sampling = false; await sampler; });

    const unsubscribes: (() => void)[] = [];
    cleanups.push(async () => { for (const u of unsubscribes) u(); });
    const track = (u: DemoUser, jobId: string, status: JobStatus) => {
      observed.jobs.set(u.id, jobId);
      statuses.set(jobId, status);
    };

    const play = async (u: DemoUser): Promise<void> => {
      await sleep(Math.max(0, u.arriveAt - (performance.now() - runStart)));
      const token = await signToken(target.jwtSecret, u.id);
      const client = demoClient(target.apiUrl, token);
      if (u.role === 'cancel') {
        // wait until every slot is busy, so the job really waits in the queue
        for (let i = 0; i < 50 && !(overview && overview.slots_used >= overview.slots_total); i++) await sleep(100);
      }
      const job = await client.createJob(u.tool, u.input);
      track(u, job.id, job.status);
      sawEta(job);
      view.note(`${u.name} submitted ${u.tool} (${job.status}${job.position ? `, position ${job.position}` : ''})`);
      unsubscribes.push(client.subscribe(job.id, (j) => {
        sawEta(j);
        const before = statuses.get(j.id);
        statuses.set(j.id, j.status);
        if (before !== j.status && (j.status === 'failed' || j.status === 'canceled')) {
          view.note(`${u.name} ${j.status}${j.error ? `: ${j.error}` : ''}`);
        }
      }));
      if (u.role === 'second-job') {
        const other = demoClient(target.apiUrl, token); // a second tab
        try {
          const second = await other.createJob('upscaler', { image_url: `https://demo.fila.test/${u.name}/again.png`, category: 'pessoas' });
          observed.secondAttempt = { status: 201, code: 'accepted', message: `a second job was created: ${second.id}` };
        } catch (err) {
          const e = err as { status?: number; code?: string; message: string };
          observed.secondAttempt = { status: e.status ?? 0, code: e.code ?? 'unknown', message: e.message };
          view.note(`${u.name} tried a second job: ${e.status} ${e.message}`);
        }
      }
      if (u.role === 'cancel') {
        observed.cancelSeenStatus = statuses.get(job.id) ?? job.status;
        const canceled = await client.cancel(job.id);
        statuses.set(job.id, canceled.status);
        view.note(`${u.name} canceled while ${observed.cancelSeenStatus}`);
      }
    };
    await Promise.all(users.map(play));

    // wait until every job is terminal and its outputs' copies have landed or ended (the database says so)
    const deadline = performance.now() + (opts.timeoutMs ?? (opts.fast ? 60_000 : 300_000));
    for (;;) {
      const open = [];
      let copying = 0;
      for (const jobId of observed.jobs.values()) {
        const { job, json } = await db.job(jobId);
        statuses.set(jobId, job.status);
        if (!isTerminalStatus(job.status)) open.push(jobId);
        else if (!isSettled(json)) copying++;
      }
      if ((open.length === 0 && copying === 0) || performance.now() > deadline) {
        observed.unfinished = open;
        break;
      }
      await sleep(250);
    }
    const durationMs = performance.now() - runStart;
    sampling = false;
    await sampler;
    view.stop();

    const report = await buildReport(db, users, observed);
    return { report, durationMs, startupMs, jobs: observed.jobs.size };
  } finally {
    const errors: unknown[] = [];
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length) opts.out.write(`demo: cleanup problems: ${errors.map((e) => (e as Error).message).join('; ')}\n`);
  }
}
