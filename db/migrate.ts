// Migrations: fila's own (postgres-migrations, db/migrations/NNNNN_name.sql, all pending files in
// one transaction), then graphile-worker's.
// postgres-migrations decides whether its table exists by looking for any relation called
// `migrations` in any schema (Supabase has storage.migrations, graphile-worker has
// graphile_worker.migrations), so it gets a schema of its own, created with its table before it
// runs, on a connection whose search_path is only that schema.
import pg from 'pg';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate as runPostgresMigrations } from 'postgres-migrations';
import { Logger, runMigrations as runWorkerMigrations } from 'graphile-worker';
import { loadToolsConfig, tools, upscalerCategories } from '../common/tools/index.ts';
import { toolInputJsonSchemas } from '../common/tools/json-schema.ts';

export const migrationsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');
const bookkeeping = 'fila_migrations';

export interface PendingMigration { id: number; name: string; file: string; sql: string }

function migrationFiles(): PendingMigration[] {
  return readdirSync(migrationsDir)
    .filter((f) => /^\d{5}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => ({
      id: Number.parseInt(file.slice(0, 5), 10),
      name: file.replace(/^\d{5}_/, '').replace(/\.sql$/, ''),
      file,
      sql: readFileSync(path.join(migrationsDir, file), 'utf8'),
    }));
}

async function withClient<T>(url: string, searchPath: string | null, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, ...(searchPath ? { options: `-c search_path=${searchPath}` } : {}) });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function ensureBookkeeping(client: pg.Client): Promise<void> {
  await client.query(`create schema if not exists ${bookkeeping}`);
  await client.query(`create table if not exists ${bookkeeping}.migrations (
    id integer primary key, name varchar(100) unique not null, hash varchar(40) not null,
    executed_at timestamp default current_timestamp)`);
}

/** fila's migrations not yet applied to the database at `url` (for `fila migrate --plan`). */
export async function pendingMigrations(url: string): Promise<PendingMigration[]> {
  return withClient(url, null, async (client) => {
    const exists = await client.query<{ ok: boolean }>(
      `select to_regclass('${bookkeeping}.migrations') is not null as ok`);
    const applied = exists.rows[0]?.ok
      ? new Set((await client.query<{ id: number }>(`select id from ${bookkeeping}.migrations`)).rows.map((r) => r.id))
      : new Set<number>();
    return migrationFiles().filter((m) => !applied.has(m.id));
  });
}

export interface MigrateOptions {
  /** the tools configuration whose upscaler categories the database accepts (FILA_WORKFLOWS_FILE) */
  workflowsFile?: string;
  /** fila's migration files (tests give a copy with a failing file added) */
  migrationsDir?: string;
}

/**
 * Apply fila's migrations, then graphile-worker's, then the worker role's grants, then the tool
 * registry: a tool new to the database gets its fila.tools row and seed prices (a DBA's changes
 * to existing rows are kept), and every tool's input schema is written to fila.tool_inputs.
 * Idempotent.
 */
export async function migrate(url: string, log: (line: string) => void = () => undefined, opts: MigrateOptions = {}): Promise<string[]> {
  // read first: a bad tools configuration stops the migration before anything is written
  const inputSchemas = toolInputJsonSchemas({ upscalerCategories: upscalerCategories(loadToolsConfig(opts.workflowsFile)) });
  const applied = await withClient(url, bookkeeping, async (client) => {
    // postgres-migrations' own lock, taken here for the whole batch (session locks nest: its
    // take and release inside are a count), so a second migrator waits for the commit below
    await client.query(`select pg_advisory_lock(${migrationLock})`);
    try {
      await client.query('begin');
      try {
        await ensureBookkeeping(client);
        const done = await runPostgresMigrations({ client: oneTransaction(client) }, opts.migrationsDir ?? migrationsDir, { logger: (m) => log(m) });
        await client.query('commit');
        return done.map((m) => m.fileName);
      } catch (err) {
        await client.query('rollback');
        throw err;
      }
    } finally {
      await client.query(`select pg_advisory_unlock(${migrationLock})`);
    }
  });
  await runWorkerMigrations({ connectionString: url, logger: quietLogger(log) });
  await withClient(url, null, async (client) => {
    // graphile-worker's schema exists only now: the worker role may run graphile-worker on it
    await client.query(`
      grant usage on schema graphile_worker to fila_worker;
      grant select, insert, update, delete on all tables in schema graphile_worker to fila_worker;
      grant usage, select on all sequences in schema graphile_worker to fila_worker;
      grant execute on all functions in schema graphile_worker to fila_worker;`);
    // graphile-worker enables row level security on its private tables (with no policy: only their
    // owner may touch them), so a worker connected as fila_worker could take no job at all
    await client.query(`
      do $$
      declare r record;
      begin
        for r in select c.relname from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
                 where n.nspname = 'graphile_worker' and c.relkind = 'r' and c.relrowsecurity
        loop
          if not exists (select 1 from pg_catalog.pg_policies p
                         where p.schemaname = 'graphile_worker' and p.tablename = r.relname and p.policyname = 'fila_worker_all') then
            execute format('create policy fila_worker_all on graphile_worker.%I to fila_worker using (true) with check (true)', r.relname);
          end if;
        end loop;
      end;
      $$;`);
    await client.query('begin');
    try {
      for (const tool of Object.values(tools)) {
        const added = await client.query(
          `insert into fila.tools (tool, soft_deadline, hard_deadline) values ($1, $2::interval, $3::interval)
           on conflict (tool) do nothing`, [tool.name, tool.deadlines.soft, tool.deadlines.hard]);
        if (added.rowCount === 1) {
          for (const price of tool.prices) {
            await client.query('insert into fila.tool_prices (tool, match, priority, price) values ($1, $2, $3, $4)',
              [tool.name, JSON.stringify(price.match), price.priority, price.price]);
          }
          log(`tool ${tool.name} added with its seed prices and deadlines`);
        }
        await client.query(
          `insert into fila.tool_inputs (tool, schema) values ($1, $2)
           on conflict (tool) do update set schema = excluded.schema, updated_at = now()
           where fila.tool_inputs.schema is distinct from excluded.schema`,
          [tool.name, JSON.stringify(inputSchemas[tool.name])]);
      }
      await client.query('commit');
    } catch (err) {
      await client.query('rollback');
      throw err;
    }
  });
  return applied;
}

/** the key postgres-migrations 5.3 locks while it runs */
const migrationLock = '-8525285245963000605';

/**
 * The client postgres-migrations is given: its per-file START TRANSACTION, COMMIT and ROLLBACK
 * are left out, so every pending file runs in the caller's one transaction. Roles are
 * cluster-wide and 00004 makes fila_worker a member of fila_app that 00014 takes back: committed
 * file by file, every other fila database on the cluster saw its worker holding the API's
 * rights in between. One transaction also means a failing file leaves no earlier file applied.
 */
function oneTransaction(client: pg.Client): pg.Client {
  const perFile = /^\s*(start transaction|commit|rollback)\s*;?\s*$/i;
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown;
      return (text: unknown, ...rest: unknown[]) => typeof text === 'string' && perFile.test(text)
        ? Promise.resolve({ command: text.trim().toUpperCase(), rowCount: null, oid: 0, fields: [], rows: [] })
        : (target.query as (...args: unknown[]) => unknown)(text, ...rest);
    },
  });
}

function quietLogger(log: (line: string) => void): Logger {
  return new Logger(() => (level, message) => {
    if (level === 'error' || level === 'warning') log(`graphile-worker ${level}: ${message}`);
  });
}
