// `npx fila doctor`: what it can verify about the RunningHub set-up, against the fake over HTTP and
// the real API on loopback.
// the harness first: it loads the API, whose zod extension the tool schemas must be created after
import { startHarness, type Harness } from '../../dev/test-support/harness.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadToolsConfig } from '../../common/tools/index.ts';
import { runDoctor } from '../doctor.ts';
import { RunningHubClient } from '../runninghub/client.ts';

let h: Harness;
beforeAll(async () => { h = await startHarness(); });
afterAll(async () => { await h?.stop(); });

describe('fila doctor', () => {
  it('passes a good key, lists each tool\'s workflows, finds the live API behind the webhook URL, and warns that loopback is unreachable for RunningHub', async () => {
    const api = await h.startApi();
    const good = new RunningHubClient({ baseUrl: h.fake.url, apiKey: h.apiKey });
    const checks = await runDoctor({ runninghub: good, tools: loadToolsConfig(), publicUrl: api.url });
    const by = Object.fromEntries(checks.map((c) => [c.check, c]));
    expect(by['API key and account']).toMatchObject({ status: 'ok', detail: expect.stringMatching(/running tasks 0, coins 99879/) });
    expect(by['tool upscaler']).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^16 workflow id\(s\) configured/) });
    expect(by['tool video_upscaler']?.status).toBe('ok');
    expect(by['RUNNINGHUB_BASE_URL']?.status).toBe('ok'); // the local fake
    expect(by['webhook URL']).toMatchObject({ status: 'warn', detail: expect.stringMatching(/answers HTTP 401; RunningHub cannot reach a plain http address/) });
  });

  it('fails a key RunningHub refuses, saying what to check', async () => {
    const bad = new RunningHubClient({ baseUrl: h.fake.url, apiKey: '' });
    const checks = await runDoctor({ runninghub: bad, tools: loadToolsConfig(), publicUrl: null });
    expect(checks.find((c) => c.check === 'API key and account')).toMatchObject({
      status: 'fail', detail: 'RunningHub 802 APIKEY_UNAUTHORIZED: the API key is not authorized: check RUNNINGHUB_API_KEY' });
  });

  it('fails the webhook URL when nothing answers there, and when it is not set', async () => {
    const client = new RunningHubClient({ baseUrl: h.fake.url, apiKey: h.apiKey });
    const closed = await runDoctor({ runninghub: client, tools: loadToolsConfig(), publicUrl: 'http://127.0.0.1:1' });
    expect(closed.find((c) => c.check === 'webhook URL')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/does not answer/) });
    const unset = await runDoctor({ runninghub: client, tools: loadToolsConfig(), publicUrl: null });
    expect(unset.find((c) => c.check === 'webhook URL')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/FILA_PUBLIC_URL is not set/) });
  });
});
