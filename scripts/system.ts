// The whole of fila in one process: PostgreSQL (embedded unless a URL is given), migrations, the
// fake RunningHub (unless a real provider is configured), the API and a worker. `npm start`, the
// demo and the tests all start it through startSystem(), so they run exactly the same wiring.
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { startEmbedded, type EmbeddedServer } from '../dev/embedded-postgres.ts';
import { defaultPort } from '../common/config.ts';
import { migrate } from '../db/migrate.ts';
import { createPool } from '../db/pool.ts';
import { FilaDb } from '../db/fila.ts';
import { startApiServer } from '../api/server.ts';
import { signToken } from '../api/auth.ts';
import { startWorker } from '../worker/runner.ts';
import { fakeAccountKeys, startFakeRunningHub, type FakeRunningHub } from '../dev/fake-runninghub/server.ts';
import { isPublicAddress } from '../common/public-address.ts';

export interface SystemOptions {
  /** PostgreSQL to use; unset = embedded in `${dataDir}/pg` */
  databaseUrl?: string;
  /** embedded PostgreSQL's data and the local uploads live here */
  dataDir: string;
  /** keep the embedded cluster's data across restarts (npm start) or not (throw-away test runs) */
  persistent?: boolean;
  port?: number;
  host?: string;
  development: boolean;
  jwtSecret: string;
  webhookSecret: string;
  /** the real provider; null = a local fake RunningHub */
  runninghub?: { baseUrl: string; accounts: Record<string, string> } | null;
  /** the fake's default task duration (FAKE_RUNNINGHUB_MS) */
  fakeDefaultMs?: number;
  /** base URL the provider calls back; default: the API's own URL */
  publicUrl?: string;
  concurrency?: number;
  logger?: Logger;
}

export interface RunningSystem {
  apiUrl: string;
  dashboardUrl: string;
  databaseUrl: string;
  /** null when a real provider is configured */
  fakeRunningHubUrl: string | null;
  /** the fake itself (null with a real provider): what it was asked, and finishTask for tests */
  fakeRunningHub: FakeRunningHub | null;
  /** the embedded cluster's data folder (null with DATABASE_URL) */
  postgresDataDir: string | null;
  development: boolean;
  jwtSecret: string;
  /** timings of the start-up steps, in ms */
  timings: Record<string, number>;
  stop(): Promise<void>;
}

/** Stops what started, last first; every step runs even when an earlier one fails. */
class Stack {
  private readonly steps: { name: string; stop: () => Promise<void> }[] = [];
  push(name: string, stop: () => Promise<void>): void { this.steps.push({ name, stop }); }
  async unwind(): Promise<void> {
    const errors: Error[] = [];
    for (const step of this.steps.reverse()) {
      try {
        await step.stop();
      } catch (err) {
        errors.push(new Error(`stopping ${step.name}: ${(err as Error).message}`, { cause: err }));
      }
    }
    this.steps.length = 0;
    if (errors.length === 1) throw errors[0]!;
    if (errors.length > 1) throw new AggregateError(errors, errors.map((e) => e.message).join('; '));
  }
}

export async function startSystem(opts: SystemOptions): Promise<RunningSystem> {
  const logger = opts.logger ?? pino({ level: 'silent' });
  const timings: Record<string, number> = {};
  const t0 = performance.now();
  const mark = (name: string) => { timings[name] = Math.round(performance.now() - t0); };
  const stack = new Stack();
  try {
    let url = opts.databaseUrl;
    let pg: EmbeddedServer | null = null;
    if (!url) {
      pg = await startEmbedded({ dataDir: path.join(opts.dataDir, 'pg'), persistent: opts.persistent ?? true });
      stack.push('PostgreSQL', () => pg!.stop());
      url = pg.url;
      mark('postgres');
    }
    await migrate(url, (line) => logger.debug({ migration: line }, 'migrate'));
    mark('migrations');

    let runninghub = opts.runninghub ?? null;
    let fake: FakeRunningHub | null = null;
    if (!runninghub) {
      const started = await startFakeRunningHub({ defaultMs: opts.fakeDefaultMs });
      stack.push('fake RunningHub', () => started.stop());
      fake = started;
      const accounts = createPool(url, 'fila_app', 1);
      try {
        runninghub = { baseUrl: started.url, accounts: fakeAccountKeys(await new FilaDb(accounts).providerAccounts()) };
      } finally {
        await accounts.end();
      }
      mark('fake_runninghub');
    }

    const uploadDir = path.join(opts.dataDir, 'uploads');
    mkdirSync(uploadDir, { recursive: true });
    const api = await startApiServer({
      databaseUrl: url, port: opts.port ?? defaultPort, host: opts.host ?? '127.0.0.1',
      jwtSecret: opts.jwtSecret, webhookSecret: opts.webhookSecret, development: opts.development,
      uploadDir, publicUrl: opts.publicUrl, logger: logger.child({ component: 'api' }),
      fakeProvider: fake !== null, // example hosts stand for files only when the fake reads them
    });
    stack.push('API', () => api.close());
    mark('api');

    const worker = await startWorker({
      databaseUrl: url, runninghub, publicUrl: opts.publicUrl ?? api.url,
      webhookSecret: opts.webhookSecret, concurrency: opts.concurrency, uploadDir,
      logger: logger.child({ component: 'worker' }),
      // the local fake serves its outputs on 127.0.0.1: copies may be fetched from there, and only
      // then (with a real provider every output URL must be public)
      ...(fake ? { outputCopies: { network: { allowAddress: (ip: string) => ip === '127.0.0.1' || isPublicAddress(ip) } } } : {}),
    });
    stack.push('worker', () => worker.stop());
    mark('worker');

    return {
      apiUrl: api.url,
      dashboardUrl: `${api.url.replace(/\/+$/, '')}/`,
      databaseUrl: url,
      fakeRunningHubUrl: fake?.url ?? null,
      fakeRunningHub: fake,
      postgresDataDir: pg?.dataDir ?? null,
      development: opts.development,
      jwtSecret: opts.jwtSecret,
      timings,
      stop: () => stack.unwind(),
    };
  } catch (err) {
    await stack.unwind().catch((stopErr: unknown) => {
      logger.error({ err: stopErr }, 'while cleaning up after a failed start');
    });
    throw err;
  }
}

// Development users: fixed ids so that tokens printed yesterday still name the same people.
export const developmentUsers = {
  operator: '00000000-0000-4000-8000-00000000f11a',
  users: ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'],
} as const;
export const developmentCredits = 100;

export interface DevelopmentAccess {
  operator: { id: string; token: string };
  users: { id: string; token: string; balance: number }[];
}

/** Tokens for the development operator and users; the users get their credits once (idempotent). */
export async function developmentAccess(system: Pick<RunningSystem, 'databaseUrl' | 'jwtSecret'>): Promise<DevelopmentAccess> {
  // grant_credits is the DBA's (the API's role cannot grant): npm start's own database, its owner
  const pool = createPool(system.databaseUrl, null, 2);
  try {
    const db = new FilaDb(pool);
    const users = [];
    for (const id of developmentUsers.users) {
      const balance = await db.grantCredits(id, developmentCredits, 'development credits (npm start)', 'npm-start-development-credits');
      users.push({ id, balance, token: await signToken(system.jwtSecret, id) });
    }
    const operator = { id: developmentUsers.operator, token: await signToken(system.jwtSecret, developmentUsers.operator, { operator: true }) };
    return { operator, users };
  } finally {
    await pool.end();
  }
}

/** A throw-away data dir (tests, demo). */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
