// The benchmark's phases. Each one gets its own database on the same PostgreSQL, is bounded in
// time, and returns plain numbers; main.ts turns them into ratios and BENCHMARKS.md.
import autocannon from 'autocannon';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import {
  benchUserIds, endPause, explainNested, fundBenchUsers, queueCounts, queueTail,
  queuedSample, setMaxSlots, slotHolder, submitMany, submitScript, tableSizes, settleBeforeMeasuring, sharedBuffers, withClient,
} from '../../dev/bench-support.ts';
import { freePort } from '../../dev/embedded-postgres.ts';
import { FilaDb } from '../../db/fila.ts';
import { createPool } from '../../db/pool.ts';
import { signToken } from '../../api/auth.ts';
import { startWorker } from '../../worker/runner.ts';
import { startFakeRunningHub } from '../../dev/fake-runninghub/server.ts';
import { pgbench, pgbenchInit, type PgbenchResult, type PgbenchTool } from './pgbench.ts';
import { startNode, waitForHttp, type Child } from './processes.ts';

export interface Sizes {
  seconds: number;
  clients: number[];
  pgbenchScale: number;
  handoffs: number;
  depths: number[];
  opsPerDepth: number;
  streams: number;
  runJobs: number;
  runSeconds: number;
}

export const fullSizes: Sizes = {
  seconds: 10, clients: [1, 8, 32], pgbenchScale: 10, handoffs: 1000,
  depths: [100, 10_000, 100_000], opsPerDepth: 100, streams: 10_000, runJobs: 10_000, runSeconds: 240,
};
export const smokeSizes: Sizes = {
  seconds: 1, clients: [1, 4], pgbenchScale: 1, handoffs: 10,
  depths: [20, 100], opsPerDepth: 3, streams: 10, runJobs: 6, runSeconds: 60,
};

export interface Ctx {
  serverUrl: string;
  pgbench: PgbenchTool | null;
  sizes: Sizes;
  log: (line: string) => void;
}

const jwtSecret = 'bench-jwt-secret-0123456789abcdef';
const webhookSecret = 'bench-webhook-secret';
/** The smallest file the upload route takes as a PNG (its signature). */
const benchPng = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('bench')]);
const hangInput = { image_url: 'https://files.example/bench.png#fake=hang', category: 'pessoas' };

export function percentiles(values: number[]): { n: number; p50: number; p90: number; p99: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN);
  return { n: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s.at(-1) ?? NaN };
}

const median = (values: number[]) => percentiles(values).p50;

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

function requirePgbench(ctx: Ctx): PgbenchTool {
  if (!ctx.pgbench) throw new Error('pgbench is not available (see the tools section)');
  return ctx.pgbench;
}

async function startApi(url: string, extra: Record<string, string> = {}): Promise<{ child: Child; url: string }> {
  const port = await freePort();
  const child = startNode('api/main.ts', {
    DATABASE_URL: url, PORT: String(port), HOST: '127.0.0.1', FILA_JWT_SECRET: jwtSecret,
    FILA_WEBHOOK_SECRET: webhookSecret, NODE_ENV: 'production', FILA_PUBLIC_URL: `http://127.0.0.1:${port}`, ...extra,
  }, () => undefined);
  const apiUrl = `http://127.0.0.1:${port}`;
  await waitForHttp(`${apiUrl}/healthz`);
  return { child, url: apiUrl };
}

// 1. pgbench's own floor ------------------------------------------------------------------------

export interface FloorResult { scale: number; tpcb: PgbenchResult[]; simpleUpdate: PgbenchResult[] }

export async function floorPhase(ctx: Ctx, url: string): Promise<FloorResult> {
  const tool = requirePgbench(ctx);
  await pgbenchInit(tool, url, ctx.sizes.pgbenchScale);
  const tpcb: PgbenchResult[] = [];
  const simpleUpdate: PgbenchResult[] = [];
  for (const clients of ctx.sizes.clients) {
    tpcb.push(await pgbench(tool, url, { mode: { builtin: 'tpcb-like' }, clients, seconds: ctx.sizes.seconds }));
    simpleUpdate.push(await pgbench(tool, url, { mode: { builtin: 'simple-update' }, clients, seconds: ctx.sizes.seconds }));
    ctx.log(`pgbench ${clients} clients: TPC-B ${tpcb.at(-1)!.tps.toFixed(0)} TPS, -N ${simpleUpdate.at(-1)!.tps.toFixed(0)} TPS`);
  }
  return { scale: ctx.sizes.pgbenchScale, tpcb, simpleUpdate };
}

// 2. submit_job through pgbench -f, slots full ---------------------------------------------------

export interface SubmitRun extends PgbenchResult { queued_before: number; queued_after: number }

export async function submitPhase(ctx: Ctx, url: string): Promise<SubmitRun[]> {
  const tool = requirePgbench(ctx);
  const expected = ctx.sizes.clients.length * ctx.sizes.seconds * 6000 + 100;
  await fundBenchUsers(url, 'p', expected);
  // the first three submits take the slots (no worker runs here: they stay starting)
  await pgbench(tool, url, { mode: { script: submitScript('p') }, clients: 1, transactions: 3 });
  const runs: SubmitRun[] = [];
  for (const clients of ctx.sizes.clients) {
    const before = await queueCounts(url);
    const r = await pgbench(tool, url, { mode: { script: submitScript('p') }, clients, seconds: ctx.sizes.seconds });
    const after = await queueCounts(url);
    if (after.busy !== 3) throw new Error(`slots not full during the submit run: ${after.busy} busy`);
    runs.push({ ...r, queued_before: before.queued, queued_after: after.queued });
    ctx.log(`submit_job ${clients} clients: ${r.tps.toFixed(0)} TPS (p50 ${r.p50_ms.toFixed(2)} ms, p99 ${r.p99_ms.toFixed(2)} ms), ${r.failed} failed, queue ${before.queued} -> ${after.queued}`);
  }
  return runs;
}

// 3. POST /v1/jobs over HTTP (autocannon) ---------------------------------------------------------

export interface HttpResult { connections: number; seconds: number; rps: number; p50_ms: number; p99_ms: number; non2xx: number; errors: number; created: number }

export async function httpPhase(ctx: Ctx, url: string): Promise<HttpResult> {
  const users = ctx.sizes.seconds * 3000 + 100;
  await fundBenchUsers(url, 'h', users);
  const ids = await benchUserIds(url, 'h', 1, users);
  const tokens = await Promise.all(ids.map((id) => signToken(jwtSecret, id)));
  // A production API checks every input URL before it debits (a HEAD to a public host, or fila's
  // own upload store): the input is one file uploaded first, as a user of the tool pages would.
  const uploadDir = mkdtempSync(path.join(tmpdir(), 'fila-bench-uploads-'));
  const api = await startApi(url, { FILA_UPLOAD_DIR: uploadDir });
  try {
    const form = new FormData();
    form.append('file', new Blob([benchPng], { type: 'image/png' }), 'bench.png');
    const up = await fetch(`${api.url}/v1/uploads`, { method: 'POST', body: form, headers: { authorization: `Bearer ${tokens[0]!}` } });
    if (up.status !== 201) throw new Error(`upload for the HTTP phase: ${up.status} ${await up.text()}`);
    const { url: imageUrl } = (await up.json()) as { url: string };
    let next = 0;
    const body = JSON.stringify({ tool: 'upscaler', input: { image_url: imageUrl, category: 'pessoas' } });
    // warm up (the first requests compile, open pool connections, plan statements): not measured
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${api.url}/v1/jobs`, {
        method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[next++]!}` },
      });
      if (res.status !== 201) throw new Error(`warm-up POST /v1/jobs: ${res.status} ${await res.text()}`);
    }
    const connections = 32;
    const before = (await queueCounts(url)).queued;
    const result = await autocannon({
      url: api.url, connections, duration: ctx.sizes.seconds,
      requests: [{
        method: 'POST', path: '/v1/jobs',
        setupRequest: (req) => ({
          ...req, body,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[next++ % tokens.length]}` },
        }),
      }],
    });
    const created = (await queueCounts(url)).queued - before;
    const r: HttpResult = {
      connections, seconds: ctx.sizes.seconds, rps: result.requests.average, p50_ms: result.latency.p50,
      p99_ms: result.latency.p99, non2xx: result.non2xx, errors: result.errors, created,
    };
    ctx.log(`POST /v1/jobs, ${connections} connections: ${r.rps.toFixed(0)} req/s (p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms), ${r.non2xx} non-2xx, ${created} jobs created`);
    if (r.non2xx > 0) throw new Error(`POST /v1/jobs answered ${r.non2xx} non-2xx: the phase measured refusals, not submits`);
    if (created === 0) throw new Error(`POST /v1/jobs created no job within ${ctx.sizes.seconds} s (${result.requests.total} requests answered): the phase measured nothing`);
    return r;
  } finally {
    await api.child.stop();
    rmSync(uploadDir, { recursive: true, force: true });
  }
}

// 4. hand-off: finish_job commit -> the next job's create request at the fake provider -------------

export interface HandoffResult {
  /** from the finish_job commit (its call returned) to the create request at the fake provider */
  handoffs: number; p50_ms: number; p90_ms: number; p99_ms: number; max_ms: number;
  /** the same, counted from the start of the finish_job call (its own work and commit included) */
  with_call_p50_ms: number; with_call_p99_ms: number;
  /** the finish_job call alone (its commit included) */
  finish_p50_ms: number; finish_p99_ms: number;
}

export async function handoffPhase(ctx: Ctx, url: string): Promise<HandoffResult> {
  const n = ctx.sizes.handoffs;
  await fundBenchUsers(url, 'f', n + 10);
  const ids = await benchUserIds(url, 'f', 1, n + 10);
  const fake = await startFakeRunningHub({ defaultMs: 0, maxConcurrentPerKey: 1_000_000 });
  const pool = createPool(url, null, 4) // submits and finishes: the owner plays both the API and the worker;
  const fila = new FilaDb(pool);
  const worker = await startWorker({
    databaseUrl: url, runninghub: { baseUrl: fake.url, accounts: { default: 'bench-key' } }, publicUrl: 'http://127.0.0.1:9', webhookSecret,
    crontab: false, logger: (await import('pino')).default({ level: 'silent' }),
  });
  try {
    for (const id of ids) await fila.submitJob({ userId: id, tool: 'upscaler', input: hangInput });
    const running = async () => (await pool.query<{ id: string }>(
      `select job_id::text as id from fila.active_jobs where status = 'running' order by started_at`)).rows.map((r) => r.id);
    const until = async (what: string, ok: () => Promise<boolean> | boolean, ms = 10_000) => {
      const end = Date.now() + ms;
      while (!(await ok())) {
        if (Date.now() > end) throw new Error(`hand-off: timed out waiting for ${what}`);
        await new Promise((r) => setImmediate(r));
      }
    };
    await until('three running jobs', async () => (await running()).length === 3, 30_000);
    const latencies: number[] = [];
    const withCall: number[] = [];
    const finishes: number[] = [];
    for (let i = 0; i < n; i++) {
      const holder = (await running())[0]!;
      const creates = fake.requestsTo('create').length;
      const t0 = Date.now();
      await fila.finishJob(holder, 'completed', [], null);
      // the call has returned: its commit is done (the server answers after the commit's flush)
      const committed = Date.now();
      finishes.push(committed - t0);
      await until('the next create request', () => fake.requestsTo('create').length > creates);
      const at = fake.requestsTo('create').at(-1)!.at;
      latencies.push(at - committed);
      withCall.push(at - t0);
      // the new holder must be running before it can be finished in its turn
      await until('the new job to run', async () => (await running()).length === 3);
    }
    const p = percentiles(latencies);
    const fp = percentiles(finishes);
    const wp = percentiles(withCall);
    ctx.log(`hand-off over ${p.n}, from the finish_job commit: p50 ${p.p50} ms, p99 ${p.p99} ms, max ${p.max} ms (from the call: p50 ${wp.p50} ms, p99 ${wp.p99} ms; the call alone: p50 ${fp.p50} ms)`);
    return {
      handoffs: p.n, p50_ms: p.p50, p90_ms: p.p90, p99_ms: p.p99, max_ms: p.max,
      with_call_p50_ms: wp.p50, with_call_p99_ms: wp.p99, finish_p50_ms: fp.p50, finish_p99_ms: fp.p99,
    };
  } finally {
    await worker.stop();
    await fake.stop();
    await pool.end();
  }
}

// 5. depth: the same operations at 100 / 10,000 / 100,000 queued on a churned queue ---------------

export interface DepthLevel {
  queued: number;
  ms: Record<string, number>;
  /** the writes: shared buffers one call touches (median of EXPLAIN ANALYZE runs) */
  buffers: Record<string, number>;
  submit_tps_32: number | null;
  sizes: Record<string, string>;
}
export interface DepthResult { levels: DepthLevel[]; plans: Record<string, string[]> }

async function churn(c: pg.Client, fila: FilaDb, depth: number, log: (line: string) => void): Promise<void> {
  // cancels in the middle, dispatches, requeues (the head keeps its place), rolled-back submits (gaps)
  const cancels = Math.max(1, Math.min(20, Math.floor(depth / 10)));
  for (const id of await queuedSample(c, cancels)) await fila.cancelJob(id, null);
  for (let i = 0; i < 5; i++) {
    const h = await slotHolder(c);
    if (h) await fila.finishJob(h, 'completed', [], null);
  }
  for (let i = 0; i < 3; i++) {
    const h = await slotHolder(c);
    if (h) { await fila.requeueJob(h, 'bench: TASK_QUEUE_MAXED'); await endPause(c); await fila.dispatch(); }
  }
  await c.query('begin');
  await c.query(`select fila.submit_job(fila_bench.next_user_d(), 'upscaler', $1::jsonb)`, [JSON.stringify(hangInput)]);
  await c.query('rollback');
  log(`churned: ${cancels} canceled mid-queue, 5 dispatched, 3 requeued, 1 rolled-back ticket`);
}

export async function depthPhase(ctx: Ctx, url: string): Promise<DepthResult> {
  const tool = requirePgbench(ctx);
  const { depths, opsPerDepth: ops } = ctx.sizes;
  const extraSubmits = depths.length * ctx.sizes.seconds * 6000;
  await fundBenchUsers(url, 'd', depths.at(-1)! + depths.length * (ops * 4 + 100) + extraSubmits);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const fila = new FilaDb(c);
  const levels: DepthLevel[] = [];
  let plans: Record<string, string[]> = {};
  try {
    for (const depth of depths) {
      const now = (await queueCounts(url)).queued;
      if (depth > now) await submitMany(url, 'd', depth - now + 40, hangInput);
      await churn(c, fila, depth, ctx.log);
      await settleBeforeMeasuring(url, ctx.log);
      const tail = (await queueTail(c))!;
      const watched = await queuedSample(c, Math.min(1000, depth));
      const ms: Record<string, number> = {};
      const buffers: Record<string, number> = {};
      const explained = 10;
      const measure = async (name: string, fn: () => Promise<unknown>) => {
        const t: number[] = [];
        for (let i = 0; i < ops; i++) t.push((await timed(fn))[0]);
        ms[name] = median(t);
      };
      // A write is timed inside its transaction; its commit follows, untimed: the commit's flush
      // costs the same at every depth and is, on a shared machine, what varies most between
      // levels (the hand-off phase counts commits). Then `explained` more calls (`sql` gives
      // each one's statement) have their shared buffers counted.
      const measureWrite = async (name: string, fn: () => Promise<unknown>, sql: () => Promise<[string, unknown[]] | null> | [string, unknown[]]) => {
        const t: number[] = [];
        for (let i = 0; i < ops; i++) {
          await c.query('begin');
          t.push((await timed(fn))[0]);
          await c.query('commit');
        }
        ms[name] = median(t);
        const b: number[] = [];
        for (let i = 0; i < explained; i++) {
          const call = await sql();
          if (call) b.push(await sharedBuffers(c, ...call));
        }
        buffers[name] = median(b);
      };
      await measure('queue_position(tail)', () => fila.queuePosition(tail));
      await measure('job_json(tail)', () => fila.job(tail));
      await measure('queue_overview (/metrics, /healthz)', () => fila.queueOverview());
      await measure('queue snapshot (GET /v1/queue, dashboard)', () => fila.queueSnapshot(100));
      await measure('recent_jobs (dashboard)', () => fila.recentJobs(30));
      await measure('tool_stats (dashboard)', () => fila.toolStats());
      await measure('watched_jobs (every queued job up to 1,000: one stream each)', () => fila.watchedJobs(watched));
      const users = await benchUserIds(url, 'd', depth + 1_000_000, depth + 1_000_000 + ops + explained);
      await withClient(url, (a) => a.query(`insert into fila.balances (user_id, balance) select unnest($1::uuid[]), 10
        on conflict (user_id) do nothing`, [users]));
      await withClient(url, (a) => a.query(`insert into fila.credit_entries (user_id, kind, amount, reason)
        select unnest($1::uuid[]), 'grant', 10, 'bench'`, [users]));
      let u = 0;
      await measureWrite('submit_job (one client)', () => fila.submitJob({ userId: users[u++]!, tool: 'upscaler', input: hangInput }),
        () => [`select (fila.submit_job($1::uuid, 'upscaler', $2::jsonb)).id`, [users[u++]!, JSON.stringify(hangInput)]]);
      await measureWrite('finish_job + dispatch', async () => {
        const h = await slotHolder(c);
        if (h) await fila.finishJob(h, 'completed', [], null);
      }, async () => {
        const h = await slotHolder(c);
        return h ? [`select fila.finish_job($1, 'completed', '[]', null)`, [h]] : null;
      });
      const mid = await queuedSample(c, ops + explained);
      let k = 0;
      await measureWrite('cancel_job (mid-queue)', () => fila.cancelJob(mid[k++]!, null),
        () => [`select fila.cancel_job($1, null)`, [mid[k++]!]]);
      const counts = await queueCounts(url);
      // submit throughput at this depth, slots full (a finish above dispatched into the free slot)
      const tps = await pgbench(tool, url, { mode: { script: submitScript('d') }, clients: Math.max(...ctx.sizes.clients), seconds: ctx.sizes.seconds });
      levels.push({ queued: counts.queued, ms, buffers, submit_tps_32: tps.tps, sizes: await tableSizes(c) });
      ctx.log(`depth ${counts.queued}: ${Object.entries(ms).map(([k2, v]) => `${k2} ${v.toFixed(2)} ms`).join(', ')}; submit ${tps.tps.toFixed(0)} TPS at 32 clients`);
    }
    const tail = (await queueTail(c))!;
    const h = await slotHolder(c);
    const some = await queuedSample(c, 1000);
    plans = {
      'queue_position(tail)': await explainNested(c, 'select fila.queue_position($1)', [tail]),
      'job_json(tail)': await explainNested(c, 'select fila.job_json(j) from fila.job($1) j', [tail]),
      queue_overview: await explainNested(c, 'select * from fila.queue_overview', []),
      'submit_job (slots full)': await explainNested(c, `select fila.submit_job(fila_bench.next_user_d(), 'upscaler', $1::jsonb)`, [JSON.stringify(hangInput)]),
      'finish_job + dispatch': h ? await explainNested(c, `select fila.finish_job($1, 'completed', '[]', null)`, [h]) : [],
      'watched_jobs (1000 streams)': await explainNested(c, 'select count(*) from fila.watched_jobs($1::uuid[])', [some]),
    };
  } finally {
    await c.end();
  }
  return { levels, plans };
}

// 6. fan-out: 10,000 event streams on one API process ----------------------------------------------

export interface FanoutResult {
  streams: number;
  opened: number;
  transitions: number;
  delivered: number;
  missing: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  rss_idle_mb: number;
  rss_open_mb: number;
  rss_peak_mb: number;
  watched_statement_ms: number;
  refreshes_per_transition: number;
}

interface SseClient { position: number | null; status: string; events: number; changedAt: number | null; req: http.ClientRequest }

function openSse(apiUrl: string, jobId: string, token: string, onEvent: () => void): SseClient {
  const s: SseClient = { position: null, status: '', events: 0, changedAt: null, req: null as unknown as http.ClientRequest };
  s.req = http.get(`${apiUrl}/v1/jobs/${jobId}/events`, { headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
    let buffer = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let i: number;
      while ((i = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        const data = block.split('\n').find((l) => l.startsWith('data: '));
        if (!data) continue;
        const job = JSON.parse(data.slice(6)) as { status: string; position: number | null };
        const moved = s.events > 0 && (job.status !== s.status || job.position !== s.position);
        s.status = job.status;
        s.position = job.position;
        s.events++;
        if (moved && s.changedAt === null) s.changedAt = performance.now();
        onEvent();
      }
    });
    res.on('error', () => undefined);
  });
  s.req.on('error', () => undefined);
  return s;
}

async function metricValue(apiUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${apiUrl}/metrics`)).text();
  return Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? NaN);
}

export async function fanoutPhase(ctx: Ctx, url: string): Promise<FanoutResult> {
  const n = ctx.sizes.streams;
  await fundBenchUsers(url, 's', n + 3);
  await submitMany(url, 's', n + 3, hangInput);
  const { rows: jobs } = await withClient(url, (c) => c.query<{ id: string; user_id: string }>(
    `select id::text, user_id::text from fila.jobs where status = 'queued' order by queue_seq`));
  const tokens = await Promise.all(jobs.map((j) => signToken(jwtSecret, j.user_id)));
  const api = await startApi(url, { FILA_MAX_EVENT_STREAMS: String(n + 100) });
  const clients: SseClient[] = [];
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const idle = api.child.rss().now;
    let received = 0;
    const onEvent = () => { received++; };
    for (let i = 0; i < jobs.length; i += 250) {
      for (const [k, j] of jobs.slice(i, i + 250).entries()) clients.push(openSse(api.url, j.id, tokens[i + k]!, onEvent));
      const want = Math.min(jobs.length, i + 250);
      const end = Date.now() + 60_000;
      while (clients.filter((c) => c.events > 0).length < want && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    }
    const opened = clients.filter((c) => c.events > 0).length;
    ctx.log(`fan-out: ${opened}/${n} streams open`);
    const open = api.child.rss().now;
    const latencies: number[] = [];
    let missing = 0;
    const transitions = 3;
    const refreshesBefore = await metricValue(api.url, 'fila_event_stream_refreshes_total');
    const adminPool = createPool(url, null, 2);
    const fila = new FilaDb(adminPool);
    for (let t = 0; t < transitions; t++) {
      for (const c of clients) c.changedAt = null;
      const holder = await withClient(url, (c) => slotHolder(c));
      const t0 = performance.now();
      await fila.finishJob(holder!, 'completed', [], null);
      const live = clients.filter((c) => c.events > 0 && c.status === 'queued');
      const end = Date.now() + 30_000;
      while (live.some((c) => c.changedAt === null) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      for (const c of live) {
        if (c.changedAt === null) missing++;
        else latencies.push(c.changedAt - t0);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const refreshes = (await metricValue(api.url, 'fila_event_stream_refreshes_total')) - refreshesBefore;
    const [watchedMs] = await timed(() => fila.watchedJobs(jobs.map((j) => j.id)));
    const p = percentiles(latencies);
    await adminPool.end();
    const rss = api.child.rss();
    const r: FanoutResult = {
      streams: jobs.length, opened, transitions, delivered: p.n, missing, p50_ms: p.p50, p99_ms: p.p99, max_ms: p.max,
      rss_idle_mb: idle, rss_open_mb: open, rss_peak_mb: rss.peak, watched_statement_ms: watchedMs,
      refreshes_per_transition: refreshes / transitions,
    };
    ctx.log(`fan-out: ${p.n} deliveries, p50 ${p.p50.toFixed(0)} ms, p99 ${p.p99.toFixed(0)} ms, ${missing} missing; RSS idle ${idle.toFixed(0)} MB, open ${open.toFixed(0)} MB, peak ${rss.peak.toFixed(0)} MB (${received} events)`);
    return r;
  } finally {
    for (const c of clients) c.req.destroy();
    await api.child.stop();
  }
}

// 7. a 10,000-job run: peak RSS of the API and the worker ----------------------------------------

export interface RunResult { jobs: number; completed: number; seconds: number; api_peak_mb: number; worker_peak_mb: number; jobs_per_second: number; max_slots: number }

/** Slots in the whole-run phase: it measures memory under load, not the provider's pace. */
const runSlots = 20;

export async function runPhase(ctx: Ctx, url: string): Promise<RunResult> {
  const n = ctx.sizes.runJobs;
  await fundBenchUsers(url, 'r', n);
  await setMaxSlots(url, runSlots);
  const fake = await startFakeRunningHub({ defaultMs: 0, maxConcurrentPerKey: 1_000_000 });
  const api = await startApi(url);
  const worker = startNode('worker/main.ts', {
    DATABASE_URL: url, FILA_WEBHOOK_SECRET: webhookSecret, RUNNINGHUB_API_KEY: 'bench-key',
    RUNNINGHUB_BASE_URL: fake.url, FILA_PUBLIC_URL: api.url, NODE_ENV: 'production', LOG_LEVEL: 'warn',
    FILA_WORKER_CONCURRENCY: String(runSlots * 2),
  }, ctx.log);
  try {
    const t0 = performance.now();
    await submitMany(url, 'r', n, { image_url: 'https://files.example/run.png#fake=ok:0', category: 'pessoas' });
    let apiPeak = 0;
    let workerPeak = 0;
    let completed = 0;
    const end = Date.now() + ctx.sizes.runSeconds * 1000;
    while (Date.now() < end) {
      apiPeak = Math.max(apiPeak, api.child.rss().peak);
      workerPeak = Math.max(workerPeak, worker.rss().peak);
      completed = (await withClient(url, (c) => c.query<{ n: number }>(
        `select count(*)::int as n from fila.jobs where status in ('completed', 'failed', 'canceled')`))).rows[0]!.n;
      if (completed >= n) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const seconds = (performance.now() - t0) / 1000;
    apiPeak = Math.max(apiPeak, api.child.rss().peak);
    workerPeak = Math.max(workerPeak, worker.rss().peak);
    ctx.log(`run: ${completed}/${n} jobs ended in ${seconds.toFixed(0)} s; peak RSS API ${apiPeak.toFixed(0)} MB, worker ${workerPeak.toFixed(0)} MB`);
    return { jobs: n, completed, seconds, api_peak_mb: apiPeak, worker_peak_mb: workerPeak, jobs_per_second: completed / seconds, max_slots: runSlots };
  } finally {
    await worker.stop();
    await api.child.stop();
    await fake.stop();
  }
}


