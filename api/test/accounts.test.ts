// Provider accounts through the HTTP API: the job JSON names its account, /metrics shows each
// account's slots, pause and refusals as the database has them.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../dev/test-support/api.ts';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
  await api.t.admin.query(`update fila.settings set max_slots = 10, backoff_base = '1 hour', backoff_max = '2 hours'`);
  await api.t.fila.setProviderAccount('default', 1, false);
  await api.t.fila.setProviderAccount('main', 2);
  await api.t.fila.setProviderAccount('spare', 1);
});
afterAll(async () => { await api?.close(); });

async function submit(): Promise<{ user: string; id: string; account: string | null; status: string }> {
  const user = randomUUID();
  await api.t.fila.grantCredits(user, 10, 'test');
  const res = await api.call(user, '/v1/jobs', { method: 'POST', json: { tool: 'upscaler', input: { image_url: `https://files.example/${user}.png`, category: 'pessoas' } } });
  expect(res.status).toBe(201);
  return { user, ...(await res.json() as { id: string; account: string | null; status: string }) };
}

/** The value of one metric line, e.g. fila_account_slots_used{account="main"}. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('provider accounts over HTTP', () => {
  it('the job JSON names the account it started on, and null while it waits', async () => {
    const jobs = [await submit(), await submit(), await submit(), await submit()];
    expect(jobs.map((j) => [j.status, j.account])).toEqual([['starting', 'main'], ['starting', 'main'], ['starting', 'spare'], ['queued', null]]);
    const again = await api.call(jobs[2]!.user, `/v1/jobs/${jobs[2]!.id}`);
    expect((await again.json() as { account: string }).account).toBe('spare');
  });

  it('/metrics shows each account\'s slots, use, pause and refusals; a disabled account shows as such', async () => {
    const spareJob = (await api.t.fila.activeJobs()).find((j) => j.account === 'spare')!;
    await api.t.fila.requeueJob(spareJob.job_id, 'RunningHub 812 CORPAPIKEY_INSUFFICIENT_FUNDS');
    const text = await (await fetch(`${api.url}/metrics`)).text();
    const expected: Record<string, number> = {
      'fila_account_slots_total{account="main"}': 2, 'fila_account_slots_used{account="main"}': 2,
      'fila_account_slots_total{account="spare"}': 1, 'fila_account_slots_used{account="spare"}': 0,
      'fila_account_paused{account="spare"}': 1, 'fila_account_paused{account="main"}': 0,
      'fila_account_backoff_step{account="spare"}': 1,
      'fila_account_pauses_total{account="spare"}': 1, 'fila_account_refusals_total{account="spare"}': 1,
      'fila_account_refusals_total{account="main"}': 0,
      'fila_account_enabled{account="default"}': 0, 'fila_account_enabled{account="main"}': 1,
      // the global view: the least of the cap (10) and the enabled accounts' slots (2 + 1)
      fila_slots_total: 3,
    };
    for (const [series, v] of Object.entries(expected)) expect(value(text, series), series).toBe(v);
    expect(text).toContain('# TYPE fila_account_refusals_total counter');
  });
});
