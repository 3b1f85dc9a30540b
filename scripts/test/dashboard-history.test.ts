// The dashboard's history charts and job page in headless Chromium, against the API over a real
// database. A scripted history (real jobs through the SQL functions, their events moved into the
// past) is drawn; the test reads the drawn SVG back — each point's value from its coordinates and
// the chart's scale — and compares it bucket by bucket with fila.activity_history, then watches a
// new refund appear without a reload. The job page shows one job's timeline, input, real error,
// ledger lines and webhooks, with whole ids that copy. (No worker runs here: the test moves the
// jobs itself, so the history is exactly what it scripted.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser } from '../../dev/test-support/browser.ts';
import { startTestApi, type TestApi } from '../../dev/test-support/api.ts';
import { fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';
import type { ActivityBucket, FilaDb, Job } from '../../db/fila.ts';
import path from 'node:path';
import { repoRoot } from '../config.ts';

let api: TestApi;
let fila: FilaDb;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

beforeAll(async () => {
  api = await startTestApi();
  fila = api.t.fila;
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: api.url });
  page = await context.newPage();
});
afterAll(async () => {
  await browser?.close();
  await api?.close();
});

/** Every job to an end (the test plays the worker): running ones complete, queued ones are canceled. */
async function drain(): Promise<void> {
  for (let active = await fila.activeJobs(); active.length > 0; active = await fila.activeJobs()) {
    for (const j of active) {
      if (j.status === 'queued') await fila.cancelJob(j.job_id, null);
      else await fila.finishJob(j.job_id, 'completed', [{ url: 'https://out.test/x.png', type: 'png' }], null);
    }
  }
}

/** Moves everything that has happened `minutes` further into the past. (The ledger is append-only
 *  by trigger: this test's own session, as superuser, turns triggers off to rewrite its history.) */
async function age(minutes: number): Promise<void> {
  const c = await api.t.admin.connect();
  try {
    await c.query('begin');
    await c.query('set local session_replication_role = replica');
    for (const [table, column] of [['job_events', 'at'], ['jobs', 'created_at'], ['credit_entries', 'created_at']]) {
      await c.query(`update fila.${table} set ${column} = ${column} - make_interval(mins => $1)`, [minutes]);
    }
    await c.query('commit');
  } catch (err) {
    await c.query('rollback');
    throw err;
  } finally {
    c.release();
  }
}

interface Drawn {
  first: number; bucketMs: number; yMax: number; plot: number[];
  lines: { series: string; points: [number, number][] }[];
  dots: { series: string; x: number; y: number }[];
  bars: { series: string; bucket: number; y: number; height: number }[];
}

async function drawn(id: string): Promise<Drawn> {
  return page.getByTestId(`chart-${id}`).evaluate((svg) => ({
    first: Date.parse(svg.getAttribute('data-first')!),
    bucketMs: Number(svg.getAttribute('data-bucket-seconds')) * 1000,
    yMax: Number(svg.getAttribute('data-y-max')),
    plot: svg.getAttribute('data-plot')!.split(' ').map(Number),
    lines: [...svg.querySelectorAll('polyline')].map((l) => ({
      series: l.getAttribute('data-series')!,
      points: l.getAttribute('points')!.split(' ').map((p) => p.split(',').map(Number) as [number, number]),
    })),
    dots: [...svg.querySelectorAll('circle')].map((c) => ({ series: c.getAttribute('data-series')!, x: Number(c.getAttribute('cx')), y: Number(c.getAttribute('cy')) })),
    bars: [...svg.querySelectorAll('rect')].map((r) => ({
      series: r.getAttribute('data-series')!, bucket: Number(r.getAttribute('data-bucket')),
      y: Number(r.getAttribute('y')), height: Number(r.getAttribute('height')),
    })),
  }));
}

/** The values a chart shows, read from its geometry: series -> bucket start (ms) -> value. */
function values(d: Drawn, buckets: number): Map<string, Map<number, number>> {
  const [left, top, width, height] = d.plot as [number, number, number, number];
  const step = width / buckets;
  const out = new Map<string, Map<number, number>>();
  const put = (series: string, bucket: number, v: number) => {
    if (!out.has(series)) out.set(series, new Map());
    out.get(series)!.set(d.first + bucket * d.bucketMs, v);
  };
  const fromY = (y: number) => ((top + height - y) / height) * d.yMax;
  for (const l of d.lines) for (const [x, y] of l.points) put(l.series, Math.round((x - left) / step - 0.5), fromY(y));
  for (const p of d.dots) put(p.series, Math.round((p.x - left) / step - 0.5), fromY(p.y));
  for (const b of d.bars) put(b.series, b.bucket, (b.height / height) * d.yMax);
  return out;
}

type Key = keyof Omit<ActivityBucket, 'bucket_start'>;

/** Every bucket of the chart against the SQL's: a drawn value for each non-zero (non-null) one, equal to it. */
async function expectChartMatches(id: string, keys: Key[], sql: ActivityBucket[], zeroDrawn: boolean): Promise<void> {
  const d = await drawn(id);
  const buckets = Number(await page.getByTestId(`chart-${id}`).getAttribute('data-buckets'));
  const got = values(d, buckets);
  const drawnStarts = new Set(Array.from({ length: buckets }, (_, i) => d.first + i * d.bucketMs));
  const common = sql.filter((b) => drawnStarts.has(b.bucket_start.getTime()));
  const tolerance = (0.006 * d.yMax) / d.plot[3]!;
  expect(common.length).toBeGreaterThan(170); // 3 h of minutes, give or take the minute that turned
  for (const key of keys) {
    for (const b of common) {
      const want = b[key];
      const have = got.get(key)?.get(b.bucket_start.getTime());
      if (want === null || (want === 0 && !zeroDrawn)) expect(have, `${id} ${key} at ${b.bucket_start.toISOString()}`).toBeUndefined();
      // coordinates are drawn to 1/100 px: the value is exact to the scale of that
      else expect(Math.abs(have! - want), `${id} ${key} at ${b.bucket_start.toISOString()}: drew ${have}, SQL ${want}`).toBeLessThanOrEqual(tolerance);
    }
  }
}

describe('dashboard history charts', () => {
  it('draws queue depth, slots in use, waits p50/p95, outcomes and refunds exactly as fila.activity_history computes them', async () => {
    // six phases ten minutes apart: jobs submitted, some started, completed, failed or canceled
    for (let phase = 0; phase < 6; phase++) {
      const users = await Promise.all(Array.from({ length: 2 + phase }, () => fundedUser(fila, 20)));
      for (const u of users) await fila.submitJob({ userId: u, tool: 'upscaler', input: upscaleInput(phase) });
      const holding = (await fila.activeJobs()).filter((j) => j.status === 'starting');
      if (holding[0]) {
        await fila.markRunning(holding[0].job_id, `p${phase}`);
        await fila.finishJob(holding[0].job_id, 'completed', [{ url: 'https://out.test/x.png', type: 'png' }], null);
      }
      if (holding[1] && phase % 2 === 0) await fila.finishJob(holding[1].job_id, 'failed', null, 'CUDA out of memory');
      const queued = (await fila.activeJobs()).filter((j) => j.status === 'queued');
      if (queued[0] && phase % 3 === 1) await fila.cancelJob(queued[0].job_id, null);
      await age(10);
    }

    await page.goto(api.url);
    await page.getByTestId('token-input').fill(await api.token(crypto.randomUUID(), { operator: true }));
    await page.getByTestId('connect').click();
    await expect.poll(() => page.getByTestId('live').textContent()).toBe('live');
    await page.evaluate(() => { (window as unknown as { marker: string }).marker = 'no reload'; });
    await page.getByTestId('chart-finished').waitFor();

    const sql = await fila.activityHistory(3, 60);
    // the scripted history is not flat
    expect(Math.max(...sql.map((b) => b.queue_depth))).toBeGreaterThan(0);
    expect(sql.reduce((n, b) => n + b.completed, 0)).toBe(6);
    expect(sql.reduce((n, b) => n + b.failed, 0)).toBe(3);
    expect(sql.reduce((n, b) => n + b.refunds, 0)).toBeGreaterThan(3);
    expect(sql.filter((b) => b.wait_p95_seconds !== null).length).toBeGreaterThan(3);

    // levels are drawn in every bucket (zero too); counts as bars where there is something
    await expectChartMatches('queue_depth', ['queue_depth'], sql, true);
    await expectChartMatches('slots_used', ['slots_used'], sql, true);
    await expectChartMatches('wait', ['wait_p50_seconds', 'wait_p95_seconds'], sql, true);
    await expectChartMatches('finished', ['completed', 'failed', 'canceled'], sql, false);
    await expectChartMatches('refunds', ['refunds'], sql, false);
    // the slots there are, as a reference line
    expect(await page.getByTestId('chart-slots_used').locator('line.reference').getAttribute('data-reference')).toBe('3');
    await page.locator('#charts').screenshot({ path: path.join(repoRoot, '.artifacts', 'dashboard-history.png') });
  });

  it('draws a new refund without a reload', async () => {
    const refundsDrawn = async () => {
      const d = await drawn('refunds');
      return d.bars.reduce((n, b) => n + Math.round((b.height / d.plot[3]!) * d.yMax), 0);
    };
    const before = await refundsDrawn();
    const u = await fundedUser(fila, 20);
    const { job } = await fila.submitJob({ userId: u, tool: 'upscaler', input: upscaleInput(99) });
    await fila.cancelJob(job.id, null);
    await expect.poll(refundsDrawn, { timeout: 15_000 }).toBe(before + 1);
    const sql = await fila.activityHistory(3, 60);
    expect(sql.reduce((n, b) => n + b.refunds, 0)).toBe(before + 1);
    expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('no reload');
  });
});

describe('dashboard job page', () => {
  let job: Job;
  const error = 'CUDA out of memory. Tried to allocate 2.00 GiB (KSampler)';
  const payload = { event: 'TASK_END', taskId: 'task-page-1', eventData: '{"code":805}' };

  it('opens from the board on a click: whole id, timeline, input, the real error, ledger lines, webhooks', async () => {
    await drain();
    const u = await fundedUser(fila, 20);
    job = (await fila.submitJob({ userId: u, tool: 'upscaler', input: { ...upscaleInput(7), version: 'pro' } })).job;
    await fila.markRunning(job.id, 'task-page-1');
    await fila.receiveWebhook(job.id, 'runninghub', payload);
    await fila.finishJob(job.id, 'failed', null, error);

    const link = page.locator(`[data-testid=recent-row][data-job="${job.id}"] a[data-job-link]`);
    await expect.poll(() => link.count(), { timeout: 15_000 }).toBe(1);
    expect(await link.textContent()).toBe(job.id);
    await link.click();
    const facts = page.getByTestId('job-facts');
    await facts.waitFor();
    expect(await page.locator('#board').isVisible()).toBe(false);
    expect(page.url()).toContain(`#job=${job.id}`);
    expect(await facts.getAttribute('data-status')).toBe('failed');
    expect(await facts.getByTestId('id').allTextContents()).toEqual([job.id, u, 'task-page-1']);

    const detail = await fila.jobDetail(job.id);
    expect(await page.getByTestId('job-error').textContent()).toBe(error);
    expect(JSON.parse((await page.getByTestId('job-input').textContent())!)).toEqual(detail.job.input);
    const timeline = await page.getByTestId('timeline-row').evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-from'), r.getAttribute('data-to')]));
    expect(timeline).toEqual(detail.timeline.map((e) => [e.from_status ?? '', e.to_status]));
    expect(timeline).toEqual([['', 'queued'], ['queued', 'starting'], ['starting', 'running'], ['running', 'failed']]);
    const timelineReasons = await page.getByTestId('timeline-row').evaluateAll((rows) => rows.map((r) => r.lastElementChild!.textContent));
    expect(timelineReasons).toEqual(detail.timeline.map((e) => e.reason));
    const ledger = await page.getByTestId('ledger-row').evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-kind'), Number(r.getAttribute('data-amount'))]));
    expect(ledger).toEqual([['debit', -job.credit_cost], ['refund', job.credit_cost]]);
    expect(await page.getByTestId('webhook-row').count()).toBe(1);
    expect(JSON.parse((await page.getByTestId('webhook-row').locator('pre').textContent())!)).toEqual(payload);
    await page.screenshot({ path: path.join(repoRoot, '.artifacts', 'dashboard-job-page.png'), fullPage: true });
  });

  it('copies the whole id', async () => {
    await page.getByTestId('job-facts').locator('button.copy').first().click();
    await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe(job.id);
  });

  it('goes back to the board, where no id is cut short', async () => {
    await page.getByTestId('job-back').click();
    await page.locator('#board').waitFor({ state: 'visible' });
    expect(await page.getByTestId('job-page').isVisible()).toBe(false);
    const ids = await page.locator('#board [data-testid=id], #board [data-testid=job-link]').allTextContents();
    expect(ids.length).toBeGreaterThan(5);
    expect(ids.filter((id) => !uuid.test(id))).toEqual([]);
  });

  it('answers the job route with 400, 404 and 403 as the contract says', async () => {
    const bad = await api.call(crypto.randomUUID(), '/dashboard/jobs/9530ad6c', { operator: true });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid_input');
    const missing = await api.call(crypto.randomUUID(), `/dashboard/jobs/${crypto.randomUUID()}`, { operator: true });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('job_not_found');
    expect((await api.call(crypto.randomUUID(), `/dashboard/jobs/${job.id}`)).status).toBe(403);
    expect((await api.call(null, `/dashboard/jobs/${job.id}`)).status).toBe(401);
  });
});
