// `npm run worker` (node scripts/run.mjs worker/main.ts) as a real child process, without npm's own
// start-up, its JSON log lines collected.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ChildWorker {
  proc: ChildProcess;
  /** every stdout/stderr line so far */
  lines: string[];
  output(): string;
  waitForLine(pred: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnWorker(env: Record<string, string | undefined>): ChildWorker {
  const proc = spawn(process.execPath, ['scripts/run.mjs', 'worker/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // its own process group, so that nothing it may start outlives a SIGKILL to the group
    detached: true,
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const collect = (buf: Buffer) => {
    lines.push(...buf.toString('utf8').split('\n').filter((l) => l.trim() !== ''));
    for (const w of waiters) w();
  };
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => { resolve({ code, signal }); for (const w of waiters) w(); });
  });
  let done = false;
  void exited.then(() => { done = true; });
  // the whole group, whatever happens to the test: never leave a worker behind
  const reapGroup = (): void => {
    try { process.kill(-proc.pid!, 'SIGKILL'); } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  };
  process.once('exit', reapGroup);
  return {
    proc, lines, exited,
    output: () => lines.join('\n'),
    waitForLine(pred, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const hit = lines.find(pred);
          if (hit !== undefined) { cleanup(); resolve(hit); return; }
          if (done) { cleanup(); reject(new Error(`worker exited before the expected line:\n${lines.join('\n')}`)); }
        };
        const timer = setTimeout(() => { cleanup(); reject(new Error(`no expected line within ${timeoutMs} ms:\n${lines.join('\n')}`)); }, timeoutMs);
        const cleanup = (): void => { clearTimeout(timer); waiters.delete(check); };
        waiters.add(check);
        check();
      });
    },
    async kill(signal = 'SIGTERM') {
      if (!done) process.kill(-proc.pid!, signal);
      return exited;
    },
  };
}

export const isStarted = (line: string): boolean => line.includes('"msg":"worker started"');
