// The operator CLI, as operators run it (the real bin in a child process) on a real database.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';
import { verifyToken } from '../../api/auth.ts';
import { createEmptyDatabase, fila } from '../../dev/test-support/processes.ts';
import { waitFor } from '../../dev/test-support/wait.ts';
import { repoRoot } from '../config.ts';

let t: TestDatabase;
let env: Record<string, string>;
const noLocalSystem = mkdtempSync(path.join(tmpdir(), 'fila-cli-'));
beforeAll(async () => {
  t = await createTestDatabase();
  // FILA_DATA_DIR points where no `npm start` runs: the CLI uses DATABASE_URL only
  env = { DATABASE_URL: t.url, FILA_DATA_DIR: noLocalSystem };
});
afterAll(async () => { await t.drop(); });

const commands = ['start', 'migrate', 'worker', 'api', 'reap', 'queue', 'job', 'grant', 'token'];

// each case starts several CLI processes (node + tsx): on a loaded machine one start takes seconds
describe('fila CLI', { timeout: 180_000 }, () => {
  it('lists every command with --help, and each command has its own --help', async () => {
    const top = await fila(['--help'], env);
    expect(top.code).toBe(0);
    for (const c of commands) expect(top.stdout).toMatch(new RegExp(`^  ${c}\\s`, 'm'));
    const each = await Promise.all(commands.map((c) => fila([c, '--help'], env)));
    each.forEach((r, i) => {
      expect(r.code, commands[i]).toBe(0);
      expect(r.stdout).toContain(`usage: fila ${commands[i]}`);
    });
  });

  it('refuses an unknown command or option with one line and exit code 2', async () => {
    const unknown = await fila(['frobnicate'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('fila: unknown command "frobnicate" (try: fila --help)\n');
    const badOption = await fila(['queue', '--nope'], env);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr.trim().split('\n')).toHaveLength(1);
    expect(badOption.stderr).toContain("Unknown option '--nope'");
  });

  it('migrate --plan prints the pending SQL without applying it; migrate applies it; then nothing is pending', async () => {
    const empty = await createEmptyDatabase();
    try {
      const e = { ...env, DATABASE_URL: empty.url };
      const plan = await fila(['migrate', '--plan'], e);
      expect(plan.code).toBe(0);
      expect(plan.stdout).toContain('-- ===== 00001_schema.sql =====');
      expect(plan.stdout).toContain('create function fila.submit_job(');
      // nothing was applied: the same plan again
      expect((await fila(['migrate', '--plan'], e)).stdout).toBe(plan.stdout);
      const applied = await fila(['migrate'], e);
      expect(applied.code, applied.stderr).toBe(0);
      expect(applied.stdout).toContain('applied 00001_schema.sql, 00002_state_machine.sql');
      expect((await fila(['migrate', '--plan'], e)).stdout).toContain('no pending migrations');
      expect((await fila(['migrate'], e)).stdout).toContain('already up to date');
    } finally {
      await empty.drop();
    }
  });

  it('migrate without a database says so in one line', async () => {
    const r = await fila(['migrate'], { FILA_DATA_DIR: noLocalSystem });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('fila: DATABASE_URL is not set (and no local `npm start` is running to borrow it from)\n');
    const unreachable = await fila(['queue'], { ...env, DATABASE_URL: 'postgres://postgres:postgres@127.0.0.1:1/none' });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^fila: cannot reach PostgreSQL .*\n$/);
  });

  it('grant adds credits once per idempotency key, and refuses what the rules refuse', async () => {
    const user = crypto.randomUUID();
    const first = await fila(['grant', user, '25', '--reason', 'welcome', '--key', 'welcome-1'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(`user ${user}: balance 25 credits\n`);
    expect((await fila(['grant', user, '25', '--reason', 'welcome', '--key', 'welcome-1'], env)).stdout).toContain('balance 25 credits');
    expect((await fila(['grant', user, '-5', '--reason', 'correction'], env)).stdout).toContain('balance 20 credits');
    expect(await t.fila.creditBalance(user)).toBe(20);
    const ledger = await t.fila.creditLedger(user);
    expect(ledger.map((l) => l.reason)).toEqual(['correction', 'welcome']);

    const tooMuch = await fila(['grant', user, '-500'], env);
    expect(tooMuch.code).toBe(1);
    expect(tooMuch.stderr).toMatch(/^fila: insufficient_credits: .+\n$/);
    expect(await t.fila.creditBalance(user)).toBe(20);
    const notUuid = await fila(['grant', 'alice', '5'], env);
    expect(notUuid.code).toBe(2);
    expect(notUuid.stderr).toBe('fila: user id must be a UUID, not "alice"\n');
    expect((await fila(['grant', user, 'lots'], env)).stderr).toBe('fila: amount must be a non-zero integer, not "lots"\n');
  });

  it('token signs a bearer token the API accepts, with the operator claim on request', async () => {
    const user = crypto.randomUUID();
    const secret = 'cli-test-secret';
    const plain = await fila(['token', user], { ...env, FILA_JWT_SECRET: secret });
    expect(plain.code, plain.stderr).toBe(0);
    expect(await verifyToken(secret, plain.stdout.trim())).toEqual({ userId: user, operator: false });
    const op = await fila(['token', user, '--operator', '--expires', '30m'], { ...env, FILA_JWT_SECRET: secret });
    expect(await verifyToken(secret, op.stdout.trim())).toEqual({ userId: user, operator: true });
    const prod = await fila(['token', user], { ...env, NODE_ENV: 'production' });
    expect(prod.code).toBe(1);
    expect(prod.stderr).toBe('fila: production mode: FILA_JWT_SECRET and FILA_WEBHOOK_SECRET must be set\n');
    expect((await fila(['token'], env)).stderr).toBe('fila: missing user id\n');
  });

  it('queue shows the slot holders and the FIFO with positions; job shows a timeline', async () => {
    // no worker runs here: dispatched jobs stay `starting`, the rest wait in line
    const users = await Promise.all(Array.from({ length: 5 }, () => fundedUser(t.fila)));
    const jobs = [];
    for (const [i, u] of users.entries()) jobs.push((await t.fila.submitJob({ userId: u, tool: 'upscaler', input: upscaleInput(i) })).job);
    const text = await fila(['queue'], env);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^slots 3\/3 {3}queued 2/);
    for (const j of jobs.slice(0, 3)) expect(text.stdout).toContain(j.id);
    const json = await fila(['queue', '--json'], env);
    const parsed = JSON.parse(json.stdout) as { overview: { slots_used: number }; slots: unknown[]; queue: { job_id: string; position: number }[] };
    expect(parsed.overview.slots_used).toBe(3);
    expect(parsed.queue.map((q) => [q.job_id, q.position])).toEqual([[jobs[3]!.id, 1], [jobs[4]!.id, 2]]);
    expect((await fila(['queue', '--limit', 'x'], env)).code).toBe(2);

    await t.fila.cancelJob(jobs[3]!.id, null);
    const job = await fila(['job', jobs[3]!.id], env);
    expect(job.code, job.stderr).toBe(0);
    expect(job.stdout).toContain(`${jobs[3]!.id}  upscaler  canceled`);
    expect(job.stdout).toMatch(/\(submit\)\s+queued/);
    expect(job.stdout).toMatch(/queued\s+canceled/);
    const timeline = JSON.parse((await fila(['job', jobs[3]!.id, '--json'], env)).stdout) as { timeline: { to_status: string }[] };
    expect(timeline.timeline.map((e) => e.to_status)).toEqual(['queued', 'canceled']);

    const missing = crypto.randomUUID();
    const notFound = await fila(['job', missing], env);
    expect(notFound.code).toBe(1);
    expect(notFound.stderr).toBe(`fila: no job id starts with "${missing}"\n`);
    const bad = await fila(['job', 'nope'], env);
    expect([bad.code, bad.stderr]).toEqual([1, 'fila: a job id prefix is 1 to 32 hexadecimal digits (dashes allowed), not "nope"\n']);
    for (const j of jobs) await t.fila.cancelJob(j.id, null).catch(() => undefined);
  });

  it('job takes the first characters of an id when one job starts with them, and lists the jobs when several do', async () => {
    const jobs = [];
    for (let i = 0; i < 17; i++) {
      const u = await fundedUser(t.fila);
      const { job } = await t.fila.submitJob({ userId: u, tool: 'veste_ai', input: { person_image_url: 'https://f.test/p.png', garment_image_url: 'https://f.test/g.png' } });
      await t.fila.cancelJob(job.id, u);
      jobs.push(job);
    }
    const all = (await t.admin.query<{ id: string }>('select id from fila.jobs')).rows.map((r) => r.id);
    // the shortest prefix of jobs[0] that no other job shares (8 characters nearly always)
    const target = jobs[0]!.id;
    let n = 1;
    while (all.filter((id) => id.startsWith(target.slice(0, n))).length > 1) n++;
    const one = await fila(['job', target.slice(0, n)], env);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toContain(`${target}  veste_ai  canceled`);
    expect(one.stdout).toMatch(/^debit\s+-3\s/m);
    expect(one.stdout).toMatch(/^refund\s+3\s/m);
    // 17 jobs, 16 first hex digits: at least two share one
    const digit = [...'0123456789abcdef'].find((d) => all.filter((id) => id.startsWith(d)).length >= 2)!;
    const sharing = all.filter((id) => id.startsWith(digit));
    const several = await fila(['job', digit], env);
    expect(several.code).toBe(1);
    expect(several.stderr).toBe(`fila: ${sharing.length > 20 ? 'more than 20' : sharing.length} jobs start with "${digit}": give more of the id\n`);
    for (const id of sharing.slice(0, 20)) expect(several.stdout).toContain(id);
  });

  it('queue --watch redraws in place as the queue changes and stops cleanly on Ctrl-C', async () => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'scripts', 'fila.mjs'), 'queue', '--watch', '--interval', '0.2'], {
      cwd: repoRoot, env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const frames = () => stdout.split('\x1b[H\x1b[2J').filter(Boolean);
    try {
      await waitFor('a first frame', () => frames().length >= 1);
      const u = await fundedUser(t.fila);
      const { job } = await t.fila.submitJob({ userId: u, tool: 'upscaler', input: upscaleInput(99) });
      await waitFor('a frame with the new job', () => frames().some((f) => f.includes(job.id)));
      await t.fila.cancelJob(job.id, u);
      await waitFor('a later frame without it', () => {
        const all = frames();
        const seenAt = all.findIndex((f) => f.includes(job.id));
        return all.slice(seenAt + 1).some((f) => f.endsWith('Ctrl-C stops\n') && !f.includes(job.id));
      });
      // every frame starts by homing the cursor and clearing: the screen is redrawn, not scrolled
      expect(stdout.startsWith('\x1b[H\x1b[2J')).toBe(true);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });

  it('reap runs one pass: without a provider only the SQL part, and says so', async () => {
    const r = await fila(['reap'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('soft-deadline checks skipped');
    expect(r.stdout).toContain('reaped: 0');
    const json = await fila(['reap', '--json'], env);
    expect(JSON.parse(json.stdout)).toMatchObject({ provider: 'skipped', reaped: [] });
  });

  it('worker and api refuse to start in production without their configuration', async () => {
    const worker = await fila(['worker'], { NODE_ENV: 'production', FILA_DATA_DIR: noLocalSystem });
    expect(worker.code).not.toBe(0);
    expect(worker.stderr + worker.stdout).toContain('DATABASE_URL');
    const api = await fila(['api'], { NODE_ENV: 'production', FILA_DATA_DIR: noLocalSystem });
    expect(api.code).not.toBe(0);
    expect(api.stderr + api.stdout).toContain('DATABASE_URL');
  });

  it('api and worker refuse to start without a secret with NODE_ENV unset too, in one line naming it', async () => {
    const base = { DATABASE_URL: t.url, FILA_DATA_DIR: noLocalSystem };
    const api = await fila(['api'], base);
    expect(api.code).toBe(1);
    expect((api.stderr + api.stdout).trim().split('\n')).toEqual([expect.stringMatching(/FILA_JWT_SECRET is not set.*FILA_WEBHOOK_SECRET is not set/)]);
    const worker = await fila(['worker'], { ...base, RUNNINGHUB_API_KEY: 'k', FILA_PUBLIC_URL: 'https://fila.example' });
    expect(worker.code).toBe(1);
    expect((worker.stderr + worker.stdout).trim().split('\n')).toEqual([expect.stringContaining('missing FILA_WEBHOOK_SECRET')]);
  });
});
