// GET /v1/me/jobs over real HTTP, and JobManager.listJobs: the caller's own jobs only (an
// operator's token too), newest first, page by page, filtered; a malformed query changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobManager } from '../client/index.ts';
import { clearActive, snapshot, startTestApi, uid, upscalerInput, type TestApi } from '../../dev/test-support/api.ts';

let api: TestApi;
beforeAll(async () => { api = await startTestApi(); });
afterAll(async () => { await api.close(); });

interface Page { jobs: Array<{ id: string; user_id: string; tool: string; status: string; refunded_credits: number | null; credit_cost: number }>; next_cursor: string | null }

async function jobsOf(user: string, n: number): Promise<string[]> {
  await api.t.fila.grantCredits(user, 100, 'test');
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const { job } = await api.t.fila.submitJob({
      userId: user, tool: i % 2 ? 'video_upscaler' : 'upscaler',
      input: i % 2 ? { video_url: `https://files.example/v${i}.mp4` } : upscalerInput,
    });
    await api.t.fila.cancelJob(job.id, user);
    ids.push(job.id);
  }
  return ids;
}

describe('GET /v1/me/jobs', () => {
  it('pages through the caller\'s own jobs newest first and never shows another user\'s, not even to an operator', async () => {
    const me = uid();
    const other = uid();
    const mine = await jobsOf(me, 5);
    const theirs = await jobsOf(other, 3);
    const seen: Page['jobs'] = [];
    let cursor: string | null = null;
    do {
      const res = await api.call(me, `/v1/me/jobs?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as Page;
      seen.push(...page.jobs);
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen.map((j) => j.id)).toEqual([...mine].reverse());
    expect(seen.every((j) => j.refunded_credits === j.credit_cost)).toBe(true);
    // the other user's newest job as a cursor: an empty page, nothing of theirs
    const probe = (await (await api.call(me, `/v1/me/jobs?cursor=${theirs.at(-1)}`)).json()) as Page;
    expect(probe).toEqual({ jobs: [], next_cursor: null });
    // an operator is a user here too: their own jobs (none), not everyone's
    const op = (await (await api.call(other, '/v1/me/jobs', { operator: true })).json()) as Page;
    expect(op.jobs.map((j) => j.id)).toEqual([...theirs].reverse());
    const nobody = (await (await api.call(uid(), '/v1/me/jobs', { operator: true })).json()) as Page;
    expect(nobody.jobs).toEqual([]);
  });

  it('filters by tool and by status', async () => {
    const me = uid();
    await jobsOf(me, 4);
    await api.t.fila.grantCredits(me, 10, 'test');
    const { job: active } = await api.t.fila.submitJob({ userId: me, tool: 'veste_ai', input: { person_image_url: 'https://files.example/p.png', garment_image_url: 'https://files.example/g.png' } });
    const videos = (await (await api.call(me, '/v1/me/jobs?tool=video_upscaler')).json()) as Page;
    expect(videos.jobs.map((j) => j.tool)).toEqual(['video_upscaler', 'video_upscaler']);
    const live = (await (await api.call(me, `/v1/me/jobs?status=${active.status}`)).json()) as Page;
    expect(live.jobs.map((j) => [j.id, j.refunded_credits])).toEqual([[active.id, null]]);
    await clearActive(api.t);
  });

  it('answers 400 for a malformed query and 401 without a token, changing nothing', async () => {
    const before = await snapshot(api.t);
    for (const q of ['?limit=0', '?limit=101', '?limit=x', '?tool=photoshop', '?status=lost', '?cursor=not-a-uuid']) {
      const res = await api.call(uid(), `/v1/me/jobs${q}`);
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_input');
    }
    expect((await api.call(null, '/v1/me/jobs')).status).toBe(401);
    expect(await snapshot(api.t)).toEqual(before);
  });

  it('is what JobManager.listJobs reads', async () => {
    const me = uid();
    const mine = await jobsOf(me, 3);
    const jm = new JobManager({ baseUrl: api.url, getToken: () => api.token(me) });
    const first = await jm.listJobs({ limit: 2 });
    expect(first.jobs.map((j) => j.id)).toEqual([mine[2], mine[1]]);
    const second = await jm.listJobs({ limit: 2, cursor: first.next_cursor! });
    expect([second.jobs.map((j) => j.id), second.next_cursor]).toEqual([[mine[0]], null]);
    expect((await jm.listJobs({ tool: 'video_upscaler' })).jobs.map((j) => j.id)).toEqual([mine[1]]);
  });
});
