// The closed tab, in a real browser: headless Chromium opens a page that submits through the
// JobManager (presence on) while every slot is busy. One tab is closed: its job is canceled and
// refunded by the worker's own reaper (graphile-worker's crontab, once a minute) within
// presence_timeout plus one reaper period, never started, and the queue moves on. Another tab
// reloads before that: it keeps its job and its place, and gets the next free slot.
// Real time passes here (up to presence_timeout + about 60 s for the cron's minute boundary).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../../dev/test-support/browser.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { signToken } from '../../api/auth.ts';
import { startSystem, type RunningSystem } from '../system.ts';

const presenceSeconds = 20; // the API's event stream marks a live page seen every 10 s
const reaperPeriodSeconds = 60; // the crontab's '* * * * *'
const pagePath = '/closed-tab-test/';

let t: TestDatabase;
let system: RunningSystem;
let browser: Browser;
let script: string;
const jwtSecret = randomBytes(16).toString('hex');
const dataDir = mkdtempSync(path.join(tmpdir(), 'fila-closed-tab-'));

beforeAll(async () => {
  t = await createTestDatabase();
  await t.admin.query(`update fila.settings set presence_timeout = make_interval(secs => $1)`, [presenceSeconds]);
  system = await startSystem({
    databaseUrl: t.url, dataDir, persistent: false, port: 0, development: true,
    jwtSecret, webhookSecret: randomBytes(16).toString('hex'),
  });
  const bundle = await build({
    entryPoints: [path.join(path.dirname(fileURLToPath(import.meta.url)), 'closed-tab', 'page.ts')],
    bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'silent',
  });
  script = bundle.outputFiles[0]!.text;
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await system?.stop();
  await t?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function funded(): Promise<string> {
  const user = crypto.randomUUID();
  await t.fila.grantCredits(user, 10, 'closed-tab test');
  return user;
}

/** A tab of its own (own browser context) on the API's origin, serving the test page from the test. */
async function openTab(userId: string, n: number): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const config = {
    token: await signToken(jwtSecret, userId),
    tool: 'upscaler',
    input: { image_url: `https://files.example/tab-${n}.png#fake=ok:200`, category: 'pessoas' },
  };
  await page.addInitScript((c) => { (window as unknown as { FILA_TEST: unknown }).FILA_TEST = c; }, config);
  await page.route(`${system.apiUrl}${pagePath}**`, (route) => {
    const file = new URL(route.request().url()).pathname.slice(pagePath.length);
    return file === 'page.js'
      ? route.fulfill({ contentType: 'text/javascript', body: script })
      : route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>tool</title><body><script type="module" src="page.js"></script></body>' });
  });
  await page.goto(`${system.apiUrl}${pagePath}`);
  return page;
}

async function pageState(page: Page): Promise<Record<string, string | undefined>> {
  return page.evaluate(() => ({ ...document.body.dataset }));
}

async function jobRow(jobId: string): Promise<{ status: string; queue_seq: string; last_seen_at: Date | null }> {
  const { rows } = await t.admin.query<{ status: string; queue_seq: string; last_seen_at: Date | null }>(
    'select status, queue_seq, last_seen_at from fila.jobs where id = $1', [jobId]);
  return rows[0]!;
}

describe('the closed tab in a real browser', () => {
  it('cancels and refunds a closed tab\'s queued job within presence_timeout plus one reaper period without ever starting it, moves the queue on, and lets a reloaded tab keep its job and place', async () => {
    // every slot held by a server-side caller's job that never finishes by itself
    const { slots_total } = await t.fila.queueOverview();
    const holders: string[] = [];
    for (let i = 0; i < slots_total; i++) {
      const { job } = await t.fila.submitJob({
        userId: await funded(), tool: 'upscaler', input: { image_url: `https://files.example/hold-${i}.png#fake=hang`, category: 'pessoas' },
      });
      holders.push(job.id);
    }
    await expect.poll(async () => (await t.fila.queueOverview()).slots_used).toBe(slots_total);

    const closing = await funded();
    const reloading = await funded();
    const closingTab = await openTab(closing, 1);
    await expect.poll(() => pageState(closingTab), { timeout: 20_000 }).toMatchObject({ loaded: 'submitted', status: 'queued', position: '1' });
    const reloadTab = await openTab(reloading, 2);
    await expect.poll(() => pageState(reloadTab), { timeout: 20_000 }).toMatchObject({ loaded: 'submitted', status: 'queued', position: '2' });
    const closedJob = (await pageState(closingTab)).job!;
    const keptJob = (await pageState(reloadTab)).job!;
    const keptSeq = (await jobRow(keptJob)).queue_seq;
    expect((await t.fila.job(closedJob)).job.presence).toBe(true);

    // a reload: the new page finds the same job in the same place (no second job, no new ticket)
    await reloadTab.reload();
    await expect.poll(() => pageState(reloadTab), { timeout: 20_000 }).toMatchObject({ loaded: 'resumed', job: keptJob, status: 'queued', position: '2' });
    expect((await jobRow(keptJob)).queue_seq).toBe(keptSeq);
    expect((await t.fila.activeJob(reloading))?.job.id).toBe(keptJob);

    // the other tab closes: nothing of it is left to say it is there
    const closedAt = (await t.admin.query<{ now: Date }>('select now()')).rows[0]!.now;
    await closingTab.context().close();

    await expect.poll(async () => (await jobRow(closedJob)).status, {
      timeout: (presenceSeconds + reaperPeriodSeconds + 30) * 1000, interval: 500,
    }).toBe('canceled');
    const timeline = await t.fila.jobTimeline(closedJob);
    expect(timeline.map((e) => `${e.from_status ?? ''}>${e.to_status}`)).toEqual(['>queued', 'queued>canceled']); // never started
    expect(timeline[1]!.reason).toMatch(/abandoned/);
    const canceledAt = timeline[1]!.at;
    const lastSeen = (await jobRow(closedJob)).last_seen_at!;
    // not before its lease ran out, and no later than the lease plus one reaper period after the
    // close (its last mark predates the close; 10 s of slack for a cron pass late on a busy machine)
    expect(canceledAt.getTime() - lastSeen.getTime()).toBeGreaterThanOrEqual(presenceSeconds * 1000);
    expect(canceledAt.getTime() - closedAt.getTime()).toBeLessThanOrEqual((presenceSeconds + reaperPeriodSeconds + 10) * 1000);
    const { rows: refunds } = await t.admin.query<{ amount: number }>(
      `select amount from fila.credit_ledger where job_id = $1 and kind = 'refund'`, [closedJob]);
    expect(refunds).toEqual([{ amount: 2 }]);
    expect(await t.fila.creditBalance(closing)).toBe(10);

    // the queue moved: the open tab sees itself first in line, still queued (its page is alive)
    await expect.poll(() => pageState(reloadTab), { timeout: 20_000 }).toMatchObject({ job: keptJob, status: 'queued', position: '1' });
    // a slot frees: the reloaded tab's job takes it, and its page follows it to the end
    await t.fila.cancelJob(holders[0]!, null);
    await expect.poll(async () => (await pageState(reloadTab)).status, { timeout: 30_000 }).toBe('completed');
    expect(await t.fila.creditAudit()).toEqual([]);
  }, 240_000);
});
