// Connection pools. Each process kind connects with the database role it needs: the API as
// fila_app (functions and views only), the worker as fila_worker (plus graphile-worker's schema).
// The login user of DATABASE_URL must be a member of that role (a superuser is).
import pg from 'pg';

// timestamps stay Date; bigint (int8) ids come back as strings unless parsed here
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

export type DbRole = 'fila_app' | 'fila_worker' | null;

export function createPool(url: string, role: DbRole, max = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    ...(role ? { options: `-c role=${role}` } : {}),
  });
  // an idle client's error (a server restart) must not crash the process: pg reports it here,
  // and the next query on a fresh client reports the real problem to its caller
  pool.on('error', (err) => { process.emitWarning(`idle PostgreSQL client error: ${err.message}`); });
  return pool;
}
