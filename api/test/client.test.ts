// JobManager in Node against the running server: create (with uploads), subscribe to completion,
// cancel while queued, the second job refused with the exact message, the polling fallback when
// the stream is really cut, a failed upload leaves no job, a double click makes one job, resume.
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FilaApiError, JobManager, type Job } from '../client/index.ts';
import { clearActive, fillSlots, snapshot, startTestApi, uid, upscalerInput, waitFor, type TestApi } from '../../dev/test-support/api.ts';

let api: TestApi;
beforeAll(async () => { api = await startTestApi({ sseHeartbeatMs: 1000 }); });
afterAll(async () => { await api.close(); });
beforeEach(async () => { await clearActive(api.t); });

const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4]);

async function manager(user: string, opts: Partial<ConstructorParameters<typeof JobManager>[0]> = {}): Promise<JobManager> {
  const token = await api.token(user);
  return new JobManager({ baseUrl: api.url, getToken: () => token, presence: false, pollIntervalMs: 100, ...opts });
}

async function funded(amount = 20): Promise<string> {
  const user = uid();
  await api.t.fila.grantCredits(user, amount, 'test');
  return user;
}

function collect(jm: JobManager, jobId: string) {
  const updates: Job[] = [];
  const transports: string[] = [];
  const errors: FilaApiError[] = [];
  const unsubscribe = jm.subscribe(jobId, (j) => updates.push(j), {
    onTransport: (m) => transports.push(m), onError: (e) => errors.push(e),
  });
  const statuses = () => updates.map((j) => (j.status === 'queued' ? `queued#${j.position}` : j.status));
  return { updates, transports, errors, unsubscribe, statuses };
}

async function userJobs(user: string): Promise<number> {
  return (await api.t.admin.query<{ n: number }>('select count(*)::int as n from fila.jobs where user_id = $1', [user])).rows[0]?.n ?? -1;
}

/** A TCP proxy in front of the API that can really cut event streams: it destroys their sockets. */
async function startCuttingProxy(target: string) {
  const { hostname, port } = new URL(target);
  const streams = new Set<net.Socket>();
  const sockets = new Set<net.Socket>();
  const stats = { cut: false, refusedStreams: 0, polls: 0 };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), hostname);
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => { client.destroy(); upstream.destroy(); };
    client.on('error', drop); // a cut is expected here: both sides go
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.on('data', (chunk: Buffer) => {
      const head = chunk.toString('latin1', 0, Math.min(chunk.length, 300));
      if (/^GET \S+\/events HTTP/m.test(head)) {
        if (stats.cut) { stats.refusedStreams++; drop(); return; }
        streams.add(client);
      }
      if (/^GET \/v1\/jobs\/[0-9a-f-]{36} HTTP/m.test(head)) stats.polls++;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    stats,
    cutStreams() {
      stats.cut = true;
      for (const s of streams) s.destroy();
    },
    close: () => new Promise<void>((r) => {
      server.close(() => r());
      for (const s of sockets) s.destroy(); // keep-alive connections would hold close() open
    }),
  };
}

describe('JobManager', () => {
  it('uploads a Blob input, creates the job, and follows it to completion', async () => {
    const user = await funded();
    const jm = await manager(user);
    const job = await jm.createJob('upscaler', { image_url: new Blob([png], { type: 'image/png' }), category: 'produto' });
    expect(job.status).toBe('starting');
    expect(String(job.input.image_url)).toMatch(new RegExp(`^${api.url}/uploads/[0-9a-f-]{36}\\.png$`));
    const sub = collect(jm, job.id);
    await waitFor('the first update', () => sub.updates.length >= 1);
    await api.t.fila.markRunning(job.id, 'task-1');
    await waitFor('running', () => sub.updates.length >= 2);
    await api.t.fila.finishJob(job.id, 'completed', [{ url: 'https://cdn.example.com/r.png', type: 'png' }], null);
    await waitFor('completed', () => sub.updates.length >= 3);
    expect(sub.statuses()).toEqual(['starting', 'running', 'completed']);
    expect(sub.updates[2]?.outputs).toMatchObject([{ url: 'https://cdn.example.com/r.png', type: 'png', provider_url: 'https://cdn.example.com/r.png' }]);
    expect(sub.errors).toEqual([]);
    expect(sub.transports).toEqual(['stream']);
    sub.unsubscribe();
  });

  it('cancels a queued job (the refund shows in /v1/me/credits) and a second job is refused with the exact message', async () => {
    await fillSlots(api.t);
    const user = await funded(10);
    const jm = await manager(user);
    const job = await jm.createJob('upscaler', upscalerInput);
    expect(job).toMatchObject({ status: 'queued', position: 1 });
    expect((await jm.getCredits()).balance).toBe(8);

    const before = await snapshot(api.t);
    const second = await jm.createJob('veste_ai', { person_image_url: 'https://x.test/p.png', garment_image_url: 'https://x.test/g.png' })
      .then(() => null, (e: unknown) => e);
    expect(second).toBeInstanceOf(FilaApiError);
    expect(second).toMatchObject({ status: 409, code: 'user_has_active_job', message: 'Você já tem um processamento em andamento. Aguarde finalizar.' });
    expect(await snapshot(api.t)).toEqual(before);

    const canceled = await jm.cancel(job.id);
    expect(canceled.status).toBe('canceled');
    const credits = await jm.getCredits();
    expect(credits.balance).toBe(10);
    expect(credits.recent[0]).toMatchObject({ kind: 'refund', amount: 2, job_id: job.id });
    expect(await jm.getActiveJob()).toBeNull();
  });

  it('falls back to polling when the event stream is really cut, and still sees every later change', async () => {
    const holders = await fillSlots(api.t);
    const user = await funded();
    const proxy = await startCuttingProxy(api.url);
    try {
      const jm = await manager(user, { baseUrl: proxy.url, pollsPerStreamRetry: 3 });
      const job = await jm.createJob('upscaler', upscalerInput);
      const sub = collect(jm, job.id);
      await waitFor('the first update over the stream', () => sub.updates.length >= 1);
      expect(sub.transports).toEqual(['stream']);

      proxy.cutStreams(); // the open stream's socket is destroyed, and every new one is refused
      await waitFor('the switch to polling', () => sub.transports.includes('polling'));
      // it keeps trying the stream every few polls (refused here) and keeps polling meanwhile
      await waitFor('a refused retry of the stream', () => proxy.stats.refusedStreams >= 1 && sub.transports.filter((m) => m === 'polling').length >= 2);
      await api.t.fila.finishJob(holders[0] as string, 'failed', null, 'provider said no');
      await waitFor('starting, by polling', () => sub.updates.length >= 2);
      await api.t.fila.markRunning(job.id, 'task-p');
      await waitFor('running, by polling', () => sub.updates.length >= 3);
      await api.t.fila.finishJob(job.id, 'completed', [{ url: 'https://cdn.example.com/p.png', type: 'png' }], null);
      await waitFor('completed, by polling', () => sub.updates.length >= 4);
      expect(sub.statuses()).toEqual(['queued#1', 'starting', 'running', 'completed']);
      expect(proxy.stats.polls).toBeGreaterThanOrEqual(3);
      expect(sub.errors).toEqual([]);
      // its output's copy is pending (no worker here): polling goes on until the copy's outcome
      expect(sub.updates[3]?.outputs?.[0]?.copy_status).toBe('pending');
      await api.t.fila.recordOutputCopyFailure(job.id, 0, 'this worker has no file store', 'failed');
      await waitFor('the copy\'s outcome, by polling', () => sub.updates.length >= 5);
      expect(sub.updates[4]?.outputs?.[0]?.copy_status).toBe('failed');
      const polls = proxy.stats.polls;
      await new Promise((r) => setTimeout(r, 400));
      expect(proxy.stats.polls).toBe(polls); // a settled job stops the polling
    } finally {
      await proxy.close();
    }
  });

  it('creates no job when an upload fails: a refused file type, or the app\'s own uploader failing on one of two files', async () => {
    const user = await funded();
    const jm = await manager(user);
    const before = await snapshot(api.t);
    const refusedType = await jm.createJob('upscaler', { image_url: new Blob(['%PDF-1.4'], { type: 'application/pdf' }), category: 'logo' })
      .then(() => null, (e: unknown) => e);
    expect(refusedType).toMatchObject({ status: 415, code: 'unsupported_media_type' });

    const uploaded: string[] = [];
    const own = await manager(user, {
      uploader: async (file, { field }) => {
        if (field === 'garment_image_url') throw new FilaApiError(0, 'storage_error', 'Falha ao enviar a roupa.');
        uploaded.push(field);
        return `https://storage.example.com/${field}-${file.size}.png`;
      },
    });
    const failed = await own.createJob('veste_ai', { person_image_url: new Blob([png], { type: 'image/png' }), garment_image_url: new Blob([png], { type: 'image/png' }) })
      .then(() => null, (e: unknown) => e);
    expect(failed).toMatchObject({ code: 'storage_error', message: 'Falha ao enviar a roupa.' });
    expect(uploaded).toEqual(['person_image_url']);
    expect(await userJobs(user)).toBe(0);
    expect(await snapshot(api.t)).toEqual(before);

    // and the same uploader, working, submits with its URLs
    const ok = await manager(user, { uploader: async (_file, { field }) => `https://storage.example.com/${field}.png` });
    const job = await ok.createJob('veste_ai', { person_image_url: new Blob([png], { type: 'image/png' }), garment_image_url: 'https://x.test/g.png' });
    expect(job.input).toEqual({ person_image_url: 'https://storage.example.com/person_image_url.png', garment_image_url: 'https://x.test/g.png' });
  });

  it('makes one job of two simultaneous createJob calls (a double click), debited once', async () => {
    const user = await funded(10);
    const jm = await manager(user);
    const input = { image_url: new Blob([png], { type: 'image/png' }), category: 'pessoas' };
    const [a, b] = await Promise.all([jm.createJob('upscaler', input), jm.createJob('upscaler', input)]);
    expect(a.id).toBe(b.id);
    expect(await userJobs(user)).toBe(1);
    expect(await api.t.fila.creditBalance(user)).toBe(8);
    // two separate pages of the same user cannot make two either: the second is refused
    const other = await funded(10);
    const [p1, p2] = [await manager(other), await manager(other)];
    const results = await Promise.allSettled([p1.createJob('upscaler', upscalerInput), p2.createJob('upscaler', upscalerInput)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'user_has_active_job' } });
    expect(await userJobs(other)).toBe(1);
  });

  it('resumes the active job after a reload, and reports a job that is not the caller\'s', async () => {
    await fillSlots(api.t);
    const user = await funded();
    const first = await manager(user);
    const job = await first.createJob('upscaler', upscalerInput);
    const reloaded = await manager(user); // a new page: nothing in memory
    const updates: Job[] = [];
    const resumed = await reloaded.resume((j) => updates.push(j));
    expect(resumed?.job.id).toBe(job.id);
    await waitFor('the resumed stream', () => updates.length >= 1);
    expect(updates[0]).toMatchObject({ id: job.id, status: 'queued', position: 1 });
    resumed?.unsubscribe();

    const stranger = await manager(uid());
    const errors: FilaApiError[] = [];
    stranger.subscribe(job.id, () => undefined, { onError: (e) => errors.push(e) });
    await waitFor('the 404', () => errors.length === 1);
    expect(errors[0]).toMatchObject({ status: 404, code: 'job_not_found' });
    expect(await stranger.getActiveJob()).toBeNull();
  });

  it('carries the server\'s code, message and details unchanged', async () => {
    const jm = await manager(await funded());
    const e = await jm.createJob('upscaler', { image_url: 'not a url', category: 'pessoas' }).then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(FilaApiError);
    expect(e).toMatchObject({ status: 400, code: 'invalid_input', message: 'Dados inválidos.', details: expect.arrayContaining([expect.objectContaining({ path: 'input.image_url' })]) });
    const unknown = await jm.createJob('teleporter', {}).then(() => null, (err: unknown) => err);
    expect(unknown).toMatchObject({ status: 422, code: 'unknown_tool', message: 'Ferramenta desconhecida: teleporter.' });
    const poor = await (await manager(uid())).createJob('upscaler', upscalerInput).then(() => null, (err: unknown) => err);
    expect(poor).toMatchObject({ status: 402, code: 'insufficient_credits', message: 'Créditos insuficientes.' });
    const offline = new JobManager({ baseUrl: 'http://127.0.0.1:9', getToken: () => 'x' });
    expect(await offline.getActiveJob().then(() => null, (err: unknown) => err)).toMatchObject({ status: 0, code: 'network_error' });
  });
});
