// The benchmark's SQL (npm run bench): fresh databases, funded users by the hundred thousand, the
// pgbench script that calls submit_job, churn, and the plans of the hot statements. Like
// dev/test-support, it runs as the database owner; nothing in production imports it.
import pg from 'pg';
import { migrate } from '../db/migrate.ts';
import { databaseUrl } from './test-support/urls.ts';

/** Each phase gets its own database on the same server (fresh queue, same PostgreSQL). */
export async function createBenchDatabase(serverUrl: string, name: string): Promise<string> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    await c.query(`drop database if exists ${name} with (force)`);
    await c.query(`create database ${name}`);
  } finally {
    await c.end();
  }
  const url = databaseUrl(serverUrl, name);
  await migrate(url);
  return url;
}

export async function dropBenchDatabase(serverUrl: string, name: string): Promise<void> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    await c.query(`drop database if exists ${name} with (force)`);
  } finally {
    await c.end();
  }
}

export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** The uuid of bench user `prefix`+`i` (the same in SQL and in TypeScript). */
export function benchUserSql(prefix: string, i: string): string {
  return `md5('${prefix}' || ${i})::uuid`;
}

/**
 * Users `prefix`1..n with `credits` each, granted through the ledger as grant_credits would
 * (credit_audit stays empty), and fila_bench.next_user(prefix) handing them out one by one.
 */
export async function fundBenchUsers(url: string, prefix: string, n: number, credits = 10): Promise<void> {
  await withClient(url, async (c) => {
    await c.query(`create schema if not exists fila_bench`);
    await c.query(`create sequence if not exists fila_bench.users_${prefix}`);
    await c.query(`create or replace function fila_bench.next_user_${prefix}() returns uuid language sql as
      $$ select ${benchUserSql(prefix, `nextval('fila_bench.users_${prefix}')`)} $$`);
    await c.query(`insert into fila.balances (user_id, balance)
      select ${benchUserSql(prefix, 'i')}, $2 from generate_series(1, $1::int) i`, [n, credits]);
    await c.query(`insert into fila.credit_entries (user_id, kind, amount, reason)
      select ${benchUserSql(prefix, 'i')}, 'grant', $2, 'bench' from generate_series(1, $1::int) i`, [n, credits]);
    await c.query('analyze');
  });
}

/** User ids `prefix`from..to, as TypeScript needs them (tokens, direct calls). */
export async function benchUserIds(url: string, prefix: string, from: number, to: number): Promise<string[]> {
  return withClient(url, async (c) => (await c.query<{ id: string }>(
    `select ${benchUserSql(prefix, 'i')}::text as id from generate_series($1::int, $2::int) i order by i`, [from, to])).rows.map((r) => r.id));
}

/** pgbench's script: one submit_job per transaction, each by a new funded user, for a job that hangs. */
export function submitScript(prefix: string): string {
  return `select id from fila.submit_job(fila_bench.next_user_${prefix}(), 'upscaler', '{"image_url":"https://files.example/bench.png#fake=hang","category":"pessoas"}'::jsonb);\n`;
}

/**
 * `n` real submit_job calls by funded users, 2,000 to a transaction (one commit per batch, not per
 * submit: filling a deep queue must not take the benchmark's whole time budget).
 */
export async function submitMany(url: string, prefix: string, n: number, input: Record<string, unknown>): Promise<void> {
  await withClient(url, async (c) => {
    for (let done = 0; done < n; done += 2000) {
      await c.query(`do $$ begin
        for i in 1..${Math.min(2000, n - done)} loop
          perform fila.submit_job(fila_bench.next_user_${prefix}(), 'upscaler', '${JSON.stringify(input).replaceAll("'", "''")}'::jsonb);
        end loop; end $$`);
    }
  });
}

export async function setMaxSlots(url: string, slots: number): Promise<void> {
  await withClient(url, async (c) => {
    await c.query('update fila.settings set max_slots = $1', [slots]);
    await c.query(`select fila.set_provider_account('default', $1)`, [slots]);
  });
}

export interface QueueCounts { queued: number; busy: number; tickets: number }

export async function queueCounts(url: string): Promise<QueueCounts> {
  return withClient(url, async (c) => (await c.query<QueueCounts>(
    `select (select count(*) from fila.jobs where status = 'queued')::int as queued,
            (select count(*) from fila.jobs where status in ('starting', 'running'))::int as busy,
            (select last_value from fila.queue_tickets)::int as tickets`)).rows[0]!);
}

/** Ids of queued jobs spread over the queue (for cancels in the middle, watched sets). */
export async function queuedSample(c: pg.Client, n: number): Promise<string[]> {
  return (await c.query<{ id: string }>(
    `select id::text from fila.jobs where status = 'queued' order by random() limit $1`, [n])).rows.map((r) => r.id);
}

export async function slotHolder(c: pg.Client): Promise<string | null> {
  return (await c.query<{ id: string }>(
    `select id::text from fila.jobs where status in ('starting', 'running') order by started_at limit 1`)).rows[0]?.id ?? null;
}

export async function queueTail(c: pg.Client): Promise<string | null> {
  return (await c.query<{ id: string }>(
    `select id::text from fila.jobs where status = 'queued' order by queue_seq desc limit 1`)).rows[0]?.id ?? null;
}

/** A requeue leaves dispatch paused (back-off): the churn ends the pause at once. */
export async function endPause(c: pg.Client): Promise<void> {
  await c.query(`update fila.provider_accounts set paused_until = null, pause_reason = null, backoff_step = 0`);
}

/**
 * Before measuring a depth: vacuum and analyze the whole database, then a checkpoint, so that each
 * level's one-client timings (each call an fsync'd commit) start from the same state: autovacuum
 * has nothing left to do on the funded users' rows, and a checkpoint set off by filling the
 * deepest queue does not land in that level's window only. A server where the
 * benchmark's role may not checkpoint (PostgreSQL 15: superuser or pg_checkpoint) is measured
 * without, and says so.
 */
export async function settleBeforeMeasuring(url: string, log: (line: string) => void): Promise<void> {
  await withClient(url, async (c) => {
    await c.query('vacuum (analyze)');
    try {
      await c.query('checkpoint');
    } catch (err) {
      if ((err as { code?: string }).code !== '42501') throw err;
      log(`no checkpoint before this level: ${(err as Error).message}`);
    }
  });
}

/** A no-queue statement a client makes on the server: fila's tables' sizes, for the report. */
export async function tableSizes(c: pg.Client): Promise<Record<string, string>> {
  const { rows } = await c.query<{ name: string; size: string }>(
    `select c.relname as name, pg_size_pretty(pg_total_relation_size(c.oid)) as size
       from pg_class c where c.relnamespace = 'fila'::regnamespace and c.relkind = 'r' order by c.relname`);
  return Object.fromEntries(rows.map((r) => [r.name, r.size]));
}

/**
 * Runs `sql` (for real) under EXPLAIN (ANALYZE, BUFFERS): the shared buffers it touched, nested
 * statements and triggers included — its work, whatever else the machine is doing.
 */
export async function sharedBuffers(c: pg.Client, sql: string, params: unknown[]): Promise<number> {
  const { rows } = await c.query<{ 'QUERY PLAN': [{ Plan: { 'Shared Hit Blocks': number; 'Shared Read Blocks': number } }] }>(
    `explain (analyze, buffers, timing off, format json) ${sql}`, params);
  const plan = rows[0]!['QUERY PLAN'][0].Plan;
  return plan['Shared Hit Blocks'] + plan['Shared Read Blocks'];
}

/** The plans PostgreSQL actually ran inside fila's functions (auto_explain, nested statements). */
export async function explainNested(c: pg.Client, sql: string, params: unknown[]): Promise<string[]> {
  const plans: string[] = [];
  const onNotice = (n: { message?: string }) => { if (n.message?.includes('Query Text')) plans.push(n.message); };
  c.on('notice', onNotice);
  try {
    await c.query(`load 'auto_explain'`);
    await c.query(`set auto_explain.log_min_duration = 0; set auto_explain.log_nested_statements = on;
      set auto_explain.log_analyze = on; set auto_explain.log_buffers = on; set auto_explain.log_timing = on;
      set auto_explain.log_level = notice; set client_min_messages = notice`);
    await c.query('begin');
    await c.query(sql, params);
    await c.query('rollback');
  } finally {
    await c.query('reset auto_explain.log_min_duration');
    c.off('notice', onNotice);
  }
  return plans;
}
