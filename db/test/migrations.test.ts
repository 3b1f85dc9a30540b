// Migrations: an empty database gets everything; a second run changes nothing; a database that
// already has other `migrations` tables (Supabase's storage.migrations) is not confused.
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { readdirSync } from 'node:fs';
import { migrate, migrationsDir, pendingMigrations } from '../migrate.ts';
import { databaseUrl } from '../../dev/test-support/urls.ts';

const serverUrl = inject('filaServerUrl');
const created: string[] = [];
const migrationFiles = readdirSync(migrationsDir).filter((f) => f.endsWith('.sql')).sort();

async function emptyDatabase(): Promise<string> {
  const name = `fila_m_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  await c.query(`create database ${name}`);
  await c.end();
  created.push(name);
  return databaseUrl(serverUrl, name);
}

async function query<R extends pg.QueryResultRow>(url: string, sql: string): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<R>(sql)).rows;
  } finally {
    await c.end();
  }
}

/** Everything a migration could change, as text: relations, columns, functions' bodies, constraints, grants. */
async function fingerprint(url: string): Promise<string> {
  const rows = await query<{ line: string }>(url, `
    select format('rel %s.%s %s %s', n.nspname, c.relname, c.relkind, coalesce(c.relacl::text, '')) as line
      from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname in ('fila', 'graphile_worker', 'fila_migrations')
    union all
    select format('col %s.%s %s %s', n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod))
      from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
      where n.nspname in ('fila', 'graphile_worker') and a.attnum > 0 and not a.attisdropped
    union all
    select format('fn %s.%s(%s) %s %s', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), md5(p.prosrc), coalesce(p.proacl::text, ''))
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname in ('fila', 'graphile_worker')
    union all
    select format('con %s %s', conname, pg_get_constraintdef(oid)) from pg_constraint where connamespace = 'fila'::regnamespace
    union all
    select format('row migrations %s %s', id, name) from fila_migrations.migrations
    union all
    select format('row settings %s', s::text) from fila.settings s
    union all
    select format('row tool_prices %s', p::text) from fila.tool_prices p
    order by 1`);
  return rows.map((r) => r.line).join('\n');
}

afterAll(async () => {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  for (const name of created) await c.query(`drop database if exists ${name} with (force)`);
  await c.end();
});

describe('migrations', () => {
  it('apply to an empty database, and a second run changes nothing', async () => {
    const url = await emptyDatabase();
    expect((await pendingMigrations(url)).map((m) => m.file)).toEqual(migrationFiles);
    const applied = await migrate(url);
    expect(applied).toEqual(['0_create-migrations-table.sql', ...migrationFiles]);
    const first = await fingerprint(url);
    expect(first).toContain('fn fila.submit_job(');
    expect(first).toContain('rel graphile_worker._private_jobs');
    expect(await pendingMigrations(url)).toEqual([]);
    expect(await migrate(url)).toEqual([]);
    expect(await fingerprint(url)).toBe(first);
  });

  it('work on a database that already has other tables called migrations (Supabase, graphile-worker)', async () => {
    const url = await emptyDatabase();
    await query(url, `create schema storage;
      create table storage.migrations (id integer primary key, name varchar(100) unique not null, hash varchar(40) not null, executed_at timestamp default current_timestamp);
      insert into storage.migrations values (0, 'create-migrations-table', 'x'), (1, 'initialmigration', 'y');
      create table public.migrations (id serial primary key, note text);`);
    await migrate(url);
    const rows = await query<{ n: number }>(url, `select count(*)::int as n from fila_migrations.migrations`);
    expect(rows[0]!.n).toBe(migrationFiles.length + 1);
    expect(await query(url, `select id, name from storage.migrations order by id`)).toEqual(
      [{ id: 0, name: 'create-migrations-table' }, { id: 1, name: 'initialmigration' }]);
    expect(await query(url, `select * from public.migrations`)).toEqual([]);
    expect(await migrate(url)).toEqual([]);
  });
});
