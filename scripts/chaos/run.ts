// `npm run chaos`: fila under every fault at once, on loopback, bounded and self-stopping.
// PostgreSQL (embedded, started here so it can be restarted; or DATABASE_URL, then a fresh database
// on it and no PostgreSQL restart), the fake RunningHub in this process with fault injection at set
// rates, the API and two workers as real child processes, simulated users through the HTTP API and
// the JobManager. Meanwhile: workers SIGKILLed and restarted every few seconds, the API restarted,
// PostgreSQL restarted with a fast shutdown, the provider unreachable for a while. The independent
// checker samples throughout and judges the run at the end.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { setBackoff, setSlotsAndTimeouts, setToolDeadlines } from '../../dev/dba-settings.ts';
import { freePort, startEmbedded, type EmbeddedServer } from '../../dev/embedded-postgres.ts';
import { migrate } from '../../db/migrate.ts';
import { createPool } from '../../db/pool.ts';
import { FilaDb, type QueueOverview } from '../../db/fila.ts';
import { signToken } from '../../api/auth.ts';
import { reapOnce } from '../../worker/reaper.ts';
import { RunningHubAccounts } from '../../worker/runninghub/accounts.ts';
import { startFakeRunningHub, type FakeFaultRates, type FakeRunningHub } from '../../dev/fake-runninghub/server.ts';
import { fakeRunningHubApiKey } from '../../common/config.ts';
import { loadToolsConfig } from '../../common/tools/index.ts';
import { ChaosSampler, checkRun, type CheckResult } from './checker.ts';
import { entryPoints, FilaChild, waitForHttp, waitForLine } from './processes.ts';
import type { ChaosRecord, Outage, SubmitRecord } from './record.ts';
import { runUser, type ChaosUser, type UsersContext } from './users.ts';
import { ChaosView, type FaultCounts } from './view.ts';

export interface ChaosOptions {
  jobs: number;
  users: number;
  workers: number;
  maxSlots: number;
  seed: number;
  /** a PostgreSQL server to create the run's database on (no PostgreSQL restart then); unset = embedded */
  databaseUrl?: string;
  live: boolean;
  out: NodeJS.WritableStream;
  rates: FakeFaultRates;
  users_: { cancel: number; abandon: number };
  /** SIGKILL one worker this often (they take turns) */
  killEveryMs: number;
  /** the API is restarted at these fractions of the run's jobs finished */
  apiRestartsAt: number[];
  /** PostgreSQL (embedded only) is restarted at these fractions */
  postgresRestartsAt: number[];
  /** the provider becomes unreachable at these fractions, for outageMs */
  providerOutagesAt: number[];
  outageMs: number;
  /** a successful fake task takes [min, max] ms */
  taskMs: [number, number];
  /** the provider accounts (name -> slots) the queue spreads over, each with its own key at the
   *  fake; `maxSlots` stays the global cap */
  accounts: Record<string, number>;
  /** fila.settings and fila.tools for the run (a DBA's edit) */
  deadlines: { startingS: number; softS: number; hardS: number; videoHardS: number; presenceS: number };
  reaperPeriodMs: number;
  /** give up waiting for the jobs after this long (the checker then reports what is unfinished) */
  timeoutMs: number;
  /** keep the API's and the workers' logs in this folder */
  logsDir?: string;
  /** aborted (Ctrl-C): users stop submitting, the run settles, is judged and cleans up */
  stop?: AbortSignal;
}

export const longRun: Omit<ChaosOptions, 'live' | 'out'> = {
  jobs: 10_000, users: 300, workers: 2, maxSlots: 8, seed: 9,
  accounts: { main: 5, spare: 4 },
  rates: { fail: 0.2, loseWebhook: 0.05, duplicateWebhook: 0.1, queueMaxed: 0.05, hang: 0.002, createTimeout: 0.003 },
  users_: { cancel: 0.03, abandon: 0.03 },
  killEveryMs: 5000,
  apiRestartsAt: [0.1, 0.3, 0.5, 0.7, 0.9],
  postgresRestartsAt: [0.25, 0.75],
  providerOutagesAt: [0.4, 0.85],
  outageMs: 15_000,
  taskMs: [200, 1200],
  deadlines: { startingS: 20, softS: 4, hardS: 45, videoHardS: 60, presenceS: 60 },
  reaperPeriodMs: 2000,
  timeoutMs: 3 * 60 * 60_000,
};

export const shortRun: Omit<ChaosOptions, 'live' | 'out'> = {
  ...longRun,
  jobs: 200, users: 40, maxSlots: 6,
  accounts: { main: 4, spare: 3 },
  rates: { fail: 0.2, loseWebhook: 0.05, duplicateWebhook: 0.1, queueMaxed: 0.05, hang: 0.01, createTimeout: 0.01 },
  users_: { cancel: 0.05, abandon: 0.05 },
  killEveryMs: 4000,
  apiRestartsAt: [0.2, 0.65],
  postgresRestartsAt: [0.4],
  providerOutagesAt: [0.55],
  outageMs: 6000,
  taskMs: [150, 700],
  deadlines: { startingS: 15, softS: 3, hardS: 20, videoHardS: 25, presenceS: 60 },
  // on 2 cores shared with other work a restart takes seconds; the run stops submitting at this
  // bound and is judged on what it did (the closing notes say so)
  timeoutMs: 140_000,
};

export interface ChaosResult {
  check: CheckResult;
  faults: FaultCounts;
  durationMs: number;
  settings: Omit<ChaosOptions, 'live' | 'out'>;
  postgres: 'embedded' | 'DATABASE_URL';
  /** what went wrong in the run itself (not a rule): processes that would not start, etc. */
  troubles: string[];
}

/** Per-tool failure messages, as real workflows fail (the fake reports one of its workflow's). */
const failMessagesByTool: Record<string, string[]> = {
  upscaler: [
    'CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.65 GiB total capacity)',
    'Imagem muito pequena para ampliar: mínimo de 64×64 pixels.',
  ],
  pose_changer: ['Nenhum rosto detectado na imagem de referência.', 'OpenPose: nenhuma pose encontrada na imagem da pose.'],
  veste_ai: ['A imagem da roupa precisa mostrar a peça inteira (garment mask vazio).', 'Nenhuma pessoa detectada na foto.'],
  video_upscaler: ['Arquivo de vídeo inválido: moov atom not found', 'VHS_LoadVideo: codec não suportado (hevc 10-bit).'],
};

function workflowTools(): Map<string, string> {
  const config = loadToolsConfig();
  const byWorkflow = new Map<string, string>();
  for (const w of Object.values(config.upscaler.workflows)) byWorkflow.set(w.workflowId, 'upscaler');
  byWorkflow.set(config.pose_changer.workflowId, 'pose_changer');
  byWorkflow.set(config.veste_ai.workflowId, 'veste_ai');
  byWorkflow.set(config.video_upscaler.workflowId, 'video_upscaler');
  return byWorkflow;
}

/** A seeded generator for the users' choices (mulberry32): a run can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freshDatabase(serverUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `fila_chaos_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const t0 = Date.now();
  const cleanups: Array<{ name: string; run: () => Promise<void> }> = [];
  const troubles: string[] = [];
  const settings: Omit<ChaosOptions, 'live' | 'out'> = { ...opts };
  delete (settings as Partial<ChaosOptions>).live;
  delete (settings as Partial<ChaosOptions>).out;
  const dir = mkdtempSync(path.join(tmpdir(), 'fila-chaos-'));
  cleanups.push({ name: 'temporary folder', run: async () => rmSync(dir, { recursive: true, force: true }) });
  const children: FilaChild[] = [];
  const view = new ChaosView(opts.out, opts.live, opts.jobs);
  const faults: FaultCounts = {
    sigkills: 0, workerRestarts: 0, workerCrashes: 0, apiRestarts: 0, postgresRestarts: 0, providerOutages: 0,
    refusals: 0, lostWebhooks: 0, duplicateWebhooks: 0, scriptedFailures: 0, hangs: 0, createTimeouts: 0,
    cancels: 0, abandons: 0, submitRetries: 0, postgresSkipped: !!opts.databaseUrl,
  };
  // stop what started, last first, even when the run itself throws
  const unwind = async () => {
    view.stop();
    for (const c of children) c.killNow();
    for (const c of cleanups.reverse()) {
      try {
        await c.run();
      } catch (err) {
        opts.out.write(`chaos: stopping ${c.name}: ${(err as Error).message}\n`);
      }
    }
  };
  try {
    // PostgreSQL
    let url: string;
    let embedded: EmbeddedServer | null = null;
    const pgDir = path.join(dir, 'pg');
    let pgPort = 0;
    if (opts.databaseUrl) {
      const db = await freshDatabase(opts.databaseUrl);
      cleanups.push({ name: 'the run\'s database', run: db.drop });
      url = db.url;
    } else {
      pgPort = await freePort();
      embedded = await startEmbedded({ dataDir: pgDir, persistent: true, port: pgPort, maxConnections: 300 });
      const current = () => embedded;
      cleanups.push({ name: 'PostgreSQL', run: async () => { await current()?.stop(); rmSync(current()?.dataDir ?? pgDir, { recursive: true, force: true }); } });
      url = embedded.url;
      // a throw-away cluster: durability is not what this run measures (its restarts are clean)
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`alter system set fsync = off`);
      await c.query(`alter system set synchronous_commit = off`);
      await c.query(`select pg_reload_conf()`);
      await c.end();
    }
    await migrate(url);
    const dba = createPool(url, null, 2);
    cleanups.push({ name: 'DBA pool', run: () => dba.end() });
    const d = opts.deadlines;
    await setSlotsAndTimeouts(dba, opts.maxSlots, d.startingS, d.presenceS);
    for (const tool of ['upscaler', 'pose_changer', 'veste_ai']) await setToolDeadlines(dba, tool, d.softS, d.hardS);
    await setToolDeadlines(dba, 'video_upscaler', d.softS, d.videoHardS);
    await setBackoff(dba, 0.25, 2);
    const dbaDb = new FilaDb(dba);
    // the queue over several accounts, each with its own key; the seeded `default` is switched off
    const keys: Record<string, string> = {};
    for (const [name, slots] of Object.entries(opts.accounts)) {
      await dbaDb.setProviderAccount(name, slots);
      keys[name] = `${fakeRunningHubApiKey}-${name}`;
    }
    if (!Object.hasOwn(opts.accounts, 'default')) await dbaDb.setProviderAccount('default', 1, false);
    const accountsEnv = Object.entries(keys).map(([name, key]) => `${name}=${key}`).join(',');

    // the fake provider, with fault injection; it never refuses for capacity on its own, so that its
    // count of active tasks measures fila, not itself
    const byWorkflow = workflowTools();
    const fake: FakeRunningHub = await startFakeRunningHub({
      defaultMs: opts.taskMs[1], maxConcurrentPerKey: 1_000_000, duplicateGapMs: 2500, createTimeoutMs: 12_000,
      faults: {
        rates: opts.rates, seed: opts.seed, okMs: opts.taskMs,
        failMessages: (workflowId) => failMessagesByTool[byWorkflow.get(workflowId) ?? ''] ?? ['fake failure'],
      },
    });
    cleanups.push({ name: 'fake RunningHub', run: () => fake.stop() });

    // the API and the workers, as production runs them
    const apiPort = await freePort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const jwtSecret = randomBytes(24).toString('base64url');
    const webhookSecret = randomBytes(24).toString('base64url');
    const common = { DATABASE_URL: url, FILA_WEBHOOK_SECRET: webhookSecret, FILA_PUBLIC_URL: apiUrl, NODE_ENV: 'development' };
    const api = new FilaChild('api', entryPoints.api, {
      ...common, PORT: String(apiPort), FILA_JWT_SECRET: jwtSecret, FILA_UPLOAD_DIR: path.join(dir, 'uploads'), LOG_LEVEL: 'warn',
    }, waitForHttp(`${apiUrl}/healthz`), opts.logsDir ? path.join(opts.logsDir, 'api.log') : null);
    children.push(api);
    const workers = Array.from({ length: opts.workers }, (_, i) => new FilaChild(`worker-${i + 1}`, entryPoints.worker, {
      ...common, RUNNINGHUB_ACCOUNTS: accountsEnv, RUNNINGHUB_BASE_URL: fake.url, RUNNINGHUB_TIMEOUT_MS: '10000',
      FILA_WORKER_CONCURRENCY: '8', LOG_LEVEL: 'info',
      // the API's store: the workers write the copies of results there (and read uploads from it)
      FILA_UPLOAD_DIR: path.join(dir, 'uploads'),
    }, waitForLine((l) => l.includes('"msg":"worker started"')), opts.logsDir ? path.join(opts.logsDir, `worker-${i + 1}.log`) : null));
    children.push(...workers);
    await Promise.all([api.start(), ...workers.map((w) => w.start())]);
    cleanups.push({ name: 'API and workers', run: async () => { await Promise.all(children.map((c) => c.kill('SIGTERM'))); } });

    // the reaper, every reaperPeriodMs (the workers' crontab runs it only once a minute)
    const reaperPool = createPool(url, 'fila_worker', 2);
    // a checked-out client's error (PostgreSQL restarting) also reaches the query that uses it;
    // counting it here keeps it from crashing the run
    let clientErrors = 0;
    reaperPool.on('connect', (client) => { client.on('error', () => { clientErrors++; }); });
    cleanups.push({ name: 'reaper pool', run: () => reaperPool.end() });
    const reaperDeps = {
      db: new FilaDb(reaperPool),
      runninghub: RunningHubAccounts.fromKeys(keys, { baseUrl: fake.url, timeoutMs: 3000 }),
      logger: pino({ level: 'silent' }),
    };
    let reaperErrors = 0;
    let reaping = true;
    const reaperPasses: number[] = [];
    const reaper = (async () => {
      while (reaping) {
        reaperPasses.push(Date.now());
        await reapOnce(reaperDeps).catch((err: unknown) => { reaperErrors++; view.note(`reaper pass failed: ${(err as Error).message}`); });
        await sleep(opts.reaperPeriodMs);
      }
    })();
    cleanups.push({ name: 'reaper', run: async () => { reaping = false; await reaper; } });

    // the checker's sampler, and the view's reader
    const sampler = new ChaosSampler(url, () => fake.activeCount());
    sampler.start();
    cleanups.push({ name: 'sampler', run: () => sampler.stop() });
    const appPool = createPool(url, 'fila_app', 2);
    appPool.on('connect', (client) => { client.on('error', () => { clientErrors++; }); });
    cleanups.push({ name: 'view pool', run: () => appPool.end() });
    const appDb = new FilaDb(appPool);

    // users: credits through the operator's route, then off they go
    const operatorToken = await signToken(jwtSecret, '00000000-0000-4000-8000-00000000f11a', { operator: true });
    const users: ChaosUser[] = await Promise.all(Array.from({ length: opts.users }, async (_, i) => {
      const id = randomUUID();
      return { id, name: `u${String(i + 1).padStart(3, '0')}`, token: await signToken(jwtSecret, id) };
    }));
    const perUser = Math.ceil(opts.jobs / opts.users) * 2 * 10 + 100;
    for (let i = 0; i < users.length; i += 25) {
      await Promise.all(users.slice(i, i + 25).map(async (u) => {
        const res = await fetch(`${apiUrl}/v1/admin/credits`, {
          method: 'POST',
          headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json', 'idempotency-key': `chaos-${u.id}` },
          body: JSON.stringify({ user_id: u.id, amount: perUser, reason: 'fila chaos run' }),
        });
        if (!res.ok) throw new Error(`granting credits: ${res.status} ${await res.text()}`);
      }));
    }

    const submits: SubmitRecord[] = [];
    const outages: Outage[] = [];
    let budget = opts.jobs;
    const deadline = t0 + opts.timeoutMs;
    const random = seeded(opts.seed);
    const ctx: UsersContext = {
      apiUrl, submits, random,
      take: () => (budget > 0 ? (budget--, true) : false),
      alive: () => Date.now() < deadline && !opts.stop?.aborted,
      rates: opts.users_,
      statuses: new Map(),
      refusals: new Map(),
      note: (line) => view.note(line),
    };
    const finished = () => { let n = 0; for (const s of ctx.statuses.values()) if (s === 'completed' || s === 'failed' || s === 'canceled') n++; return n; };
    // how far the run is: by jobs finished, or by time when the run is bounded by --minutes (so a
    // run cut short by time still meets every scheduled fault)
    const progress = () => Math.max(finished() / opts.jobs, (Date.now() - t0) / opts.timeoutMs);

    let overview: QueueOverview | null = null;
    let viewing = true;
    const viewMisses = new Map<string, number>();
    const viewer = (async () => {
      while (viewing) {
        // PostgreSQL restarting: the view keeps its last figures and counts the miss
        overview = await appDb.queueOverview().catch((err: unknown) => { viewMisses.set((err as Error).message, (viewMisses.get((err as Error).message) ?? 0) + 1); return overview; });
        faults.refusals = fake.refusals.length;
        view.update({ elapsedMs: Date.now() - t0, overview, statuses: ctx.statuses, submitted: submits.length, faults, sampler });
        await sleep(opts.live ? 500 : 1000);
      }
    })();
    cleanups.push({ name: 'view', run: async () => { viewing = false; await viewer; } });

    // the faults, while the users play
    let playing = true;
    const restartWorker = async (w: FilaChild, why: string) => {
      try {
        await w.start();
        faults.workerRestarts++;
      } catch (err) {
        troubles.push(`${w.name} would not start again after ${why}: ${(err as Error).message}`);
      }
    };
    const apiRestartTimes: string[] = [];
    const chaos = (async () => {
      const pending = {
        api: [...opts.apiRestartsAt], postgres: embedded ? [...opts.postgresRestartsAt] : [], provider: [...opts.providerOutagesAt],
      };
      let nextKill = Date.now() + opts.killEveryMs;
      let turn = 0;
      while (playing) {
        await sleep(200);
        for (const w of workers) {
          if (!w.running && playing) {
            faults.workerCrashes++;
            view.note(`${w.name} exited on its own (${JSON.stringify(w.unexpectedExits.at(-1))}): starting it again`);
            await restartWorker(w, 'a crash');
          }
        }
        if (!api.running && playing) {
          // a crash is a break (counted at the end from unexpectedExits); the run goes on so the
          // checker can judge everything else, as a supervisor would restart it in production
          view.note(`the API exited on its own (${JSON.stringify(api.unexpectedExits.at(-1))}): starting it again`);
          try {
            await api.start();
          } catch (err) {
            troubles.push(`the API would not start again after a crash: ${(err as Error).message}`);
          }
        }
        if (Date.now() >= nextKill) {
          const w = workers[turn++ % workers.length]!;
          const from = Date.now();
          await w.kill('SIGKILL');
          faults.sigkills++;
          await restartWorker(w, 'SIGKILL');
          outages.push({ kind: 'worker', from, to: Date.now() });
          nextKill = Date.now() + opts.killEveryMs;
        }
        const p = progress();
        if (pending.api.length && p >= pending.api[0]!) {
          pending.api.shift();
          const from = Date.now();
          view.note('restarting the API (SIGTERM)');
          await api.kill('SIGTERM');
          const stopped = Date.now();
          try {
            await api.start();
            faults.apiRestarts++;
            apiRestartTimes.push(`${((stopped - from) / 1000).toFixed(1)} s to stop + ${((Date.now() - stopped) / 1000).toFixed(1)} s to start`);
          } catch (err) {
            troubles.push(`the API would not start again: ${(err as Error).message}`);
          }
          outages.push({ kind: 'api', from, to: Date.now() });
        }
        if (pending.postgres.length && p >= pending.postgres[0]! && embedded) {
          pending.postgres.shift();
          const from = Date.now();
          view.note('restarting PostgreSQL (fast shutdown)');
          await embedded.stop();
          embedded = await startEmbedded({ dataDir: pgDir, persistent: true, port: pgPort, maxConnections: 300 });
          faults.postgresRestarts++;
          outages.push({ kind: 'postgres', from, to: Date.now() });
        }
        if (pending.provider.length && p >= pending.provider[0]!) {
          pending.provider.shift();
          const from = Date.now();
          view.note(`the provider is unreachable for ${opts.outageMs / 1000} s`);
          await fake.pause();
          await sleep(opts.outageMs);
          await fake.resume();
          faults.providerOutages++;
          outages.push({ kind: 'provider', from, to: Date.now() });
        }
      }
    })();

    await Promise.all(users.map((u) => runUser(ctx, u)));
    playing = false;
    await chaos;
    // the workers must be there to finish what is left
    for (const w of workers) if (!w.running) await restartWorker(w, 'the end of the faults');
    if (!api.running) await api.start();

    // wait until fila has ended every job and the provider has nothing left for a terminal job
    // (bounded: a hard deadline plus a little, so a task fila lost track of cannot hold the run)
    const hardest = Math.max(d.hardS, d.videoHardS) * 1000;
    let settleUntil = Math.min(deadline, Date.now() + hardest + 30_000);
    let allEnded = false;
    for (;;) {
      const { rows } = await dba.query<{ open: number }>(
        `select count(*)::int as open from fila.jobs where status in ('queued', 'starting', 'running')`);
      const open = rows[0]!.open;
      const jobIds = new Set((await dba.query<{ id: string }>(`select id from fila.jobs where status in ('completed', 'failed', 'canceled')`)).rows.map((r) => r.id));
      const lingering = [...fake.tasks.values()].filter((t) => (t.status === 'QUEUED' || t.status === 'RUNNING') && t.jobId && jobIds.has(t.jobId)).length;
      // and the copies of results have landed (or ended otherwise: the checker judges them)
      const pendingCopies = (await dba.query<{ n: number }>(`select count(*)::int as n from fila.output_copies where status = 'pending'`)).rows[0]!.n;
      if ((open === 0 && lingering === 0 && pendingCopies === 0) || Date.now() > settleUntil) break;
      // once every job has ended, a provider-side cancel takes moments, not a deadline
      if (open === 0 && !allEnded) { allEnded = true; settleUntil = Math.min(settleUntil, Date.now() + 10_000); }
      await sleep(500);
    }

    await sampler.sample();
    const record: ChaosRecord = {
      submits, outages, reaperPeriodMs: opts.reaperPeriodMs, reaperPasses,
      provider: {
        peakActive: fake.peakActive,
        peakActiveByAccount: Object.fromEntries(Object.entries(keys).map(([name, key]) => [name, fake.peakActiveByKey.get(key) ?? 0])),
        refusals: fake.refusals.reduce<Record<string, number>>((acc, r) => { acc[r.code] = (acc[r.code] ?? 0) + 1; return acc; }, {}),
        tasks: [...fake.tasks.values()].map((t) => ({
          taskId: t.taskId, jobId: t.jobId, script: t.script.kind,
          failMessage: t.script.kind === 'fail' ? t.script.message : null,
          status: t.status, canceled: t.canceled, createdAt: t.createdAt, finishedAt: t.finishedAt,
        })),
      },
    };
    for (const t of fake.tasks.values()) {
      if (t.script.kind === 'lose-webhook') faults.lostWebhooks++;
      if (t.script.kind === 'duplicate-webhook') faults.duplicateWebhooks++;
      if (t.script.kind === 'fail') faults.scriptedFailures++;
      if (t.script.kind === 'hang') faults.hangs++;
      if (t.script.kind === 'create-timeout') faults.createTimeouts++;
    }
    faults.refusals = fake.refusals.length;
    faults.cancels = submits.filter((s) => s.cancelRequestedAt !== null).length;
    faults.abandons = submits.filter((s) => s.abandonedAt !== null).length;
    faults.submitRetries = submits.reduce((n, s) => n + s.retries, 0);
    if (viewMisses.size) troubles.push(`the view could not read the queue ${[...viewMisses.values()].reduce((a, b) => a + b, 0)}× (${[...viewMisses.keys()].slice(0, 2).join('; ')})`);
    for (const [code, n] of ctx.refusals) troubles.push(`${n}× ${code} answered to a user`);
    if (clientErrors) troubles.push(`${clientErrors} connections of the run's own pools broke (PostgreSQL restarts)`);
    if (reaperErrors) troubles.push(`${reaperErrors} reaper passes failed (PostgreSQL or the provider away)`);
    for (const c of children) {
      const crashes = c.unexpectedExits.length;
      if (crashes) troubles.push(`${c.name} exited on its own ${crashes}×: ${JSON.stringify(c.unexpectedExits.slice(0, 3))}`);
    }
    if (submits.length < opts.jobs) troubles.push(`the time limit (${opts.timeoutMs / 1000} s) ended the run after ${submits.length} of ${opts.jobs} submits`);
    // graphile-worker jobs a SIGKILLed worker still holds: it retries them only after 4 hours
    const locked = await dba.query<{ task: string; n: number }>(
      `select task_identifier as task, count(*)::int as n from graphile_worker.jobs where locked_at is not null group by 1 order by 1`);
    if (apiRestartTimes.length) troubles.push(`API restarts (SIGTERM): ${apiRestartTimes.join(', ')}`);
    const pgRestarts = outages.filter((o) => o.kind === 'postgres').map((o) => `${((o.to - o.from) / 1000).toFixed(1)} s`);
    if (pgRestarts.length) troubles.push(`PostgreSQL restarts took ${pgRestarts.join(', ')}`);
    const restarts = outages.filter((o) => o.kind === 'worker').map((o) => o.to - o.from).sort((a, b) => a - b);
    if (restarts.length) troubles.push(`a SIGKILLed worker was back in ${(restarts[Math.floor(restarts.length / 2)]! / 1000).toFixed(1)} s (median), ${(restarts.at(-1)! / 1000).toFixed(1)} s at worst`);
    const startup = await dba.query<{ p50: number; p95: number; max: number }>(
      `select percentile_cont(0.5) within group (order by s)::float8 as p50, percentile_cont(0.95) within group (order by s)::float8 as p95, max(s)::float8 as max
         from (select extract(epoch from running_at - started_at) as s from fila.jobs where running_at is not null) x`);
    const st = startup.rows[0];
    if (st && st.p50 !== null) troubles.push(`dispatch → running took ${st.p50.toFixed(2)} s (median), ${st.p95.toFixed(2)} s (p95), ${st.max.toFixed(2)} s at worst`);
    if (locked.rows.length) troubles.push(`worker jobs left locked by killed workers: ${locked.rows.map((r) => `${r.task} ${r.n}`).join(', ')}`);
    if (opts.logsDir) {
      // the run's facts, for a post-mortem after the cluster is gone
      const dump = async (name: string, sql: string) => writeFileSync(path.join(opts.logsDir!, name), JSON.stringify((await dba.query(sql)).rows));
      await dump('jobs.json', 'select * from fila.jobs order by queue_seq');
      await dump('job_events.json', 'select * from fila.job_events order by id');
      writeFileSync(path.join(opts.logsDir, 'record.json'), JSON.stringify(record));
    }
    const check = await checkRun(url, record, { sampler });
    const durationMs = Date.now() - t0;
    await unwind();
    return { check, faults, durationMs, settings, postgres: opts.databaseUrl ? 'DATABASE_URL' : 'embedded', troubles };
  } catch (err) {
    await unwind();
    throw err;
  }
}
