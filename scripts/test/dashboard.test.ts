// The operator dashboard in a real browser (headless Chromium through playwright-core) against the
// whole system: an operator token is required, a user token is refused; busy slots and queue
// positions show up as jobs are submitted and change without a reload as they finish.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../../dev/test-support/browser.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { waitFor } from '../../dev/test-support/wait.ts';
import { signToken } from '../../api/auth.ts';
import { repoRoot } from '../config.ts';
import { startSystem, type RunningSystem } from '../system.ts';

let t: TestDatabase;
let system: RunningSystem;
let browser: Browser;
let page: Page;
const jwtSecret = randomBytes(16).toString('hex');
const dataDir = mkdtempSync(path.join(tmpdir(), 'fila-dash-'));
const artifacts = path.join(repoRoot, '.artifacts');

beforeAll(async () => {
  t = await createTestDatabase();
  system = await startSystem({
    databaseUrl: t.url, dataDir, persistent: false, port: 0, development: true,
    jwtSecret, webhookSecret: randomBytes(16).toString('hex'), fakeDefaultMs: 2500,
  });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  mkdirSync(artifacts, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await system?.stop();
  await t?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function submit(userId: string, outcome: string, n: number): Promise<string> {
  await t.fila.grantCredits(userId, 20, 'dashboard test');
  const res = await fetch(`${system.apiUrl}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await signToken(jwtSecret, userId)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ tool: n % 2 ? 'veste_ai' : 'upscaler', input: n % 2
      ? { person_image_url: `https://files.test/p${n}.png#fake=${outcome}`, garment_image_url: 'https://files.test/g.png' }
      : { image_url: `https://files.test/i${n}.png#fake=${outcome}`, category: 'produto' } }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

describe('operator dashboard', () => {
  it('refuses a user token with a clear message', async () => {
    await page.goto(system.dashboardUrl);
    await page.getByTestId('token-input').fill(await signToken(jwtSecret, crypto.randomUUID()));
    await page.getByTestId('connect').click();
    await expect.poll(() => page.getByTestId('login-error').textContent()).toContain('not an operator token');
    expect(await page.locator('#board').isVisible()).toBe(false);
  });

  it('shows busy slots and queue positions, and follows the jobs to the end without a reload', async () => {
    await page.getByTestId('token-input').fill(await signToken(jwtSecret, crypto.randomUUID(), { operator: true }));
    await page.getByTestId('connect').click();
    await page.locator('#board').waitFor({ state: 'visible' });
    await expect.poll(() => page.getByTestId('live').textContent()).toBe('live');
    await page.evaluate(() => { (window as unknown as { marker: string }).marker = 'no reload'; });

    // the three that take the slots hang until the line has been looked at: tasks of fixed length
    // could end before a loaded machine has submitted all five and the page has shown them, and the
    // line would then be shorter than two
    const outcomes = ['hang', 'hang', 'hang', `fail:${encodeURIComponent('Imagem sem rosto detectado')}`, 'ok'];
    const jobs: string[] = [];
    for (const [i, outcome] of outcomes.entries()) jobs.push(await submit(crypto.randomUUID(), outcome, i));

    const busy = page.locator('[data-testid=slot][data-state=busy]');
    await expect.poll(() => busy.count(), { timeout: 10_000 }).toBe(3);
    const rows = page.getByTestId('queue-row');
    await expect.poll(() => rows.count()).toBe(2);
    expect(await rows.evaluateAll((els) => els.map((e) => [e.getAttribute('data-position'), e.getAttribute('data-job')])))
      .toEqual([['1', jobs[3]], ['2', jobs[4]]]);
    await page.screenshot({ path: path.join(artifacts, 'dashboard-busy.png'), fullPage: true });

    // the jobs finish: the three in the slots now, then the two from the line (2.5 s each, fail: too);
    // the page changes by itself
    for (const id of jobs.slice(0, 3)) {
      const taskId = await waitFor(`job ${id}'s provider task`, async () => (await t.fila.job(id)).job.provider_task_id);
      system.fakeRunningHub!.finishTask(taskId);
    }
    await expect.poll(() => page.locator('[data-testid=recent-row][data-status=completed]').count(), { timeout: 20_000 }).toBe(4);
    await expect.poll(() => busy.count()).toBe(0);
    expect(await rows.count()).toBe(0);
    const failed = page.locator('[data-testid=recent-row][data-status=failed]');
    expect(await failed.textContent()).toContain('Imagem sem rosto detectado');
    expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('no reload');
    await page.screenshot({ path: path.join(artifacts, 'dashboard-done.png'), fullPage: true });
  });

  it('submits a job from the "try a tool" form through JobManager (development)', async () => {
    await page.locator('select[name=outcome]').selectOption('ok');
    await page.getByTestId('try-submit').click();
    await expect.poll(() => page.getByTestId('try-status').textContent(), { timeout: 15_000 }).toContain('completed');
  });

  it('keeps the dashboard data behind the operator token', async () => {
    expect((await fetch(`${system.apiUrl}/dashboard/state`)).status).toBe(401);
    const asUser = await fetch(`${system.apiUrl}/dashboard/state`, { headers: { authorization: `Bearer ${await signToken(jwtSecret, crypto.randomUUID())}` } });
    expect(asUser.status).toBe(403);
    const asUserTry = await fetch(`${system.apiUrl}/dashboard/try-user`, { method: 'POST', headers: { authorization: `Bearer ${await signToken(jwtSecret, crypto.randomUUID())}` } });
    expect(asUserTry.status).toBe(403);
  });
});
