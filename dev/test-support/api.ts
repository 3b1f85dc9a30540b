// Shared by the API tests: a real server on loopback over a fresh database, tokens, and the
// before/after snapshot that proves a refusal changed nothing.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createTestDatabase, type TestDatabase } from './database.ts';

export { sleep, waitFor } from './wait.ts';
import { signToken } from '../../api/auth.ts';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../../api/server.ts';

export const jwtSecret = 'test-jwt-secret-0123456789abcdef';
export const webhookSecret = 'test-webhook-secret';

export interface TestApi {
  t: TestDatabase;
  server: ApiServer;
  url: string;
  uploadDir: string;
  token(userId: string, opts?: { operator?: boolean }): Promise<string>;
  /** fetch against the API with a bearer token for `userId` (or none when null) */
  call(userId: string | null, route: string, init?: RequestInit & { json?: unknown; operator?: boolean }): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestApi(overrides: Partial<ApiServerOptions> = {}): Promise<TestApi> {
  const t = await createTestDatabase();
  const uploadDir = mkdtempSync(path.join(tmpdir(), 'fila-uploads-'));
  const server = await startApiServer({
    databaseUrl: t.url, port: 0, jwtSecret, webhookSecret, development: true, uploadDir,
    logger: pino({ level: process.env.FILA_TEST_LOG ?? 'silent' }),
    ...overrides,
  });
  const token = (userId: string, opts: { operator?: boolean } = {}) => signToken(jwtSecret, userId, opts);
  return {
    t, server, url: server.url, uploadDir, token,
    async call(userId, route, init = {}) {
      const { json, operator, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (userId) headers.set('authorization', `Bearer ${await token(userId, { operator: operator ?? false })}`);
      if (json !== undefined) headers.set('content-type', 'application/json');
      return fetch(server.url + route, { ...rest, headers, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) });
    },
    async close() {
      await server.close();
      await t.drop();
    },
  };
}

export interface DbSnapshot {
  jobs: number;
  events: number;
  ledger: number;
  inbox: number;
  balances: Record<string, number>;
  statuses: Record<string, string>;
}

/** Everything a refusal must leave untouched. */
export async function snapshot(t: TestDatabase): Promise<DbSnapshot> {
  const q = async (sql: string) => (await t.admin.query<{ n: number }>(sql)).rows[0]?.n ?? -1;
  const balances = Object.fromEntries((await t.admin.query<{ user_id: string; balance: number }>(
    'select user_id, balance from fila.balances')).rows.map((r) => [r.user_id, r.balance]));
  const statuses = Object.fromEntries((await t.admin.query<{ id: string; status: string }>(
    'select id, status from fila.jobs')).rows.map((r) => [r.id, r.status]));
  return {
    jobs: await q('select count(*)::int as n from fila.jobs'),
    events: await q('select count(*)::int as n from fila.job_events'),
    ledger: await q('select count(*)::int as n from fila.credit_entries'),
    inbox: await q('select count(*)::int as n from fila.webhook_inbox'),
    balances, statuses,
  };
}

export const userA = '2b1e6a4c-7d0f-4f3a-9c55-0a8e2f6b1d3c';

export function uid(): string {
  return crypto.randomUUID();
}

export const upscalerInput = { image_url: 'https://files.example.com/a.png', category: 'pessoas' };

/** Take every provider slot with other users' jobs, so the next submit waits in the queue. */
export async function fillSlots(t: TestDatabase): Promise<string[]> {
  const { slots_total } = await t.fila.queueOverview();
  const ids: string[] = [];
  for (let i = 0; i < slots_total; i++) {
    const user = uid();
    await t.fila.grantCredits(user, 10, 'test');
    const { job } = await t.fila.submitJob({ userId: user, tool: 'upscaler', input: upscalerInput });
    ids.push(job.id);
  }
  return ids;
}

/** End every active job (slot holders fail, queued ones are canceled): each test starts with free slots. */
export async function clearActive(t: TestDatabase): Promise<void> {
  for (const j of await t.fila.activeJobs()) {
    if (j.status !== 'queued') await t.fila.finishJob(j.job_id, 'failed', null, 'test cleanup');
  }
  for (const j of await t.fila.activeJobs()) await t.fila.cancelJob(j.job_id, null);
}
