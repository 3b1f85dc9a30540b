// Migrations: an empty database gets everything; a second run changes nothing; a database that
// already has other `migrations` tables (Supabase's storage.migrations) is not confused.
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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

  // Roles are cluster-wide: 00004 makes fila_worker a member of fila_app and 00014 takes it back.
  // Committed file by file, every other fila database on the cluster (production beside staging,
  // a test beside a test) saw its worker able to submit, cancel and grant for as long as 00005
  // to 00013 took. One transaction for the batch: nobody sees a half-migrated state.
  it('never let another session see a half-migrated state: fila_worker is not a member of fila_app at any moment of a fresh migration', async () => {
    const url = await emptyDatabase();
    const observer = new pg.Client({ connectionString: serverUrl });
    await observer.connect();
    try {
      expect((await observer.query<{ m: boolean }>(`select pg_has_role('fila_worker', 'fila_app', 'member') as m`)).rows[0]!.m).toBe(false);
      let done = false;
      let looks = 0;
      let member = 0;
      const watching = (async () => {
        while (!done) {
          const r = await observer.query<{ m: boolean }>(`select pg_has_role('fila_worker', 'fila_app', 'member') as m`);
          looks++;
          if (r.rows[0]!.m) member++;
        }
      })();
      try {
        await migrate(url);
      } finally {
        done = true;
        await watching;
      }
      expect(looks).toBeGreaterThan(20); // the observer really looked while the migration ran
      expect(member).toBe(0);
    } finally {
      await observer.end();
    }
  });

  it('apply all pending files or none: a failing file leaves no earlier file applied', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fila-migrations-'));
    try {
      cpSync(migrationsDir, dir, { recursive: true });
      const next = String(migrationFiles.length + 1).padStart(5, '0');
      writeFileSync(path.join(dir, `${next}_fails.sql`), 'select 1/0;\n');
      const url = await emptyDatabase();
      const error = await migrate(url, () => undefined, { migrationsDir: dir }).then(() => null, (e: Error) => e);
      expect(error?.message).toMatch(/fails.*division by zero/s);
      expect((await pendingMigrations(url)).map((m) => m.file)).toEqual(migrationFiles); // none of the real files applied
      expect(await query(url, `select to_regnamespace('fila') is null as gone`)).toEqual([{ gone: true }]);
      // and the same files without the failing one apply afterwards
      rmSync(path.join(dir, `${next}_fails.sql`));
      expect(await migrate(url, () => undefined, { migrationsDir: dir })).toEqual(['0_create-migrations-table.sql', ...migrationFiles]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
