// A PostgreSQL restart ends every backend, including those of clients a caller holds between two
// queries (inside a transaction, or in the instant between a query's answer and its release): pg
// then emits 'error' on a client nobody listens to, and Node ends the process. The chaos run saw
// the API die that way during a fast shutdown. Every pool fila makes must survive it: the holder's
// next query reports the error instead.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { createPool } from '../pool.ts';

let t: TestDatabase;
beforeAll(async () => { t = await createTestDatabase(); });
afterAll(async () => { await t?.drop(); });

it('a held client whose backend is ended between two queries does not crash the process; its next query fails with the reason', async () => {
  const pool = createPool(t.url, 'fila_app', 2);
  try {
    const client = await pool.connect();
    const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    const ended = new Promise<void>((resolve) => { client.once('end', () => resolve()); });
    // what a fast shutdown does to every backend: FATAL 57P01 to a client with no query running
    await t.admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
    await ended;
    await expect(client.query('select 1')).rejects.toThrow(/terminat|not queryable|Connection/i);
    client.release(true);
    // the pool carries on with a fresh connection
    expect((await pool.query<{ n: number }>('select 1 as n')).rows).toEqual([{ n: 1 }]);
  } finally {
    await pool.end();
  }
});
