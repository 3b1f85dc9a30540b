// Results outlive the provider's links: a completed job's outputs are copied into fila's file store
// (the uploads' store) by the worker's copy_output task and served by the API; users see the copy
// once it has landed and the provider's URL until then. The provider's URL is hostile input: a
// private address, an oversized body or a type fila does not keep is never stored, and the job
// stays completed with the provider's URL and a logged reason. Real PostgreSQL, real
// graphile-worker, the fake RunningHub over real HTTP serving real output bytes.
// The whole path (worker, store, API, event stream, browser client), so it lives with the system
// tests: worker/ and api/ do not import each other.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../dev/test-support/harness.ts';
import { fakeOutputBytes } from '../../dev/fake-runninghub/server.ts';
import type { JobOutputJson } from '../../db/fila.ts';
import { LocalFileStore } from '../../common/file-store.ts';
import { copyOutput } from '../../worker/output-copies.ts';
import { readEventStream } from '../../api/client/sse.ts';
import { JobManager } from '../../api/client/job-manager.ts';
import type { Job } from '../../api/client/types.ts';

let h: Harness;
let api: { url: string; token(userId: string): Promise<string> };
let uploadDir: string;
let inside: Server;
let insideUrl: string;
const insideRequests: string[] = [];
const logLines: Array<Record<string, unknown>> = [];
let logger: pino.Logger;
const network = { allowAddress: (ip: string) => ip === '127.0.0.1' };

beforeAll(async () => {
  h = await startHarness();
  uploadDir = mkdtempSync(path.join(tmpdir(), 'fila-output-copies-'));
  // a service inside our network, on a loopback address the test's rule does not allow
  inside = createServer((req, res) => { insideRequests.push(req.url ?? ''); res.writeHead(200, { 'content-type': 'image/png' }); res.end('secret'); });
  await new Promise<void>((r) => inside.listen(0, '127.0.0.2', r));
  insideUrl = `http://127.0.0.2:${(inside.address() as AddressInfo).port}`;
  api = await h.startApi({ uploadDir }); // serves the store at /uploads/ and takes the webhooks
  logger = pino({ level: 'info' }, new Writable({
    write(chunk: Buffer, _enc, done) { logLines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>); done(); },
  }));
  await h.startWorker({
    publicUrl: api.url, uploadDir, logger,
    // the fake provider answers on 127.0.0.1: that one loopback address stands for "public" here
    outputCopies: { network, maxBytes: { image: 100_000, video: 1_000_000 }, timeoutMs: 5000 },
  });
});
afterAll(async () => {
  await h?.stop();
  inside?.closeAllConnections();
  await new Promise<void>((r) => (inside ? inside.close(() => r()) : r()));
});

async function outputs(jobId: string): Promise<JobOutputJson[]> {
  return (await h.t.fila.job(jobId)).json.outputs ?? [];
}

async function waitCopy(jobId: string, status: string, timeoutMs = 20_000): Promise<JobOutputJson> {
  return h.waitFor(`output of ${jobId} to be ${status}`, async () => {
    const [o] = await outputs(jobId);
    return o?.copy_status === status ? o : null;
  }, timeoutMs);
}

async function copyRow(jobId: string): Promise<{ status: string; attempts: number; last_error: string | null }> {
  const r = await h.t.admin.query<{ status: string; attempts: number; last_error: string | null }>(
    'select status, attempts, last_error from fila.output_copies where job_id = $1 and output_index = 0', [jobId]);
  return r.rows[0]!;
}

async function storedCopiesOf(jobId: string): Promise<number> {
  const r = await h.t.admin.query<{ n: number }>('select count(*)::int as n from fila.uploads where output_of = $1', [jobId]);
  return r.rows[0]!.n;
}

describe('copies of results', () => {
  it('copies a completed job\'s output into fila\'s store and serves it (same bytes, nosniff, sandbox CSP); users get the copy\'s URL, the provider\'s beside it', async () => {
    const job = await h.submit('upscaler', { image_url: 'https://files.example/a.png#fake=ok', category: 'logo' });
    const done = await h.waitStatus(job.id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    const providerUrl = done.outputs![0]!.url;
    const out = await waitCopy(job.id, 'copied');
    expect(out.provider_url).toBe(providerUrl);
    expect(out.url).toBe(out.copy_url);
    expect(out.url).toMatch(new RegExp(`^${api.url}/uploads/[0-9a-f-]{36}\\.png$`));
    expect(out.type).toBe('png');

    // the job's owner reads it through the HTTP API: the copy's URL, the provider's beside it
    const viaApi = await fetch(`${api.url}/v1/jobs/${job.id}`, { headers: { authorization: `Bearer ${await api.token(job.user_id)}` } });
    expect(viaApi.status).toBe(200);
    expect(((await viaApi.json()) as { outputs: JobOutputJson[] }).outputs).toEqual([out]);

    const res = await fetch(out.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.equals(fakeOutputBytes(done.provider_task_id!, 'png'))).toBe(true);
    expect(bytes.equals(Buffer.from(await (await fetch(providerUrl)).arrayBuffer()))).toBe(true);

    // a file of the job's owner, kept and expired like uploads, but not counted in the upload quota
    expect(await storedCopiesOf(job.id)).toBe(1);
    await h.t.fila.checkUploadQuota(job.user_id, 10, { maxFiles: 1, maxBytes: 100 });
    const expired = await h.t.fila.expiredUploads(60, 60, new Date(Date.now() + 2 * 60_000));
    expect(expired).toContain(path.posix.basename(new URL(out.url).pathname));
  });

  it('a failing download is retried with back-off; meanwhile users see the provider\'s URL, then the copy', async () => {
    const job = await h.submit('upscaler', { image_url: 'https://files.example/b.png#fake=ok&fake-output=fail:1', category: 'logo' });
    const done = await h.waitStatus(job.id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    const providerUrl = done.outputs![0]!.url;
    // the first download has failed: the copy waits for its retry, the provider's URL is what users see
    await h.waitFor('the failed first attempt', async () => (await copyRow(job.id)).attempts === 1);
    expect(await copyRow(job.id)).toEqual({ status: 'pending', attempts: 1, last_error: 'the provider answered HTTP 503 for the output' });
    const [meanwhile] = await outputs(job.id);
    expect(meanwhile).toEqual({ url: providerUrl, type: 'png', provider_url: providerUrl, copy_url: null, copy_status: 'pending' });
    expect(logLines.some((l) => l.job_id === job.id && l.msg === 'copying an output failed; retrying with back-off')).toBe(true);

    const out = await waitCopy(job.id, 'copied');
    expect(out.provider_url).toBe(providerUrl);
    const bytes = Buffer.from(await (await fetch(out.url)).arrayBuffer());
    expect(bytes.equals(fakeOutputBytes(done.provider_task_id!, 'png'))).toBe(true);
    const downloads = h.fake.fileDownloads.filter((d) => d.path.includes(`/files/${done.provider_task_id}/`));
    expect(downloads.map((d) => d.status)).toEqual([503, 200]);
    // graphile-worker's back-off: the retry came about e^1 s later, not at once
    expect(downloads[1]!.at - downloads[0]!.at).toBeGreaterThan(1500);
  });

  it('when the retries are spent the copy is failed, logged at error, and users keep the provider\'s URL for good', async () => {
    const job = await h.submit('upscaler', { image_url: 'https://files.example/f.png#fake=ok&fake-output=fail:99', category: 'logo' });
    const done = await h.waitStatus(job.id, ['completed', 'failed']);
    const providerUrl = done.outputs![0]!.url;
    await h.waitFor('the failed first attempt', async () => (await copyRow(job.id)).attempts >= 1);
    // the last of graphile-worker's attempts, run here rather than waited for (e^1 + … + e^7 s)
    const outcome = await copyOutput({ db: h.t.fila, logger, outputCopies: { store: new LocalFileStore(uploadDir, () => api.url), network, timeoutMs: 5000 } },
      job.id, 0, { attempts: 8, maxAttempts: 8 });
    expect(outcome).toBe('failed');
    expect(await copyRow(job.id)).toMatchObject({ status: 'failed', last_error: 'the provider answered HTTP 503 for the output' });
    expect((await outputs(job.id))[0]).toEqual({ url: providerUrl, type: 'png', provider_url: providerUrl, copy_url: null, copy_status: 'failed' });
    expect(logLines.find((l) => l.job_id === job.id && l.msg === 'output not copied: retries spent; users keep the provider\'s URL')).toMatchObject({ level: 50 });
    expect(await storedCopiesOf(job.id)).toBe(0);
  });

  const hostile = [
    { what: 'a private address', fragment: () => `fake-output=url:${encodeURIComponent(`${insideUrl}/latest/meta-data.png`)}`, reason: /^refused: .*not a public address/ },
    { what: 'the cloud metadata address', fragment: () => `fake-output=url:${encodeURIComponent('http://169.254.169.254/latest/meta-data/x.png')}`, reason: /^refused: .*169\.254\.169\.254/ },
    { what: 'an oversized body (sent without a length: cut while streaming, no half file left)', fragment: () => 'fake-output=big:200000', reason: /^refused: larger than 100000 bytes/ },
    { what: 'a content type fila does not keep', fragment: () => `fake-output=type:${encodeURIComponent('text/html')}`, reason: /^refused: content type text\/html is not one fila keeps/ },
    { what: 'bytes that are not the declared type', fragment: () => `fake-output=type:${encodeURIComponent('image/jpeg')}`, reason: /^refused: the bytes are not image\/jpeg$/ },
  ];
  for (const c of hostile) {
    it(`does not store ${c.what}: the job stays completed with the provider's URL and a logged reason, never retried`, async () => {
      const before = readdirSync(uploadDir).length;
      const job = await h.submit('upscaler', { image_url: `https://files.example/c.png#fake=ok&${c.fragment()}`, category: 'logo' });
      const done = await h.waitStatus(job.id, ['completed', 'failed']);
      expect(done.status).toBe('completed');
      const providerUrl = done.outputs![0]!.url;
      const out = await waitCopy(job.id, 'refused');
      expect(out).toEqual({ url: providerUrl, type: 'png', provider_url: providerUrl, copy_url: null, copy_status: 'refused' });
      const row = await copyRow(job.id);
      expect(row.status).toBe('refused');
      expect(row.attempts).toBe(1);
      expect(row.last_error).toMatch(c.reason);
      const logged = logLines.find((l) => l.job_id === job.id && l.msg === 'output not copied (refused): users keep the provider\'s URL');
      expect(logged).toMatchObject({ provider_url: providerUrl });
      expect(`refused: ${String(logged!.reason)}`).toMatch(c.reason);
      expect(await storedCopiesOf(job.id)).toBe(0);
      expect(readdirSync(uploadDir).length).toBe(before);
      expect((await h.job(job.id)).status).toBe('completed');
      expect(await h.refunds(job.id)).toBe(0);
    });
  }

  it('never connected to the address inside our network', () => {
    expect(insideRequests).toEqual([]);
  });

  it('/metrics counts the copies by status and gives the age of the oldest pending one', async () => {
    // a copy left pending for an hour (no copy_output will come for it): what a stuck store looks like
    const job = await h.submit('upscaler', { image_url: 'https://files.example/p.png#fake=ok', category: 'logo' });
    expect((await h.waitStatus(job.id, ['completed', 'failed'])).status).toBe('completed');
    await waitCopy(job.id, 'copied');
    await h.t.admin.query(
      `insert into fila.output_copies (job_id, output_index, provider_url, created_at) values ($1, 7, 'https://cdn.example.com/stuck.png', now() - interval '1 hour')`, [job.id]);
    try {
      const byStatus = Object.fromEntries((await h.t.admin.query<{ status: string; n: number }>(
        'select status, count(*)::int as n from fila.output_copies group by status')).rows.map((r) => [r.status, r.n]));
      // this file's cases left copies of every kind
      expect(byStatus).toMatchObject({ pending: expect.any(Number), copied: expect.any(Number), refused: 5, failed: expect.any(Number) });
      const text = await (await fetch(`${api.url}/metrics`)).text();
      const value = (name: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${name} `));
        return line === undefined ? null : Number(line.split(' ').at(-1));
      };
      for (const status of ['pending', 'copied', 'refused', 'failed']) {
        expect(value(`fila_output_copies{status="${status}"}`), status).toBe(byStatus[status]);
      }
      const age = value('fila_output_copy_oldest_pending_seconds')!;
      expect(age).toBeGreaterThanOrEqual(3600);
      expect(age).toBeLessThan(3600 + 120);
    } finally {
      await h.t.admin.query('delete from fila.output_copies where job_id = $1 and output_index = 7', [job.id]);
    }
    const after = await (await fetch(`${api.url}/metrics`)).text();
    expect(after).toContain('fila_output_copy_oldest_pending_seconds 0');
  });
});

/** The job's event stream, read until the server ends it: every job JSON it pushed. */
async function streamToEnd(jobId: string, userId: string, timeoutMs = 30_000): Promise<Job[]> {
  const res = await fetch(`${api.url}/v1/jobs/${jobId}/events`, {
    headers: { authorization: `Bearer ${await api.token(userId)}`, accept: 'text/event-stream' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  expect(res.status).toBe(200);
  const jobs: Job[] = [];
  const outcome = await readEventStream(res.body!, (e) => { if (e.event === 'job') jobs.push(JSON.parse(e.data) as Job); });
  expect(outcome).toBe('ended');
  return jobs;
}

describe('copies on the live stream', () => {
  it('a stream open on the job pushes the copy when it lands (no reload), and ends only then', async () => {
    // the first download fails: the copy lands about e^1 s after the job completed
    const job = await h.submit('upscaler', { image_url: 'https://files.example/s.png#fake=ok&fake-output=fail:1', category: 'logo' });
    const jobs = await streamToEnd(job.id, job.user_id);
    const completed = jobs.filter((j) => j.status === 'completed');
    const providerUrl = completed[0]!.outputs![0]!.provider_url;
    // completed first with the provider's URL (the copy pending), then the copy, then the end
    expect(completed[0]!.outputs![0]).toEqual({ url: providerUrl, type: 'png', provider_url: providerUrl, copy_url: null, copy_status: 'pending' });
    const last = jobs.at(-1)!;
    expect(last.status).toBe('completed');
    expect(last.outputs![0]).toMatchObject({ provider_url: providerUrl, copy_status: 'copied' });
    expect(last.outputs![0]!.url).toBe(last.outputs![0]!.copy_url);
    expect(last.outputs![0]!.url).toMatch(new RegExp(`^${api.url}/uploads/`));
    expect(last).toEqual((await h.t.fila.job(job.id)).json);
  });

  it('a copy that fails for good pushes its final state too (the provider\'s URL stays), and the stream ends; a stream opened on a settled job ends at once', async () => {
    const job = await h.submit('upscaler', { image_url: 'https://files.example/g.png#fake=ok&fake-output=fail:99', category: 'logo' });
    const streaming = streamToEnd(job.id, job.user_id);
    await h.waitFor('the failed first attempt', async () => (await h.t.admin.query(
      'select 1 from fila.output_copies where job_id = $1 and attempts >= 1', [job.id])).rowCount === 1);
    // the last of graphile-worker's attempts, run here rather than waited for
    expect(await copyOutput({ db: h.t.fila, logger, outputCopies: { store: new LocalFileStore(uploadDir, () => api.url), network, timeoutMs: 5000 } },
      job.id, 0, { attempts: 8, maxAttempts: 8 })).toBe('failed');
    const jobs = await streaming;
    const last = jobs.at(-1)!;
    expect(last.outputs![0]).toEqual({ url: last.outputs![0]!.provider_url, type: 'png', provider_url: last.outputs![0]!.provider_url, copy_url: null, copy_status: 'failed' });
    expect(jobs.filter((j) => j.status === 'completed')[0]!.outputs![0]!.copy_status).toBe('pending');
    expect(last).toEqual((await h.t.fila.job(job.id)).json);
    const again = await streamToEnd(job.id, job.user_id, 5000);
    expect(again).toEqual([last]);
  });

  it('the client (JobManager.subscribe) delivers the copy without a reload', async () => {
    const job = await h.submit('upscaler', { image_url: 'https://files.example/m.png#fake=ok&fake-output=fail:1', category: 'logo' });
    const manager = new JobManager({ baseUrl: api.url, getToken: () => api.token(job.user_id), presence: false });
    const seen: Job[] = [];
    const errors: unknown[] = [];
    const stop = manager.subscribe(job.id, (j) => seen.push(j), { onError: (err) => errors.push(err) });
    try {
      await h.waitFor('the copy on the subscription', async () => seen.at(-1)?.outputs?.[0]?.copy_status === 'copied', 30_000);
    } finally {
      stop();
    }
    expect(errors).toEqual([]);
    expect(seen.some((j) => j.status === 'completed' && j.outputs?.[0]?.copy_status === 'pending')).toBe(true);
    expect(seen.at(-1)!.outputs![0]!.url).toBe(seen.at(-1)!.outputs![0]!.copy_url);
  });
});
