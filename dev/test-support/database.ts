// Per test file: a fresh database cloned from the migrated template (fast: a file copy).
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { createPool, type DbRole } from '../../db/pool.ts';
import { FilaDb } from '../../db/fila.ts';
import { databaseUrl } from './urls.ts';

export interface TestDatabase {
  name: string;
  url: string;
  /** superuser pool: the DBA's view (settings, raw checks) */
  admin: pg.Pool;
  /** FilaDb over the superuser pool: fixtures and checks may call every function (the roles'
   *  own limits are tested through `pool('fila_app' | 'fila_worker')`) */
  fila: FilaDb;
  app: pg.Pool;
  pool(role: DbRole, max: number): pg.Pool;
  connectionBudget: number;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = inject('filaServerUrl');
  const template = inject('filaTemplate');
  const name = `fila_t_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await c.query(`create database ${name} template ${template}`);
        break;
      } catch (err) {
        // two files cloning at the same instant: "source database is being accessed by other users"
        if (attempt >= 20 || (err as { code?: string }).code !== '55006') throw err;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
  } finally {
    await c.end();
  }
  const url = databaseUrl(serverUrl, name);
  const pools: pg.Pool[] = [];
  const pool = (role: DbRole, max: number): pg.Pool => {
    const p = createPool(url, role, max);
    pools.push(p);
    return p;
  };
  const admin = pool(null, 5);
  const app = pool('fila_app', 10);
  return {
    name, url, admin, app, pool,
    fila: new FilaDb(admin),
    connectionBudget: inject('filaConnectionBudget'),
    async drop() {
      await Promise.all(pools.map((p) => p.end()));
      const d = new pg.Client({ connectionString: serverUrl });
      await d.connect();
      await d.query(`drop database if exists ${name} with (force)`);
      await d.end();
    },
  };
}
