// The API and the worker as the benchmark runs them: separate Node processes (their own event
// loop and heap, so RSS is theirs), started the way `npm run api` / `npm run worker` start them.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Child {
  pid: number;
  /** resident set now and its peak so far (VmHWM), in MB */
  rss(): { now: number; peak: number };
  stop(): Promise<void>;
}

function memory(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { now: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

export function startNode(entry: string, env: Record<string, string>, log: (line: string) => void): Child {
  const child: ChildProcess = spawn(process.execPath, [path.join(root, 'scripts', 'run.mjs'), entry], {
    cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') log(`${entry} exited (${code ?? signal}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid!,
    rss: () => memory(child.pid!),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(force);
    },
  };
}

/** Poll a URL until it answers 200 (the API's /healthz), or fail after `ms`. */
export async function waitForHttp(url: string, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch (err) {
      if (Date.now() > until) throw new Error(`${url} did not answer within ${ms} ms: ${(err as Error).message}`, { cause: err });
    }
    if (Date.now() > until) throw new Error(`${url} did not answer 200 within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
