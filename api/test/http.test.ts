// Every route over real HTTP against a real database: happy paths and refusals, and after each
// refusal nothing changed (jobs, transitions, ledger, inbox, balances).
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clearActive, fillSlots, jwtSecret, snapshot, startTestApi, uid, upscalerInput, userA, waitFor, type TestApi } from '../../dev/test-support/api.ts';

let api: TestApi;
beforeAll(async () => { api = await startTestApi(); });
afterAll(async () => { await api.close(); });

const activeMessage = 'Você já tem um processamento em andamento. Aguarde finalizar.';

async function errorOf(res: Response): Promise<{ code: string; message: string; details?: unknown }> {
  const body = (await res.json()) as { error: { code: string; message: string; details?: unknown } };
  expect(Object.keys(body)).toEqual(['error']);
  return body.error;
}

/** Run a request that must be refused, and prove it changed nothing. */
async function refused(res: Promise<Response>, status: number, code: string): Promise<{ code: string; message: string; details?: unknown }> {
  const before = await snapshot(api.t);
  const r = await res;
  expect(r.status).toBe(status);
  const e = await errorOf(r);
  expect(e.code).toBe(code);
  expect(await snapshot(api.t)).toEqual(before);
  return e;
}

async function funded(amount = 20): Promise<string> {
  const user = uid();
  await api.t.fila.grantCredits(user, amount, 'test');
  return user;
}

const submit = (user: string, body: unknown, headers: Record<string, string> = {}) =>
  api.call(user, '/v1/jobs', { method: 'POST', json: body, headers });

// a slot holder's end, as the worker reports it
async function complete(jobId: string): Promise<void> {
  await api.t.fila.markRunning(jobId, `task-${jobId.slice(0, 8)}`);
  await api.t.fila.finishJob(jobId, 'completed', [{ url: 'https://cdn.example.com/out.png', type: 'png' }], null);
}

beforeEach(async () => { await clearActive(api.t); });

describe('authentication', () => {
  it('refuses a missing, malformed, forged, expired, alg:none or non-UUID-subject token with 401 and changes nothing', async () => {
    const user = await funded();
    const body = { tool: 'upscaler', input: upscalerInput };
    const post = (authorization?: string) => fetch(`${api.url}/v1/jobs`, {
      method: 'POST', body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    });
    const key = new TextEncoder().encode(jwtSecret);
    const expired = await new SignJWT({ role: 'authenticated' }).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setAudience('authenticated')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200).setExpirationTime(Math.floor(Date.now() / 1000) - 3600).sign(key);
    const otherSecret = await new SignJWT({ role: 'authenticated' }).setProtectedHeader({ alg: 'HS256' }).setSubject(user)
      .setExpirationTime('1h').sign(new TextEncoder().encode('not-the-secret'));
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const algNone = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: user, exp: Math.floor(Date.now() / 1000) + 3600 })}.`;
    const notUuid = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('maria').setExpirationTime('1h').sign(key);
    const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).sign(key);

    expect((await refused(post(), 401, 'unauthorized')).message).toMatch(/Bearer/);
    await refused(post('Basic abc'), 401, 'unauthorized');
    await refused(post('Bearer not.a.jwt'), 401, 'invalid_token');
    await refused(post(`Bearer ${otherSecret}`), 401, 'invalid_token');
    await refused(post(`Bearer ${expired}`), 401, 'token_expired');
    await refused(post(`Bearer ${algNone}`), 401, 'invalid_token');
    await refused(post(`Bearer ${notUuid}`), 401, 'invalid_token');
    await refused(post(`Bearer ${noExp}`), 401, 'invalid_token');
    const r = await post();
    expect(r.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('accepts a Supabase access token (the fixture claims) and takes the user id from sub', async () => {
    // the claims of a real Supabase access token, copied here from the design's fixtures (not in this repository)
    const claims = {
      iss: 'https://<project>.supabase.co/auth/v1', sub: userA, aud: 'authenticated', email: 'maria@example.com', phone: '',
      app_metadata: { provider: 'email', providers: ['email'] }, user_metadata: {}, role: 'authenticated', aal: 'aal1',
      amr: [{ method: 'password', timestamp: 1794996400 }], session_id: '0b2d1f7e-5a6c-4e3b-9d8a-1c2b3a4d5e6f', is_anonymous: false,
    };
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ ...claims, iat: now, exp: now + 3600 }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(new TextEncoder().encode(jwtSecret));
    await api.t.fila.grantCredits(userA, 7, 'fixture');
    const res = await fetch(`${api.url}/v1/me/credits`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { balance: number }).balance).toBe(await api.t.fila.creditBalance(userA));
    // Supabase's own role claim does not make an operator
    expect((await fetch(`${api.url}/v1/queue`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(403);
  });
});

describe('POST /v1/jobs', () => {
  it('creates a job (201) with the server-side price, debits once, and a retry with the same Idempotency-Key answers 200 with the same job', async () => {
    const user = await funded(10);
    const res = await submit(user, { tool: 'upscaler', input: { ...upscalerInput, version: 'pro' } }, { 'idempotency-key': 'k-1' });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const job = (await res.json()) as Record<string, unknown>;
    expect(job).toMatchObject({ tool: 'upscaler', status: 'starting', credit_cost: 4, user_id: user, error: null, position: null });
    // the validated input is what the job holds (defaults applied)
    expect(job.input).toEqual({ ...upscalerInput, version: 'pro', framing_mode: 'perto' });
    expect(await api.t.fila.creditBalance(user)).toBe(6);

    const before = await snapshot(api.t);
    const again = await submit(user, { tool: 'upscaler', input: { ...upscalerInput, version: 'pro' } }, { 'idempotency-key': 'k-1' });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { id: string }).id).toBe(job.id);
    expect(await snapshot(api.t)).toEqual(before);
  });

  it('refuses a second active job with 409 user_has_active_job and the exact message', async () => {
    const user = await funded();
    expect((await submit(user, { tool: 'upscaler', input: upscalerInput })).status).toBe(201);
    const e = await refused(submit(user, { tool: 'veste_ai', input: { person_image_url: 'https://x.test/p.png', garment_image_url: 'https://x.test/g.png' } }), 409, 'user_has_active_job');
    expect(e.message).toBe(activeMessage);
  });

  it('refuses the same Idempotency-Key for a different request with 409 idempotency_key_reused', async () => {
    const user = await funded();
    expect((await submit(user, { tool: 'upscaler', input: upscalerInput }, { 'idempotency-key': 'same' })).status).toBe(201);
    await refused(submit(user, { tool: 'upscaler', input: { ...upscalerInput, category: 'logo' } }, { 'idempotency-key': 'same' }), 409, 'idempotency_key_reused');
  });

  it('refuses without enough credits: 402 insufficient_credits', async () => {
    const user = await funded(1);
    await refused(submit(user, { tool: 'upscaler', input: upscalerInput }), 402, 'insufficient_credits');
    await refused(submit(uid(), { tool: 'video_upscaler', input: { video_url: 'https://x.test/v.mp4' } }), 402, 'insufficient_credits');
  });

  it('refuses an unknown tool with 422 unknown_tool, and a tool disabled in the database too', async () => {
    const user = await funded();
    const e = await refused(submit(user, { tool: 'teleporter', input: {} }), 422, 'unknown_tool');
    expect(e.details).toMatchObject({ tool: 'teleporter' });
    await api.t.admin.query("update fila.tools set enabled = false where tool = 'pose_changer'");
    try {
      await refused(submit(user, { tool: 'pose_changer', input: { person_image_url: 'https://x.test/a.png', pose_image_url: 'https://x.test/b.png' } }), 422, 'unknown_tool');
    } finally {
      await api.t.admin.query("update fila.tools set enabled = true where tool = 'pose_changer'");
    }
  });

  it('refuses malformed bodies with 400 invalid_input and details saying where', async () => {
    const user = await funded();
    const token = await api.token(user);
    const raw = (body: string, type = 'application/json') => fetch(`${api.url}/v1/jobs`, {
      method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'content-type': type },
    });
    await refused(raw('{"tool": "upscaler", "input": '), 400, 'invalid_input');
    const missing = await refused(submit(user, { tool: 'upscaler' }), 400, 'invalid_input');
    expect(missing.details).toEqual([expect.objectContaining({ path: 'input' })]);
    const bad = await refused(submit(user, { tool: 'upscaler', input: { image_url: 'ftp://x/a.png', category: 'planetas', extra: 1 } }), 400, 'invalid_input');
    const paths = (bad.details as { path: string }[]).map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['input.image_url', 'input.category']));
    await refused(submit(user, { tool: 'upscaler', input: upscalerInput, presence: 'yes' }), 400, 'invalid_input');
    await refused(submit(user, [1, 2]), 400, 'invalid_input');
    await refused(submit(user, { tool: 'upscaler', input: upscalerInput }, { 'idempotency-key': '' }), 400, 'invalid_input');
  });

  it('refuses a body over the limit with 413 before reading it all', async () => {
    const user = await funded();
    const big = { tool: 'upscaler', input: { ...upscalerInput, padding: 'x'.repeat(400 * 1024) } };
    await refused(submit(user, big), 413, 'payload_too_large');
  });

  it('makes one job of two simultaneous submits with the same key (201 + 200) and refuses one of two without a key (201 + 409)', async () => {
    const user = await funded();
    const same = await Promise.all([1, 2].map(() => submit(user, { tool: 'upscaler', input: upscalerInput }, { 'idempotency-key': 'dbl' })));
    expect(same.map((r) => r.status).sort()).toEqual([200, 201]);
    const ids = await Promise.all(same.map(async (r) => ((await r.json()) as { id: string }).id));
    expect(ids[0]).toBe(ids[1]);
    expect(await api.t.fila.creditBalance(user)).toBe(18);

    const other = await funded();
    const two = await Promise.all([1, 2].map(() => submit(other, { tool: 'upscaler', input: upscalerInput })));
    expect(two.map((r) => r.status).sort()).toEqual([201, 409]);
    expect(await api.t.fila.creditBalance(other)).toBe(18);
  });
});

describe('reading, canceling and heartbeats', () => {
  it('shows a user their job, a queued one with position and eta, and answers 404 (the same as for no job) for another user\'s job', async () => {
    await fillSlots(api.t);
    const user = await funded();
    const created = (await (await submit(user, { tool: 'upscaler', input: upscalerInput })).json()) as { id: string };
    const res = await api.call(user, `/v1/jobs/${created.id}`);
    expect(res.status).toBe(200);
    const job = (await res.json()) as { status: string; position: number; eta: number };
    expect(job.status).toBe('queued');
    expect(job.position).toBe(1);
    expect(job.eta).toBeGreaterThan(0);

    const stranger = await refused(api.call(uid(), `/v1/jobs/${created.id}`), 404, 'job_not_found');
    const nobody = await refused(api.call(uid(), `/v1/jobs/${uid()}`), 404, 'job_not_found');
    expect(stranger.message).toBe(nobody.message);
    await refused(api.call(user, '/v1/jobs/not-a-uuid'), 400, 'invalid_input');
    // operators may look at any job
    expect((await api.call(uid(), `/v1/jobs/${created.id}`, { operator: true })).status).toBe(200);
  });

  it('cancels a queued job (refund in /v1/me/credits), refuses another user\'s cancel with 404 and a finished job\'s with 409; operators cancel any job', async () => {
    const slotHolders = await fillSlots(api.t);
    const user = await funded(10);
    const job = (await (await submit(user, { tool: 'upscaler', input: upscalerInput })).json()) as { id: string };
    await refused(api.call(uid(), `/v1/jobs/${job.id}/cancel`, { method: 'POST' }), 404, 'job_not_found');

    const res = await api.call(user, `/v1/jobs/${job.id}/cancel`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('canceled');
    const credits = (await (await api.call(user, '/v1/me/credits')).json()) as { balance: number; recent: { kind: string; amount: number; job_id: string }[] };
    expect(credits.balance).toBe(10);
    expect(credits.recent.map((e) => [e.kind, e.amount])).toEqual([['refund', 2], ['debit', -2], ['grant', 10]]);
    // canceling again is a no-op answering the canceled job
    expect((await api.call(user, `/v1/jobs/${job.id}/cancel`, { method: 'POST' })).status).toBe(200);

    const done = slotHolders[0] as string;
    await complete(done);
    await refused(api.call(uid(), `/v1/jobs/${done}/cancel`, { method: 'POST', operator: true }), 409, 'invalid_transition');

    const running = slotHolders[1] as string;
    const op = await api.call(uid(), `/v1/jobs/${running}/cancel`, { method: 'POST', operator: true });
    expect(op.status).toBe(200);
    expect(((await op.json()) as { status: string }).status).toBe('canceled');
  });

  it('keeps a queued job seen with POST heartbeat (204) and refuses another user\'s heartbeat with 404', async () => {
    await fillSlots(api.t);
    const user = await funded();
    const job = (await (await submit(user, { tool: 'upscaler', input: upscalerInput, presence: true })).json()) as { id: string };
    await api.t.admin.query("update fila.jobs set last_seen_at = now() - interval '30 seconds' where id = $1", [job.id]);
    expect((await api.call(user, `/v1/jobs/${job.id}/heartbeat`, { method: 'POST' })).status).toBe(204);
    const { rows } = await api.t.admin.query<{ age: number }>('select extract(epoch from now() - last_seen_at)::float8 as age from fila.jobs where id = $1', [job.id]);
    expect(rows[0]?.age).toBeLessThan(5);
    await refused(api.call(uid(), `/v1/jobs/${job.id}/heartbeat`, { method: 'POST' }), 404, 'job_not_found');
  });

  it('answers the active job, or 204 when there is none', async () => {
    const user = await funded();
    expect((await api.call(user, '/v1/me/active-job')).status).toBe(204);
    const job = (await (await submit(user, { tool: 'upscaler', input: upscalerInput })).json()) as { id: string };
    const res = await api.call(user, '/v1/me/active-job');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }).id).toBe(job.id);
  });
});

describe('operators', () => {
  it('shows the queue to operators only', async () => {
    await fillSlots(api.t);
    const user = await funded();
    await submit(user, { tool: 'upscaler', input: upscalerInput });
    await refused(api.call(user, '/v1/queue'), 403, 'forbidden');
    await refused(api.call(null, '/v1/queue'), 401, 'unauthorized');
    const res = await api.call(uid(), '/v1/queue', { operator: true });
    expect(res.status).toBe(200);
    const q = (await res.json()) as { overview: { slots_used: number; slots_total: number; queued: number }; jobs: { user_id: string; position: number }[] };
    expect(q.overview).toMatchObject({ slots_used: 3, slots_total: 3, queued: 1 });
    expect(q.jobs).toEqual([expect.objectContaining({ user_id: user, position: 1 })]);
  });

  it('grants credits once per Idempotency-Key, requires the key, refuses users, key reuse and a negative balance', async () => {
    const op = uid();
    const target = uid();
    const grant = (amount: number, key?: string, operator = true) => api.call(op, '/v1/admin/credits', {
      method: 'POST', operator, json: { user_id: target, amount, reason: 'support ticket 42' },
      headers: key ? { 'idempotency-key': key } : {},
    });
    const noKey = await refused(grant(5), 400, 'invalid_input');
    expect(JSON.stringify(noKey.details)).toContain('idempotency-key');
    await refused(grant(5, 'g-1', false), 403, 'forbidden');
    const first = await grant(5, 'g-1');
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ user_id: target, balance: 5 });
    const before = await snapshot(api.t);
    expect(await (await grant(5, 'g-1')).json()).toEqual({ user_id: target, balance: 5 });
    expect(await snapshot(api.t)).toEqual(before);
    await refused(grant(7, 'g-1'), 409, 'idempotency_key_reused');
    await refused(grant(-6, 'g-2'), 402, 'insufficient_credits');
    await refused(grant(0, 'g-3'), 400, 'invalid_input');
    expect(await (await grant(-5, 'g-4')).json()).toEqual({ user_id: target, balance: 0 });
  });
});

describe('uploads', () => {
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('rest of a tiny png')]);
  const upload = (user: string | null, blob: Blob, name = 'photo.png') => {
    const form = new FormData();
    form.append('file', blob, name);
    return api.call(user, '/v1/uploads', { method: 'POST', body: form });
  };

  it('stores an image and serves it back at the URL it answers', async () => {
    const res = await upload(await funded(), new Blob([png], { type: 'image/png' }));
    expect(res.status).toBe(201);
    const stored = (await res.json()) as { url: string; size: number; content_type: string };
    expect(stored).toMatchObject({ size: png.length, content_type: 'image/png' });
    expect(stored.url.startsWith(`${api.url}/uploads/`)).toBe(true);
    const back = await fetch(stored.url);
    expect(back.status).toBe(200);
    expect(back.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await back.arrayBuffer()).equals(png)).toBe(true);
    expect((await fetch(`${api.url}/uploads/../../etc/passwd`)).status).toBe(404);
  });

  it('refuses a wrong type (415), content that is not what it claims (415), an image over 30 MB (413), no file (400), no token (401)', async () => {
    const user = await funded(); // uploads need a balance
    const filesBefore = readdirSync(api.uploadDir).length;
    await refused(upload(user, new Blob(['hello'], { type: 'text/plain' }), 'a.txt'), 415, 'unsupported_media_type');
    await refused(upload(user, new Blob(['not really a png'], { type: 'image/png' })), 415, 'unsupported_media_type');
    const big = Buffer.alloc(30 * 1024 * 1024 + 1);
    png.copy(big);
    const e = await refused(upload(user, new Blob([big], { type: 'image/png' })), 413, 'file_too_large');
    expect(e.message).toMatch(/30 MB/);
    const form = new FormData();
    form.append('other', 'x');
    await refused(api.call(user, '/v1/uploads', { method: 'POST', body: form }), 400, 'invalid_input');
    await refused(upload(null, new Blob([png], { type: 'image/png' })), 401, 'unauthorized');
    expect(readdirSync(api.uploadDir)).toHaveLength(filesBefore); // nothing of a refused file is kept
  });

  /** A multipart upload whose bytes the test hands over piece by piece, as a slow client sends them. */
  function slowUpload(user: string, contentType: string, name: string) {
    const boundary = `----fila-test-${uid()}`;
    let ctrl!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start(c) { ctrl = c; } });
    const aborter = new AbortController();
    const response = api.token(user).then((token) => fetch(`${api.url}/v1/uploads`, {
      method: 'POST', body, duplex: 'half', signal: aborter.signal,
      headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
    } as RequestInit));
    ctrl.enqueue(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${name}"\r\ncontent-type: ${contentType}\r\n\r\n`));
    return {
      response,
      send: (bytes: Uint8Array) => ctrl.enqueue(bytes),
      end: () => { ctrl.enqueue(Buffer.from(`\r\n--${boundary}--\r\n`)); ctrl.close(); },
      abort: () => aborter.abort(),
    };
  }
  // a file may vanish between readdir and stat (a broken-off upload being removed)
  const newFiles = (before: Set<string>) => readdirSync(api.uploadDir).filter((f) => !before.has(f))
    .flatMap((f) => {
      const st = statSync(path.join(api.uploadDir, f), { throwIfNoEntry: false });
      return st ? [{ name: f, size: st.size }] : [];
    });
  const mp4Head = Buffer.from([0, 0, 0, 0x20, ...Buffer.from('ftypisom')]);
  const MB = 1024 * 1024;

  it('writes a video to disk while it arrives (never the whole file in memory), and keeps nothing of an upload that breaks off', async () => {
    const user = await funded(); // uploads need a balance
    const before = new Set(readdirSync(api.uploadDir));
    const up = slowUpload(user, 'video/mp4', 'clip.mp4');
    up.send(mp4Head);
    up.send(Buffer.alloc(8 * MB));
    // the file grows on disk while the client has not finished sending: streamed, not buffered
    await waitFor('the first megabytes on disk', () => newFiles(before).some((f) => f.size >= 4 * MB), 15_000);
    up.send(Buffer.alloc(8 * MB, 1));
    up.end();
    const res = await up.response;
    expect(res.status).toBe(201);
    const stored = (await res.json()) as { name: string; size: number };
    expect(stored.size).toBe(mp4Head.length + 16 * MB);
    expect(newFiles(before)).toEqual([{ name: stored.name, size: stored.size }]);

    // a client that goes away halfway: its partial file is removed
    const kept = new Set(readdirSync(api.uploadDir));
    const broken = slowUpload(user, 'video/mp4', 'broken.mp4');
    broken.send(mp4Head);
    broken.send(Buffer.alloc(4 * MB));
    await waitFor('the partial file on disk', () => newFiles(kept).some((f) => f.size >= 1 * MB), 15_000);
    broken.abort();
    expect(await broken.response.then(() => 'answered', (e: unknown) => (e as Error).name)).toBe('AbortError');
    await waitFor('the partial file to be removed', () => newFiles(kept).length === 0, 15_000);
  });

  it('refuses a video past 200 MB with 413 once it passes the limit, keeping nothing of it', async () => {
    const before = new Set(readdirSync(api.uploadDir));
    const up = slowUpload(await funded(), 'video/mp4', 'long.mp4');
    up.send(mp4Head);
    const chunk = Buffer.alloc(MB);
    for (let i = 0; i < 200; i++) up.send(chunk);
    up.send(Buffer.alloc(1));
    up.end();
    const e = await refused(up.response, 413, 'file_too_large');
    expect(e.message).toMatch(/200 MB/);
    expect(newFiles(before)).toEqual([]);
  });
});

describe('operations', () => {
  it('answers /healthz after checking the database, /metrics in Prometheus format, and a request id on every response', async () => {
    const health = await fetch(`${api.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', database: 'ok', listener: 'listening' });
    const echoed = await fetch(`${api.url}/healthz`, { headers: { 'x-request-id': 'trace-abc-1' } });
    expect(echoed.headers.get('x-request-id')).toBe('trace-abc-1');
    expect((await fetch(`${api.url}/nowhere`)).headers.get('x-request-id')).toBeTruthy();

    const user = await funded();
    const job = (await (await submit(user, { tool: 'upscaler', input: upscalerInput })).json()) as { id: string };
    await api.t.fila.finishJob(job.id, 'failed', null, 'provider said no');
    const metrics = async () => (await fetch(`${api.url}/metrics`)).text();
    // the failure reaches the metrics through the LISTEN connection
    let text = '';
    for (let i = 0; i < 100 && !text.includes('fila_refunds_total{tool="upscaler",outcome="failed"}'); i++) {
      await new Promise((r) => setTimeout(r, 50));
      text = await metrics();
    }
    for (const name of ['fila_queue_depth', 'fila_slots_used', 'fila_slots_total', 'fila_submits_total{tool="upscaler",outcome="created"}',
      'fila_job_duration_seconds_bucket', 'fila_refunds_total{tool="upscaler",outcome="failed"}', 'fila_webhooks_total', 'fila_http_requests_total']) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(/fila_submits_total\{tool="unknown",outcome="unknown_tool"\} \d+/);
  });
});
