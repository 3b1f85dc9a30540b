// A whole worker setup for one test file: a fresh database, the fake RunningHub over real HTTP, a
// webhook receiver standing in for the API, and real graphile-worker instances.
// The API comes first: @hono/zod-openapi extends zod when it loads, and a tool schema created
// before that (by the worker's imports) has no .openapi() for startApi's server to register.
import { startApiServer } from '../../api/server.ts';
import { signToken } from '../../api/auth.ts';
import pino from 'pino';
import { randomUUID } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from './database.ts';
import type { Job, JobStatus, TimelineEntry } from '../../db/fila.ts';
import { startFakeRunningHub, type FakeRunningHub, type FakeRunningHubOptions } from '../fake-runninghub/server.ts';
import { RunningHubClient } from '../../worker/runninghub/client.ts';
import { RunningHubAccounts } from '../../worker/runninghub/accounts.ts';
import { startWorker, type StartWorkerOptions } from '../../worker/runner.ts';
import { reapOnce, type ReapResult } from '../../worker/reaper.ts';
import { waitFor } from './wait.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

export const testLogger = pino({ level: process.env.FILA_TEST_LOG ?? 'silent' });

export interface Harness {
  t: TestDatabase;
  fake: FakeRunningHub;
  receiver: WebhookReceiver;
  secret: string;
  /** the key of the first account (`default` unless `accounts` is given) */
  apiKey: string;
  /** account name -> its API key, as RUNNINGHUB_ACCOUNTS gives them */
  keys: Record<string, string>;
  client: RunningHubClient;
  workerOptions(extra?: Partial<StartWorkerOptions>): StartWorkerOptions;
  startWorker(extra?: Partial<StartWorkerOptions>): Promise<{ stop(): Promise<void> }>;
  /** a new user with credits submits one job */
  submit(tool: string, input: Record<string, unknown>, credits?: number): Promise<Job>;
  job(id: string): Promise<Job>;
  waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs?: number): Promise<T>;
  waitStatus(id: string, statuses: JobStatus | JobStatus[], timeoutMs?: number): Promise<Job>;
  timeline(id: string): Promise<TimelineEntry[]>;
  reap(): Promise<ReapResult>;
  /** every create request the fake received for this job */
  createsFor(jobId: string): Array<Record<string, unknown>>;
  refunds(jobId: string): Promise<number>;
  /** The real HTTP API on this database and webhook secret (stopped with the harness), for tests
   *  whose attacker goes through it; workers then take `publicUrl: api.url`. `uploadDir`: the local
   *  file store it serves at /uploads/ (the one a worker given the same uploadDir writes copies to). */
  startApi(opts?: { uploadDir?: string }): Promise<{ url: string; token(userId: string): Promise<string> }>;
  stop(): Promise<void>;
}

/**
 * `accounts` (name -> slots): these provider accounts instead of the seeded `default` (disabled),
 * each with its own key, which the fake holds to the account's slots (421 past them) unless the
 * test sets `fake.maxConcurrentPerKey`.
 */
export async function startHarness(opts: { fake?: FakeRunningHubOptions; accounts?: Record<string, number> } = {}): Promise<Harness> {
  const t = await createTestDatabase();
  const keys: Record<string, string> = {};
  const limits: Record<string, number> = {};
  if (opts.accounts) {
    await t.fila.setProviderAccount('default', 1, false);
    for (const [name, slots] of Object.entries(opts.accounts)) {
      await t.fila.setProviderAccount(name, slots);
      keys[name] = `test-key-${name}-${randomUUID().slice(0, 8)}`;
      limits[keys[name]] = slots;
    }
  } else {
    keys.default = `test-key-${randomUUID().slice(0, 8)}`;
  }
  const fake = await startFakeRunningHub({
    defaultMs: 300, webhookRetryMs: 200,
    ...(opts.accounts && opts.fake?.maxConcurrentPerKey === undefined ? { maxConcurrentByKey: limits } : {}),
    ...opts.fake,
  });
  const secret = `test-secret-${randomUUID()}`;
  const apiKey = Object.values(keys)[0]!;
  const receiver = await startWebhookReceiver(t.fila, secret);
  const client = new RunningHubClient({ baseUrl: fake.url, apiKey, timeoutMs: 5000 });
  const workers: Array<{ stop(): Promise<void> }> = [];
  const apis: Array<{ close(): Promise<void> }> = [];

  const workerOptions = (extra: Partial<StartWorkerOptions> = {}): StartWorkerOptions => ({
    databaseUrl: t.url,
    runninghub: { baseUrl: fake.url, accounts: keys, timeoutMs: 5000 },
    publicUrl: receiver.url,
    webhookSecret: secret,
    concurrency: 6,
    crontab: false,
    pollInterval: 100,
    providerPoll: { intervalMs: 200, everySeconds: 0.5 },
    logger: testLogger,
    ...extra,
  });

  const h: Harness = {
    t, fake, receiver, secret, apiKey, keys, client, workerOptions,
    async startWorker(extra) {
      const w = await startWorker(workerOptions(extra));
      workers.push(w);
      return w;
    },
    async submit(tool, input, credits = 100) {
      const user = randomUUID();
      await t.fila.grantCredits(user, credits, 'test');
      return (await t.fila.submitJob({ userId: user, tool, input })).job;
    },
    async job(id) {
      return (await t.fila.job(id)).job;
    },
    waitFor,
    async waitStatus(id, statuses, timeoutMs) {
      const want = Array.isArray(statuses) ? statuses : [statuses];
      let last: Job | null = null;
      try {
        return await h.waitFor(`job ${id} to be ${want.join('|')}`, async () => {
          last = await h.job(id);
          return want.includes(last.status) ? last : null;
        }, timeoutMs);
      } catch (err) {
        throw new Error(`${(err as Error).message}; it is ${(last as Job | null)?.status ?? '?'}`, { cause: err });
      }
    },
    timeline: (id) => t.fila.jobTimeline(id),
    reap: () => reapOnce({ db: t.fila, runninghub: RunningHubAccounts.fromKeys(keys, { baseUrl: fake.url, timeoutMs: 5000 }), logger: testLogger }),
    createsFor(jobId) {
      return fake.requestsTo('create')
        .map((r) => r.body as Record<string, unknown>)
        .filter((b) => typeof b.webhookUrl === 'string' && b.webhookUrl.includes(`/runninghub/${jobId}?`));
    },
    async refunds(jobId) {
      const r = await t.admin.query<{ n: number }>(
        `select count(*)::int as n from fila.credit_ledger where job_id = $1 and kind = 'refund'`, [jobId]);
      return r.rows[0]!.n;
    },
    async startApi(apiOpts = {}) {
      const jwtSecret = `test-jwt-${randomUUID()}`;
      const api = await startApiServer({ databaseUrl: t.url, port: 0, jwtSecret, webhookSecret: secret, development: true, logger: testLogger,
        ...(apiOpts.uploadDir ? { uploadDir: apiOpts.uploadDir } : {}) });
      apis.push(api);
      return { url: api.url, token: (userId: string) => signToken(jwtSecret, userId) };
    },
    async stop() {
      await Promise.all(apis.map((a) => a.close()));
      await Promise.all(workers.map((w) => w.stop()));
      await fake.stop();
      await receiver.stop();
      await t.drop();
    },
  };
  return h;
}

/** FIFO (nobody overtakes), checked on the record: replaying job_events, every dispatch took the head of the queue. */
export async function fifoViolations(h: Harness): Promise<string[]> {
  const { rows } = await h.t.admin.query<{ job_id: string; from_status: string | null; to_status: string; queue_seq: string }>(
    `select e.job_id, e.from_status, e.to_status, j.queue_seq
       from fila.job_events e join fila.jobs j on j.id = e.job_id order by e.id`);
  const queued = new Map<string, number>();
  const violations: string[] = [];
  for (const r of rows) {
    const seq = Number(r.queue_seq);
    if (r.to_status === 'queued') queued.set(r.job_id, seq);
    else if (r.from_status === 'queued') {
      if (r.to_status === 'starting') {
        const head = Math.min(...queued.values());
        if (seq !== head) violations.push(`job seq ${seq} dispatched while seq ${head} was waiting`);
      }
      queued.delete(r.job_id);
    }
  }
  return violations;
}
