// The chaos run's own processes: fila's API and workers as real child processes (the same entry
// points production runs), started, killed with a signal and started again. Each child gets its
// own process group, so a SIGKILL leaves nothing of it behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const entryPoints = { api: 'api/main.ts', worker: 'worker/main.ts' } as const;

export interface ChildExit { code: number | null; signal: NodeJS.Signals | null }

export class FilaChild {
  private proc: ChildProcess | null = null;
  private exited: Promise<ChildExit> | null = null;
  /** the last lines it printed (for a post-mortem) */
  readonly tail: string[] = [];
  /** what the current process printed since it started (readiness is read here, never from a previous life) */
  readonly sinceStart: string[] = [];
  starts = 0;
  /** exits nobody asked for */
  unexpectedExits: ChildExit[] = [];
  private expectingExit = false;

  constructor(
    readonly name: string,
    private readonly entry: string,
    private readonly env: Record<string, string>,
    /** resolves when the process is ready to work */
    private readonly ready: (child: FilaChild) => Promise<void>,
    /** keep every line it prints in this file too (--logs) */
    private readonly logFile: string | null = null,
  ) {}

  get pid(): number | null { return this.proc?.pid ?? null; }
  get running(): boolean { return this.proc !== null; }

  private keep(buf: Buffer): void {
    if (this.logFile) appendFileSync(this.logFile, buf);
    for (const line of buf.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      this.tail.push(line);
      if (this.tail.length > 200) this.tail.shift();
      if (this.sinceStart.length < 200) this.sinceStart.push(line);
    }
  }

  async start(): Promise<void> {
    if (this.proc) throw new Error(`${this.name} is already running`);
    const proc = spawn(process.execPath, ['scripts/run.mjs', this.entry], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.proc = proc;
    this.sinceStart.length = 0;
    this.starts++;
    this.expectingExit = false;
    proc.stdout!.on('data', (b: Buffer) => this.keep(b));
    proc.stderr!.on('data', (b: Buffer) => this.keep(b));
    this.exited = new Promise<ChildExit>((resolve) => {
      proc.on('exit', (code, signal) => {
        if (this.proc === proc) this.proc = null;
        if (!this.expectingExit) this.unexpectedExits.push({ code, signal });
        resolve({ code, signal });
      });
    });
    await Promise.race([
      this.ready(this),
      this.exited.then((e) => { throw new Error(`${this.name} exited while starting (${e.signal ?? e.code}):\n${this.tail.slice(-20).join('\n')}`); }),
    ]);
  }

  /** Send a signal to its whole group and wait until it is gone. */
  async kill(signal: NodeJS.Signals): Promise<ChildExit | null> {
    const proc = this.proc;
    if (!proc || !this.exited) return null;
    this.expectingExit = true;
    const exited = this.exited;
    try {
      process.kill(-proc.pid!, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
    const bound = setTimeout(() => {
      // a graceful stop that takes too long becomes a kill, so the run stays bounded
      try { process.kill(-proc.pid!, 'SIGKILL'); } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }, 20_000);
    try {
      return await exited;
    } finally {
      clearTimeout(bound);
    }
  }

  /** Last resort when the run itself dies: nothing it started outlives it. */
  killNow(): void {
    if (!this.proc) return;
    try { process.kill(-this.proc.pid!, 'SIGKILL'); } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}

export function waitForLine(match: (line: string) => boolean, timeoutMs = 60_000): (child: FilaChild) => Promise<void> {
  return async (child) => {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (child.sinceStart.some(match)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${child.name}: not ready within ${timeoutMs} ms:\n${child.tail.slice(-20).join('\n')}`);
  };
}

export function waitForHttp(url: string, timeoutMs = 60_000): () => Promise<void> {
  return async () => {
    const until = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < until) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.ok) return;
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${url} not answering within ${timeoutMs} ms: ${last}`);
  };
}
