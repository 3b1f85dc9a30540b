// The reference tool pages in headless Chromium against the whole system (API, worker, fake
// RunningHub, real uploads): a whole job on each tool, the refusal of a second job with a link to
// the first, a failure with the provider's message and its refund, a cancel, a reload that keeps
// following the same job. What the page shows is checked against the database.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../../dev/test-support/browser.ts';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { waitFor } from '../../dev/test-support/wait.ts';
import { signToken } from '../../api/auth.ts';
// the system (and with it @hono/zod-openapi's zod extension) before the tool registry's schemas:
// zod 4 gives a schema its methods when it is built, so a schema built first has no .openapi()
import { startSystem, type RunningSystem } from '../system.ts';
import { toolNames, type ToolName } from '../../common/tools/index.ts';
import { repoRoot } from '../config.ts';

let t: TestDatabase;
let system: RunningSystem;
let browser: Browser;
const jwtSecret = randomBytes(16).toString('hex');
const dataDir = mkdtempSync(path.join(tmpdir(), 'fila-tools-'));
const artifacts = path.join(repoRoot, '.artifacts');
const pageErrors: string[] = [];

// the smallest files the upload checks accept: a 1×1 PNG and an MP4's first box
const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const mp4 = Buffer.concat([Buffer.from([0, 0, 0, 0x20]), Buffer.from('ftypisom'), Buffer.alloc(20)]);

beforeAll(async () => {
  t = await createTestDatabase();
  system = await startSystem({
    databaseUrl: t.url, dataDir, persistent: false, port: 0, development: true,
    jwtSecret, webhookSecret: randomBytes(16).toString('hex'), fakeDefaultMs: 300,
  });
  browser = await launchBrowser();
  mkdirSync(artifacts, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await system?.stop();
  await t?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function user(credits = 30): Promise<{ id: string; token: string }> {
  const id = randomUUID();
  await t.fila.grantCredits(id, credits, 'tool pages test');
  return { id, token: await signToken(jwtSecret, id) };
}

/** A phone-sized page of `tool`, signed in through the URL fragment as `npm start` prints it. */
async function open(tool: string, token: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  // a script error fails the test with its message, not a timeout
  page.on('pageerror', (err) => { pageErrors.push(`${tool}: ${err.message}`); });
  // (a refused request is logged by the browser itself as a failed resource: that is the page's business)
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(`${tool}: ${m.text()}`); });
  await page.goto(`${system.apiUrl}/tools/${tool}#token=${token}`);
  await waitFor('the page to be ready', async () =>
    (await page.getByTestId('form-error').textContent()) ? Promise.reject(new Error(`page: ${await page.getByTestId('form-error').textContent()}`)) :
    pageErrors.length > 0 ? Promise.reject(new Error(pageErrors.join(' | ')))
      : (await page.locator('body').getAttribute('data-ready')) === 'true', 30_000);
  return page;
}

/** Fill the form from the tool's own fields: files, then the selects a tool requires. */
async function fill(page: Page, tool: ToolName, directive = ''): Promise<void> {
  for (const input of await page.locator('input[type=file]').all()) {
    const video = (await input.getAttribute('accept'))!.startsWith('video/');
    await input.setInputFiles(video
      ? { name: 'clip.mp4', mimeType: 'video/mp4', buffer: mp4 }
      : { name: 'photo.png', mimeType: 'image/png', buffer: png });
  }
  if (tool === 'upscaler') {
    await page.getByTestId('field-category').selectOption('produto');
    await page.getByTestId('field-version').selectOption('pro');
    await page.getByTestId('field-framing_mode').selectOption('longe');
  }
  if (directive) await page.getByTestId('fake-outcome').fill(directive);
}

async function waitStatus(page: Page, want: string): Promise<void> {
  await waitFor(`status ${want} (page errors: ${pageErrors.join(' | ') || 'none'})`, async () => {
    if (pageErrors.length > 0) throw new Error(pageErrors.join(' | '));
    // a refused submit shows its message under the form: fail with it, not with a timeout
    const refused = await page.getByTestId('form-error').textContent();
    if (refused) throw new Error(`the submit was refused: ${refused}`);
    return (await page.getByTestId('status').getAttribute('data-status')) === want;
  }, 30_000);
}

describe('tool pages', () => {
  it('lists every tool of the registry and serves each page', async () => {
    const page = await browser.newPage();
    await page.goto(`${system.apiUrl}/tools`);
    const links = await page.getByTestId('tool-link').evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).pathname));
    expect(links).toEqual(toolNames.map((n) => `/tools/${n}`));
    await page.close();
  });

  for (const tool of toolNames) {
    it(`runs a whole ${tool} job: upload with progress, live status, outputs shown, in the history, debited once`, async () => {
      const u = await user();
      const page = await open(tool, u.token);
      expect(page.url()).not.toContain('token='); // the fragment is taken off the address bar
      await fill(page, tool);
      await page.getByTestId('submit').click();
      await waitStatus(page, 'completed');
      const jobId = (await page.getByTestId('job-id').textContent())!;
      const { json: job } = await t.fila.job(jobId);
      expect([job.user_id, job.tool, job.status]).toEqual([u.id, tool, 'completed']);
      if (tool === 'upscaler') expect(job.input).toMatchObject({ category: 'produto', version: 'pro', framing_mode: 'longe' });
      // every file went through the upload, and its bar reached the end
      for (const bar of await page.locator('progress.upload').all()) expect(await bar.getAttribute('value')).toBe('100');
      expect(Object.values(job.input).filter((v) => typeof v === 'string' && v.includes('/uploads/')).length)
        .toBe(await page.locator('input[type=file]').count());
      // the outputs, previewed and downloadable: fila's copies once they have landed, pushed to the
      // open page by its event stream (no reload)
      const copied = await waitFor('the copies to land', async () => {
        const { json } = await t.fila.job(jobId);
        return json.outputs!.every((o) => o.copy_status === 'copied') ? json.outputs! : null;
      });
      const hrefs = () => page.getByTestId('output').locator('a[download]').evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).href));
      await waitFor('the page to show the copies', async () => JSON.stringify(await hrefs()) === JSON.stringify(copied.map((o) => o.copy_url)));
      expect(copied).toHaveLength(job.outputs!.length);
      expect(await page.getByTestId('output').locator(tool === 'video_upscaler' ? 'video' : 'img').count()).toBe(job.outputs!.length);
      await waitFor('the history to list it', async () => (await page.getByTestId('history-item').first().getAttribute('data-job')) === jobId);
      await waitFor('the balance to show the debit', async () =>
        (await page.getByTestId('credits').getAttribute('data-balance')) === String(30 - job.credit_cost));
      expect(await t.fila.creditBalance(u.id)).toBe(30 - job.credit_cost);
      if (tool === 'upscaler') await page.screenshot({ path: path.join(artifacts, 'tool-page-upscaler.png'), fullPage: true });
      await page.close();
    });
  }

  it('shows the provider\'s own message when a job fails, and the refund', async () => {
    const u = await user();
    const page = await open('pose_changer', u.token);
    const message = 'Nenhuma pose detectada na imagem de pose (OpenPose: 0 pessoas).';
    await fill(page, 'pose_changer', `fail:${message}`);
    await page.getByTestId('submit').click();
    await waitStatus(page, 'failed');
    // RunningHub's exception_message word for word, with the node it names (the fake's "FakeNode")
    const verdict = `${message} (FakeNode)`;
    expect(await page.getByTestId('job-error').textContent()).toBe(verdict);
    const jobId = (await page.getByTestId('job-id').textContent())!;
    expect((await t.fila.job(jobId)).json.error).toBe(verdict);
    await waitFor('the refund on the page', async () => (await page.getByTestId('refund').textContent())?.includes('3 créditos devolvidos'));
    await waitFor('the balance back to 30', async () => (await page.getByTestId('credits').getAttribute('data-balance')) === '30');
    expect(await t.fila.creditBalance(u.id)).toBe(30);
    const item = page.locator(`[data-testid="history-item"][data-job="${jobId}"]`);
    expect(await item.locator('.error').textContent()).toBe(verdict);
    expect(await item.getByTestId('history-refund').textContent()).toContain('3');
    await page.close();
  });

  it('cancels a running job: canceled, refunded, and the form is free again', async () => {
    const u = await user();
    const page = await open('veste_ai', u.token);
    await fill(page, 'veste_ai', 'hang');
    await page.getByTestId('submit').click();
    await waitStatus(page, 'running');
    await page.getByTestId('cancel').click();
    await waitStatus(page, 'canceled');
    const jobId = (await page.getByTestId('job-id').textContent())!;
    expect((await t.fila.job(jobId)).json.status).toBe('canceled');
    await waitFor('the balance back to 30', async () => (await page.getByTestId('credits').getAttribute('data-balance')) === '30');
    expect(await t.fila.activeJob(u.id)).toBeNull();
    expect(await page.getByTestId('submit').isDisabled()).toBe(false);
    await page.close();
  });

  it('refuses a second job with the exact message and a link to the one running, and creates nothing', async () => {
    const u = await user();
    const first = await open('veste_ai', u.token);
    await fill(first, 'veste_ai', 'hang');
    await first.getByTestId('submit').click();
    await waitStatus(first, 'running');
    const runningId = (await first.getByTestId('job-id').textContent())!;

    // another tool's page: told at once, with a link to the running job's page
    const second = await open('upscaler', u.token);
    expect(await second.getByTestId('active-elsewhere').isVisible()).toBe(true);
    expect(await second.getByTestId('active-link').getAttribute('href')).toBe('/tools/veste_ai');
    // submitting anyway: the server's refusal, word for word; no job, no debit
    const jobsBefore = (await t.admin.query('select count(*)::int as n from fila.jobs where user_id = $1', [u.id])).rows[0].n as number;
    const balanceBefore = await t.fila.creditBalance(u.id);
    await fill(second, 'upscaler');
    await second.getByTestId('submit').click();
    await waitFor('the refusal', async () => (await second.getByTestId('form-error').textContent()) !== '');
    expect(await second.getByTestId('form-error').textContent()).toBe('Você já tem um processamento em andamento. Aguarde finalizar.');
    expect(await second.getByTestId('form-error').getAttribute('data-code')).toBe('user_has_active_job');
    expect((await t.admin.query('select count(*)::int as n from fila.jobs where user_id = $1', [u.id])).rows[0].n).toBe(jobsBefore);
    expect(await t.fila.creditBalance(u.id)).toBe(balanceBefore);

    // a reload of the first page follows the same job
    await first.reload();
    await first.waitForSelector('body[data-ready="true"]');
    await waitStatus(first, 'running');
    expect(await first.getByTestId('job-id').textContent()).toBe(runningId);
    await first.getByTestId('cancel').click();
    await waitStatus(first, 'canceled');
    await first.close();
    await second.close();
  });

  it('shows the place in line and an ETA while queued', async () => {
    // fill every slot with jobs that never finish, so the page's job waits
    for (const j of await t.fila.activeJobs()) await t.fila.cancelJob(j.job_id, null);
    const holders = [];
    for (let i = 0; i < 3; i++) {
      const h = await user();
      holders.push(h.id);
      const { job } = await t.fila.submitJob({ userId: h.id, tool: 'upscaler', input: { image_url: 'https://files.example/h.png#fake=hang', category: 'pessoas' } });
      await waitFor('a holder to run', async () => (await t.fila.job(job.id)).json.status !== 'queued');
    }
    const u = await user();
    const page = await open('video_upscaler', u.token);
    await fill(page, 'video_upscaler');
    await page.getByTestId('submit').click();
    await waitStatus(page, 'queued');
    const jobId = (await page.getByTestId('job-id').textContent())!;
    const { json: job } = await t.fila.job(jobId);
    expect(await page.getByTestId('where').getAttribute('data-position')).toBe(String(job.position));
    expect(await page.getByTestId('where').textContent()).toMatch(/^1º na fila · começa (em cerca de \d+|a qualquer momento)/);
    for (const h of holders) {
      const active = await t.fila.activeJob(h);
      if (active) await t.fila.cancelJob(active.job.id, null);
    }
    await waitStatus(page, 'completed');
    await page.close();
  });
});
