// GET /v1/jobs/:id/events: the current state first, then every change of status or position from
// the one LISTEN connection, heartbeats, the end after a terminal state (and its outputs' copies); presence while open; and
// the LISTEN connection comes back after the database drops it.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../client/types.ts';
import pino from 'pino';
import { startApiServer } from '../server.ts';
import { clearActive, fillSlots, jwtSecret, startTestApi, uid, upscalerInput, waitFor, webhookSecret, type TestApi } from '../../dev/test-support/api.ts';

let api: TestApi;
beforeAll(async () => { api = await startTestApi({ sseHeartbeatMs: 200, presenceTouchMs: 100 }); });
afterAll(async () => { await api.close(); });
beforeEach(async () => { await clearActive(api.t); });

interface Stream {
  status: number;
  jobs: Job[];
  comments: number;
  /** resolves when the server ends the stream */
  ended: Promise<void>;
  close(): void;
}

async function openStream(user: string, jobId: string, operator = false): Promise<Stream> {
  const ctl = new AbortController();
  const res = await api.call(user, `/v1/jobs/${jobId}/events`, { signal: ctl.signal, operator });
  const s: Stream = { status: res.status, jobs: [], comments: 0, ended: Promise.resolve(), close: () => ctl.abort() };
  if (res.status !== 200 || !res.body) return s;
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  s.ended = (async () => {
    let buffer = '';
    for (;;) {
      let chunk: ReadableStreamReadResult<string>;
      try {
        chunk = await reader.read();
      } catch (err) {
        if (ctl.signal.aborted) return; // we closed it
        throw err;
      }
      if (chunk.done) return;
      buffer += chunk.value;
      let i: number;
      while ((i = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        if (block.startsWith(':')) { s.comments++; continue; }
        const lines = block.split('\n');
        expect(lines).toContain('event: job');
        const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        s.jobs.push(JSON.parse(data) as Job);
      }
    }
  })();
  return s;
}

async function submitAs(user: string, presence = false): Promise<string> {
  await api.t.fila.grantCredits(user, 10, 'test');
  const res = await api.call(user, '/v1/jobs', { method: 'POST', json: { tool: 'upscaler', input: upscalerInput, presence } });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

/** The places and states a stream went through (an ETA that counts down repeats a place: one entry). */
const seen = (s: Stream) => s.jobs.map((j) => (j.status === 'queued' ? `queued#${j.position}` : j.status))
  .filter((v, i, all) => i === 0 || all[i - 1] !== v);

describe('GET /v1/jobs/:id/events', () => {
  it('streams queued -> starting -> running -> completed for a job that waited, with its moving position, then ends', async () => {
    const holders = await fillSlots(api.t);
    const userX = uid();
    const userY = uid();
    const x = await submitAs(userX);
    const y = await submitAs(userY);
    const sx = await openStream(userX, x);
    const sy = await openStream(userY, y);
    expect(sx.status).toBe(200);
    await waitFor('the first events', () => seen(sx).length >= 1 && seen(sy).length >= 1);
    expect(seen(sx)).toEqual(['queued#1']);
    expect(seen(sy)).toEqual(['queued#2']);
    expect(sx.jobs[0]?.eta).toBeGreaterThan(0);

    // a slot holder finishes (as the worker reports it): x takes the slot, y moves up
    await api.t.fila.markRunning(holders[0] as string, 'task-h0');
    await api.t.fila.finishJob(holders[0] as string, 'completed', [{ url: 'https://cdn.example.com/h0.png', type: 'png' }], null);
    await waitFor('x to start and y to move up', () => seen(sx).length >= 2 && seen(sy).length >= 2);
    await api.t.fila.markRunning(x, 'task-x');
    await waitFor('x to run', () => seen(sx).length >= 3);
    await api.t.fila.finishJob(x, 'completed', [{ url: 'https://cdn.example.com/x.png', type: 'png' }], null);
    await waitFor('x to complete', () => seen(sx).length >= 4);
    expect(seen(sx)).toEqual(['queued#1', 'starting', 'running', 'completed']);
    expect(sx.jobs.at(-1)?.outputs).toEqual([{ url: 'https://cdn.example.com/x.png', type: 'png', provider_url: 'https://cdn.example.com/x.png', copy_url: null, copy_status: 'pending' }]);
    // its output is being copied into fila's store (no worker here): the stream stays open for the
    // copy's outcome, and ends once it is known (as a worker without a store records it)
    await api.t.fila.recordOutputCopyFailure(x, 0, 'this worker has no file store', 'failed');
    await sx.ended;
    expect(sx.jobs.at(-2)?.outputs?.[0]?.copy_status).toBe('pending');
    expect(sx.jobs.at(-1)?.outputs).toEqual([{ url: 'https://cdn.example.com/x.png', type: 'png', provider_url: 'https://cdn.example.com/x.png', copy_url: null, copy_status: 'failed' }]);
    // x's end freed its slot for y: every position change and the start, each once
    await waitFor('y to start', () => seen(sy).length >= 3);
    expect(seen(sy)).toEqual(['queued#2', 'queued#1', 'starting']);
    sy.close();
    await sy.ended;
  });

  it('sends comment heartbeats, answers 404 for another user\'s job and lets operators watch any job', async () => {
    await fillSlots(api.t);
    const user = uid();
    const job = await submitAs(user);
    const stranger = await openStream(uid(), job);
    expect(stranger.status).toBe(404);
    const op = await openStream(uid(), job, true);
    expect(op.status).toBe(200);
    await waitFor('two heartbeats', () => op.comments >= 2);
    expect(seen(op)).toEqual(['queued#1']);
    op.close();
    await op.ended;
  });

  it('ends at once for a job that is already terminal', async () => {
    const user = uid();
    const job = await submitAs(user);
    await api.t.fila.finishJob(job, 'failed', null, 'NODE_ERROR: out of memory on node 12');
    const s = await openStream(user, job);
    await s.ended;
    expect(seen(s)).toEqual(['failed']);
    expect(s.jobs[0]?.error).toBe('NODE_ERROR: out of memory on node 12');
  });

  it('keeps a queued job with presence seen while its stream is open', async () => {
    await fillSlots(api.t);
    const user = uid();
    const job = await submitAs(user, true);
    await api.t.admin.query("update fila.jobs set last_seen_at = now() - interval '1 hour' where id = $1", [job]);
    const s = await openStream(user, job);
    const age = async () => (await api.t.admin.query<{ age: number }>(
      'select extract(epoch from clock_timestamp() - last_seen_at)::float8 as age from fila.jobs where id = $1', [job])).rows[0]?.age ?? Infinity;
    await waitFor('the open stream to touch the job', async () => (await age()) < 5);
    // and again later: the touches go on while the stream is open (the SQL writes at most every 2 s)
    await api.t.admin.query("update fila.jobs set last_seen_at = now() - interval '1 hour' where id = $1", [job]);
    await waitFor('a later touch', async () => (await age()) < 5);
    s.close();
    await s.ended;
  });

  it('reconnects the LISTEN connection after the database drops it, and streams go on', async () => {
    const holders = await fillSlots(api.t);
    const user = uid();
    const job = await submitAs(user);
    const s = await openStream(user, job);
    await waitFor('the first event', () => seen(s).length >= 1);
    const killed = await api.t.admin.query<{ ok: boolean }>(
      "select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = 'fila-api-listen' and datname = current_database()");
    expect(killed.rows.map((r) => r.ok)).toEqual([true]);
    await waitFor('the LISTEN connection to come back', async () => (await (await fetch(`${api.url}/healthz`)).json() as { listener: string }).listener === 'listening'
      && (await api.t.admin.query("select 1 from pg_stat_activity where application_name = 'fila-api-listen' and datname = current_database()")).rowCount === 1);
    await api.t.fila.finishJob(holders[0] as string, 'failed', null, 'provider said no');
    await waitFor('the start after the reconnect', () => seen(s).length >= 2);
    expect(seen(s)).toEqual(['queued#1', 'starting']);
    s.close();
    await s.ended;
  });

  it('puts its LISTEN connection where FILA_LISTEN_DATABASE_URL says (a direct address behind a transaction pooler)', async () => {
    const direct = new URL(api.t.url);
    direct.searchParams.set('application_name', 'fila-direct-listen');
    const other = await startApiServer({
      databaseUrl: api.t.url, listenDatabaseUrl: direct.toString(), port: 0, jwtSecret, webhookSecret,
      development: true, logger: pino({ level: 'silent' }),
    });
    try {
      const listeners = async (name: string) => (await api.t.admin.query(
        "select 1 from pg_stat_activity where application_name = $1 and datname = current_database() and query = 'listen fila_jobs'", [name])).rowCount;
      expect(await listeners('fila-direct-listen')).toBe(1);
      expect(await listeners('fila-api-listen')).toBe(1); // the first server's, not a second one
      expect(await (await fetch(`${other.url}/healthz`)).json()).toMatchObject({ listener: 'listening' });
    } finally {
      await other.close();
    }
  });
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${api.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('event streams at scale and bounded', () => {
  it('moves every watcher up with one statement per transition, not one read per stream', async () => {
    const holders = await fillSlots(api.t);
    const users = Array.from({ length: 30 }, () => uid());
    const jobs: string[] = [];
    for (const u of users) jobs.push(await submitAs(u));
    const streams = await Promise.all(users.map((u, i) => openStream(u, jobs[i]!)));
    await waitFor('every stream at its place', () => streams.every((s, i) => seen(s).at(-1) === `queued#${i + 1}`));
    const before = await metric('fila_event_stream_refreshes_total');
    await api.t.fila.finishJob(holders[0]!, 'completed', [], null);
    await waitFor('everyone one place up', () => streams.every((s, i) => seen(s).at(-1) === (i === 0 ? 'starting' : `queued#${i}`)));
    const after = await metric('fila_event_stream_refreshes_total');
    // one transition (plus at most an ETA tick or two meanwhile), whatever the number of streams
    expect(after - before).toBeGreaterThanOrEqual(1);
    expect(after - before).toBeLessThan(streams.length / 3);
    for (const s of streams) s.close();
    await Promise.all(streams.map((s) => s.ended));
  });

  it('counts a waiting job\'s ETA down on its open stream, at the same place', async () => {
    const other = await startTestApi({ etaRefreshMs: 200 });
    try {
      await fillSlots(other.t);
      const user = uid();
      await other.t.fila.grantCredits(user, 10, 'test');
      const res = await other.call(user, '/v1/jobs', { method: 'POST', json: { tool: 'upscaler', input: upscalerInput } });
      const job = (await res.json()) as Job;
      const ctl = new AbortController();
      const stream = await other.call(user, `/v1/jobs/${job.id}/events`, { signal: ctl.signal });
      const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
      const etas: number[] = [];
      let buffer = '';
      await waitFor('three ETAs', async () => {
        const chunk = await reader.read();
        buffer += chunk.value ?? '';
        for (const m of buffer.matchAll(/^data: (.*)$/gm)) {
          const j = JSON.parse(m[1]!) as Job;
          expect([j.status, j.position]).toEqual(['queued', 1]);
          etas.push(j.eta!);
        }
        buffer = buffer.slice(buffer.lastIndexOf('\n\n') + 2);
        return etas.length >= 3;
      });
      expect(etas[1]!).toBeLessThan(etas[0]!);
      expect(etas[2]!).toBeLessThan(etas[1]!);
      ctl.abort();
    } finally {
      await other.close();
    }
  });

  it('refuses a user\'s fourth stream with 429 too_many_event_streams, and opens it again once one closes', async () => {
    await fillSlots(api.t);
    const user = uid();
    const job = await submitAs(user);
    const open = [await openStream(user, job), await openStream(user, job), await openStream(user, job)];
    expect(open.map((s) => s.status)).toEqual([200, 200, 200]);
    const refused = await api.call(user, `/v1/jobs/${job}/events`);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('too_many_event_streams');
    // another user is not affected by this user's streams
    const otherUser = uid();
    const otherJob = await submitAs(otherUser);
    const theirs = await openStream(otherUser, otherJob);
    expect(theirs.status).toBe(200);
    open[0]!.close();
    await open[0]!.ended;
    const again = await waitFor('a stream to open after one closed', async () => {
      const s = await openStream(user, job);
      if (s.status === 200) return s;
      expect(s.status).toBe(429); // until the server has seen the close
      return null;
    });
    for (const s of [...open.slice(1), theirs, again]) s.close();
  });

  it('refuses streams past the process cap with 429, whoever asks', async () => {
    const capped = await startTestApi({ maxEventStreams: 2 });
    try {
      await fillSlots(capped.t);
      const ids: Array<[string, string]> = [];
      for (let i = 0; i < 3; i++) {
        const u = uid();
        await capped.t.fila.grantCredits(u, 10, 'test');
        const r = await capped.call(u, '/v1/jobs', { method: 'POST', json: { tool: 'upscaler', input: upscalerInput } });
        ids.push([u, ((await r.json()) as Job).id]);
      }
      const ctls = ids.map(() => new AbortController());
      const statuses: number[] = [];
      for (const [i, [u, j]] of ids.entries()) statuses.push((await capped.call(u, `/v1/jobs/${j}/events`, { signal: ctls[i]!.signal })).status);
      expect(statuses).toEqual([200, 200, 429]);
      for (const c of ctls) c.abort();
    } finally {
      await capped.close();
    }
  });
});
