// Connection pools. Each process kind connects with the database role it needs: the API as
// fila_app (functions and views only), the worker as fila_worker (plus graphile-worker's schema).
// The login user of DATABASE_URL must be a member of that role (a superuser is).
import pg from 'pg';

// timestamps stay Date; bigint (int8) ids come back as strings unless parsed here
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

export type DbRole = 'fila_app' | 'fila_worker' | null;

/** Where a pool reports a connection's error that no query is there to receive. */
export type ClientErrorLog = (err: Error, idle: boolean) => void;

const warn: ClientErrorLog = (err, idle) => {
  process.emitWarning(`${idle ? 'idle' : 'held'} PostgreSQL client error: ${err.message}`);
};

export function createPool(url: string, role: DbRole, max = 10, onClientError: ClientErrorLog = warn): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    ...(role ? { options: `-c role=${role}` } : {}),
  });
  // A server restart ends every backend. pg emits 'error' on a client with no query running, and
  // an 'error' nobody listens to ends the process. An idle client's error reaches the pool (which
  // discards the client); a held one's (between two queries of a transaction, or between a
  // query's answer and its release) reaches only the client: each client gets a listener for its
  // whole life, and the holder's next query reports the real problem to its caller.
  pool.on('error', (err) => onClientError(err, true));
  pool.on('connect', (client) => {
    client.on('error', (err) => onClientError(err, false));
  });
  return pool;
}
