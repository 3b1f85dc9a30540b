// The operator dashboard's provider accounts panel in a real browser (headless Chromium: dev/test-support/browser.ts), against
// the whole system started with three accounts: their slots in use, a paused one with its reason,
// a disabled one — and the panel follows a change without a reload.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../../dev/test-support/browser.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { signToken } from '../../api/auth.ts';
import { repoRoot } from '../config.ts';
import { startSystem, type RunningSystem } from '../system.ts';

let t: TestDatabase;
let system: RunningSystem;
let browser: Browser;
let page: Page;
const jwtSecret = randomBytes(16).toString('hex');
const dataDir = mkdtempSync(path.join(tmpdir(), 'fila-dash-accounts-'));
const artifacts = path.join(repoRoot, '.artifacts');

beforeAll(async () => {
  t = await createTestDatabase();
  // the accounts exist before the system starts: its worker gets a key for each
  await t.admin.query('update fila.settings set max_slots = 10');
  await t.fila.setProviderAccount('default', 2);
  await t.fila.setProviderAccount('spare', 1);
  await t.fila.setProviderAccount('old', 1, false);
  system = await startSystem({
    databaseUrl: t.url, dataDir, persistent: false, port: 0, development: true,
    jwtSecret, webhookSecret: randomBytes(16).toString('hex'), fakeDefaultMs: 60_000,
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

async function submit(n: number): Promise<string> {
  const user = crypto.randomUUID();
  await t.fila.grantCredits(user, 20, 'dashboard test');
  const res = await fetch(`${system.apiUrl}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await signToken(jwtSecret, user)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ tool: 'upscaler', input: { image_url: `https://files.test/a${n}.png#fake=hang`, category: 'produto' } }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

const rows = () => page.getByTestId('account-row').evaluateAll((els) => els.map((e) =>
  [e.getAttribute('data-account'), e.getAttribute('data-state'), e.querySelector('td.num')?.textContent ?? '']));

describe('operator dashboard: provider accounts', () => {
  it('shows each account\'s slots in use, a paused account with its reason, a disabled one, and follows changes live', async () => {
    await page.goto(system.dashboardUrl);
    await page.getByTestId('token-input').fill(await signToken(jwtSecret, crypto.randomUUID(), { operator: true }));
    await page.getByTestId('connect').click();
    await page.locator('#board').waitFor({ state: 'visible' });
    await expect.poll(rows).toEqual([['default', 'ok', '0 / 2'], ['old', 'disabled', '0 / 1'], ['spare', 'ok', '0 / 1']]);

    for (let i = 0; i < 3; i++) await submit(i); // default takes two (most free slots), spare one
    await expect.poll(rows, { timeout: 15_000 }).toEqual([['default', 'ok', '2 / 2'], ['old', 'disabled', '0 / 1'], ['spare', 'ok', '1 / 1']]);

    // spare in trouble (its state as requeue_job leaves it; that path has its own tests), and its job
    // done: the panel shows the pause and its reason
    await t.admin.query(`update fila.provider_accounts set paused_until = now() + interval '1 hour',
      pause_reason = 'RunningHub 812 CORPAPIKEY_INSUFFICIENT_FUNDS', backoff_step = 1, pauses = 1 where account = 'spare'`);
    const onSpare = (await t.fila.activeJobs()).find((j) => j.account === 'spare')!;
    await t.fila.finishJob(onSpare.job_id, 'completed', [], null);
    await expect.poll(rows).toEqual([['default', 'ok', '2 / 2'], ['old', 'disabled', '0 / 1'], ['spare', 'paused', '0 / 1']]);
    expect(await page.locator('[data-testid=account-row][data-account=spare]').textContent()).toContain('RunningHub 812 CORPAPIKEY_INSUFFICIENT_FUNDS');
    await page.screenshot({ path: path.join(artifacts, 'dashboard-accounts.png'), fullPage: true });
  });
});
