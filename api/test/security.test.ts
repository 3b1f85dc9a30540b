// The attacker's cases, against the real HTTP API on a real database: tokens for someone else,
// input URLs into our network or that never answer, uploads that would fill the disk, bodies the
// database cannot store. Each refusal is a 4xx with a code that leaves nothing behind.
//
// Stand-ins: a "public" file server listens on 127.0.0.3 and this API's address rule admits that
// one address (as the real rule admits public ones); everything else on loopback, where the API
// itself and "internal services" listen, stays refused as under the default rule.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync } from 'node:fs';
import { Writable } from 'node:stream';
import pino from 'pino';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clearActive, jwtSecret, snapshot, startTestApi, uid, webhookSecret, type TestApi } from '../../dev/test-support/api.ts';
import { webhookToken } from '../../common/webhook-token.ts';
import { LocalUploadStore, startUploadSweeper } from '../uploads.ts';

const issuer = 'https://fila-test.supabase.co/auth/v1';
const publicIp = '127.0.0.3';
let api: TestApi;
let files: Server; // the stand-in public file server
let filesUrl: string;
let inside: Server; // a service inside our network
let insideUrl: string;
const insideHits: string[] = [];
const logLines: Array<{ level: number; msg: string; err?: unknown }> = [];

beforeAll(async () => {
  inside = createServer((req, res) => { insideHits.push(req.url ?? ''); res.end('internal'); });
  await new Promise<void>((r) => inside.listen(0, '127.0.0.1', r));
  insideUrl = `http://127.0.0.1:${(inside.address() as AddressInfo).port}`;
  files = createServer((req, res) => {
    const url = req.url ?? '';
    if (url.startsWith('/ok.png')) { res.writeHead(200, { 'content-type': 'image/png' }); res.end(req.method === 'HEAD' ? undefined : 'png'); return; }
    if (url === '/get-only.png') {
      if (req.method === 'HEAD') { res.writeHead(405); res.end(); return; }
      res.writeHead(req.headers.range === 'bytes=0-0' ? 206 : 200, { 'content-type': 'image/png' }); res.end('p'); return;
    }
    if (url === '/hang.png') return; // never answers
    if (url === '/to-inside.png') { res.writeHead(302, { location: `${insideUrl}/secret.png` }); res.end(); return; }
    res.writeHead(url === '/private.png' ? 403 : 404); res.end();
  });
  await new Promise<void>((r) => files.listen(0, publicIp, r));
  filesUrl = `http://${publicIp}:${(files.address() as AddressInfo).port}`;
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { logLines.push(JSON.parse(chunk.toString()) as never); done(); } });
  api = await startTestApi({
    tokenAudience: { audience: 'authenticated', issuer },
    inputCheckTimeoutMs: 800,
    inputCheckNetwork: {
      allowAddress: (ip) => ip === publicIp,
      // names an attacker controls: one points at our stand-in "public" server, one inward
      resolve: async (host) => [{ address: host === 'evil.attacker.net' ? '127.0.0.1' : publicIp, family: 4 }],
    },
    uploadLimits: { maxFiles: 3, maxBytes: 1024 * 1024, retentionSeconds: 3600, graceSeconds: 600 },
    logger: pino({ level: 'info' }, sink),
  });
});
afterAll(async () => {
  await api?.close();
  for (const s of [files, inside]) {
    s?.closeAllConnections();
    await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
  }
});
beforeEach(async () => { await clearActive(api.t); });

const token = (user: string, opts: { operator?: boolean; audience?: string; issuer?: string | null } = {}) => {
  const jwt = new SignJWT({ role: 'authenticated', ...(opts.operator ? { fila_role: 'operator' } : {}) })
    .setProtectedHeader({ alg: 'HS256' }).setSubject(user).setIssuedAt().setExpirationTime('1h');
  if (opts.audience !== '') jwt.setAudience(opts.audience ?? 'authenticated');
  if (opts.issuer !== null) jwt.setIssuer(opts.issuer ?? issuer);
  return jwt.sign(new TextEncoder().encode(jwtSecret));
};

async function call(user: string | null, route: string, init: RequestInit & { json?: unknown; raw?: string; operator?: boolean } = {}): Promise<Response> {
  const { json, raw, operator, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (user) headers.set('authorization', `Bearer ${await token(user, { operator: operator ?? false })}`);
  if (json !== undefined || raw !== undefined) headers.set('content-type', 'application/json');
  const body = raw ?? (json !== undefined ? JSON.stringify(json) : rest.body);
  return fetch(api.url + route, { method: 'POST', ...rest, headers, ...(body !== undefined ? { body } : {}) });
}

async function funded(amount = 20): Promise<string> {
  const user = uid();
  await api.t.fila.grantCredits(user, amount, 'test');
  return user;
}

/** The request must be refused with this status and code, and change nothing at all. */
async function refused(res: Promise<Response>, status: number, code: string): Promise<{ code: string; message: string; details?: unknown }> {
  const before = await snapshot(api.t);
  const uploadsBefore = (await api.t.admin.query('select count(*)::int as n from fila.uploads')).rows[0] as { n: number };
  const r = await res;
  const body = (await r.json()) as { error: { code: string; message: string; details?: unknown } };
  expect([r.status, body.error.code], body.error.message).toEqual([status, code]);
  expect(await snapshot(api.t)).toEqual(before);
  expect((await api.t.admin.query('select count(*)::int as n from fila.uploads')).rows[0]).toEqual(uploadsBefore);
  return body.error;
}

const upscale = (image_url: string) => ({ tool: 'upscaler', input: { image_url, category: 'pessoas' } });

describe('tokens are for us (aud, iss)', () => {
  it('accepts a token for our audience and issuer', async () => {
    const res = await call(await funded(), '/v1/me/credits', { method: 'GET' });
    expect(res.status).toBe(200);
  });

  it('refuses with 401 a token signed with our secret but for another audience, with no audience, or from another issuer, and changes nothing', async () => {
    const user = await funded();
    for (const opts of [{ audience: 'service_role' }, { audience: '' }, { issuer: 'https://other.supabase.co/auth/v1' }, { issuer: null }]) {
      const jwt = await token(user, opts);
      const e = await refused(fetch(`${api.url}/v1/jobs`, {
        method: 'POST', body: JSON.stringify(upscale('https://files.example/a.png')),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${jwt}` },
      }), 401, 'invalid_token');
      expect(e.message, JSON.stringify(opts)).toMatch(/Token inválido/);
    }
    // the operator dashboard checks the same
    const op = await token(uid(), { operator: true, audience: 'anon' });
    expect((await fetch(`${api.url}/dashboard/state`, { headers: { authorization: `Bearer ${op}` } })).status).toBe(401);
  });
});

describe('input URLs into our network are refused at submit (SSRF)', () => {
  it('answers 400 invalid_input naming the field for loopback, metadata, private, IPv6 loopback, internal names and numeric tricks; no job, no debit, nothing fetched', async () => {
    const user = await funded();
    for (const url of [`${insideUrl}/v1/queue.png`, 'http://169.254.169.254/latest/meta-data/iam/x.png', 'http://10.0.0.5/x.png',
      'http://[::1]:8787/x.png', 'http://localhost:5432/x.png', 'http://2130706433/x.png', 'http://[::ffff:169.254.169.254]/x.png',
      'http://100.100.100.200/x.png', 'http://metadata.google.internal/x.png']) {
      const e = await refused(call(user, '/v1/jobs', { json: upscale(url) }), 400, 'invalid_input');
      // an IPv6 literal is already outside the tools' URL form (the database checks the same form)
      const code = url.includes('[') ? 'invalid_format' : 'url_not_public';
      expect(e.details, url).toEqual([expect.objectContaining({ path: 'input.image_url', code })]);
    }
    expect(insideHits).toEqual([]);
  });

  it('refuses a name that resolves inward, and a public URL that redirects inward, without reaching the inside', async () => {
    const user = await funded();
    await refused(call(user, '/v1/jobs', { json: upscale(`http://evil.attacker.net:${(inside.address() as AddressInfo).port}/a.png`) }), 400, 'invalid_input');
    await refused(call(user, '/v1/jobs', { json: upscale(`${filesUrl}/to-inside.png`) }), 400, 'invalid_input');
    expect(insideHits).toEqual([]);
  });
});

describe('nobody holds a slot for an unreadable input', () => {
  it('answers 422 input_unreadable at submit with the field, the URL and the HTTP status: no job, no debit', async () => {
    const user = await funded();
    const e = await refused(call(user, '/v1/jobs', { json: upscale(`${filesUrl}/missing.png`) }), 422, 'input_unreadable');
    expect(e.message).toBe(`Arquivo de entrada ilegível (HTTP 404): ${filesUrl}/missing.png`);
    expect(e.details).toEqual({ path: 'input.image_url', url: `${filesUrl}/missing.png`, status: 404 });
    const both = await refused(call(user, '/v1/jobs', { json: { tool: 'veste_ai', input: { person_image_url: `${filesUrl}/ok.png`, garment_image_url: `${filesUrl}/private.png` } } }), 422, 'input_unreadable');
    expect(both.details).toMatchObject({ path: 'input.garment_image_url', status: 403 });
  });

  it('gives up on an input that never answers within the bound and refuses it, never having created the job', async () => {
    const user = await funded();
    const e = await refused(call(user, '/v1/jobs', { json: upscale(`${filesUrl}/hang.png`) }), 422, 'input_unreadable');
    expect(e.details).toEqual({ path: 'input.image_url', url: `${filesUrl}/hang.png`, reason: 'no answer within 800 ms' });
    expect(await api.t.fila.activeJob(user)).toBeNull();
  });

  it('accepts a readable input (HEAD, or a one-byte GET where HEAD is refused) and starts the job', async () => {
    for (const path of ['/ok.png', '/get-only.png']) {
      const res = await call(await funded(), '/v1/jobs', { json: upscale(`${filesUrl}${path}`) });
      expect(res.status, path).toBe(201);
      await clearActive(api.t);
    }
  });

  it('with the fake provider, takes example hosts as readable unless #fake=unreadable says otherwise', async () => {
    const user = await funded();
    const e = await refused(call(user, '/v1/jobs', { json: upscale('https://files.example/a.png#fake=unreadable:404') }), 422, 'input_unreadable');
    expect(e.details).toMatchObject({ path: 'input.image_url', status: 404 });
    await refused(call(user, '/v1/jobs', { json: upscale('https://files.example/a.png#fake=unreadable:timeout') }), 422, 'input_unreadable');
    expect((await call(user, '/v1/jobs', { json: upscale('https://files.example/a.png#fake=ok') })).status).toBe(201);
  });

  it("reads fila's own upload URLs from the store: an existing one is accepted, a missing one is 422", async () => {
    const user = await funded();
    const up = await upload(user, pngBlob());
    expect(up.status).toBe(201);
    const { url } = (await up.json()) as { url: string };
    await refused(call(user, '/v1/jobs', { json: upscale(url.replace(/[0-9a-f]{8}-/, '00000000-')) }), 422, 'input_unreadable');
    expect((await call(user, '/v1/jobs', { json: upscale(url) })).status).toBe(201);
  });
});

const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(1000, 7)]);
const pngBlob = (size = png.length) => new Blob([Buffer.concat([png, Buffer.alloc(Math.max(0, size - png.length))])], { type: 'image/png' });
function upload(user: string | null, blob: Blob): Promise<Response> {
  const form = new FormData();
  form.append('file', blob, 'photo.png');
  return call(user, '/v1/uploads', { body: form });
}

describe('uploads cannot fill the disk', () => {
  it('refuses uploads from a user with no balance (402), keeping nothing', async () => {
    const before = readdirSync(api.uploadDir).length;
    await refused(upload(uid(), pngBlob()), 402, 'insufficient_credits');
    expect(readdirSync(api.uploadDir)).toHaveLength(before);
  });

  it('refuses the upload past the per-user file count with 429, even when the uploads race; other users are not affected', async () => {
    const user = await funded();
    const before = readdirSync(api.uploadDir).length;
    const results = await Promise.all(Array.from({ length: 8 }, () => upload(user, pngBlob())));
    expect(results.map((r) => r.status).sort()).toEqual([201, 201, 201, 429, 429, 429, 429, 429]);
    const refusal = (await results.find((r) => r.status === 429)!.json()) as { error: { code: string } };
    expect(refusal.error.code).toBe('upload_quota_exceeded');
    expect(readdirSync(api.uploadDir)).toHaveLength(before + 3); // a refused file is not kept
    expect((await upload(await funded(), pngBlob())).status).toBe(201);
  });

  it('refuses the upload that would pass the per-user byte quota', async () => {
    const user = await funded();
    expect((await upload(user, pngBlob(700 * 1024))).status).toBe(201);
    await refused(upload(user, pngBlob(400 * 1024)), 429, 'upload_quota_exceeded');
  });

  it('serves uploads with nosniff and a Content-Security-Policy that runs nothing', async () => {
    const res = await upload(await funded(), pngBlob());
    const { url } = (await res.json()) as { url: string };
    const back = await fetch(url);
    expect(back.headers.get('x-content-type-options')).toBe('nosniff');
    expect(back.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
  });

  it('deletes uploads past retention, or past their finished job plus grace, never one an active job needs; then they no longer count', async () => {
    const user = await funded(50);
    const urls: string[] = [];
    for (let i = 0; i < 3; i++) urls.push(((await (await upload(user, pngBlob())).json()) as { url: string }).url);
    const names = urls.map((u) => u.slice(u.lastIndexOf('/') + 1));
    await refused(upload(user, pngBlob()), 429, 'upload_quota_exceeded');
    // names[0]: stored two hours ago (retention is one hour); names[1]: its job finished an hour ago (grace ten minutes);
    // names[2]: old, but the user's active job still needs it
    await api.t.admin.query(`update fila.uploads set created_at = now() - interval '2 hours' where name = any($1)`, [[names[0], names[2]]]);
    const { job: done } = await api.t.fila.submitJob({ userId: user, tool: 'upscaler', input: { image_url: urls[1], category: 'pessoas' } });
    await api.t.fila.finishJob(done.id, 'failed', null, 'test');
    await api.t.admin.query(`update fila.jobs set finished_at = now() - interval '1 hour' where id = $1`, [done.id]);
    await api.t.fila.submitJob({ userId: user, tool: 'upscaler', input: { image_url: urls[2], category: 'pessoas' } });

    const store = new LocalUploadStore(api.uploadDir, () => api.url);
    const sweeper = startUploadSweeper(api.t.fila, store, { maxFiles: 3, maxBytes: 1024 * 1024, retentionSeconds: 3600, graceSeconds: 600 }, pino({ level: 'silent' }), 3_600_000);
    try {
      expect(await sweeper.sweep()).toBe(2);
    } finally {
      sweeper.stop();
    }
    const left = new Set(readdirSync(api.uploadDir));
    expect([left.has(names[0]!), left.has(names[1]!), left.has(names[2]!)]).toEqual([false, false, true]);
    expect((await fetch(urls[0]!)).status).toBe(404);
    expect((await upload(user, pngBlob())).status).toBe(201); // room again
  });
});

describe('bad input is a 4xx that writes nothing, logged at warn', () => {
  const nul = '\u0000';
  const lone = '\ud800';

  it('answers 400 to a NUL or a lone surrogate in any string of a job input (value or key), never 500', async () => {
    const user = await funded();
    const bodies = [
      { tool: 'upscaler', input: { image_url: 'https://files.example/a.png', category: `pessoas${nul}` } },
      { tool: 'upscaler', input: { image_url: `https://files.example/a${lone}.png`, category: 'pessoas' } },
      { tool: 'upscaler', input: { image_url: 'https://files.example/a.png', category: 'pessoas', [`x${nul}`]: 1 } },
      { tool: `upscaler${nul}`, input: {} },
      { tool: 'upscaler', input: { nested: [{ deep: `\udc00tail` }] } },
    ];
    for (const body of bodies) {
      const e = await refused(call(user, '/v1/jobs', { json: body }), 400, 'invalid_input');
      expect(e.details, JSON.stringify(body)).toEqual([expect.objectContaining({ code: 'unstorable_text' })]);
    }
  });

  it('answers 400 to a "__proto__" key anywhere in a job body, which a copy would otherwise drop silently', async () => {
    const user = await funded();
    const raws = [
      '{"tool":"upscaler","input":{"image_url":"https://files.example/a.png","category":"pessoas","__proto__":{"x":1}}}',
      '{"tool":"upscaler","input":{"image_url":"https://files.example/a.png","category":"pessoas"},"__proto__":null}',
      '{"tool":"upscaler","input":{"image_url":"https://files.example/a.png","category":"pessoas","deep":[{"__proto__":"x"}]}}',
    ];
    for (const raw of raws) {
      const e = await refused(call(user, '/v1/jobs', { raw }), 400, 'invalid_input');
      expect(e.details, raw).toEqual([expect.objectContaining({ code: 'reserved_key' })]);
    }
  });

  it('answers 400 to a webhook body with a NUL or a lone surrogate, storing nothing in the inbox', async () => {
    const user = await funded();
    const { job } = await api.t.fila.submitJob({ userId: user, tool: 'upscaler', input: { image_url: 'https://files.example/a.png', category: 'pessoas' } });
    const url = `/v1/webhooks/runninghub/${job.id}?token=${webhookToken(job.id, webhookSecret)}`;
    for (const body of [{ event: 'TASK_END', taskId: `1${nul}`, eventData: '{}' }, { event: 'TASK_END', taskId: '1', eventData: `{"x":"${lone}"}` }]) {
      await refused(call(null, url, { json: body }), 400, 'invalid_input');
    }
  });

  it('answers 400 to a multipart body without a boundary, or cut off, keeping no file', async () => {
    const user = await funded();
    const before = readdirSync(api.uploadDir).length;
    const jwt = await token(user);
    await refused(fetch(`${api.url}/v1/uploads`, { method: 'POST', body: 'whatever', headers: { authorization: `Bearer ${jwt}`, 'content-type': 'multipart/form-data' } }), 400, 'invalid_input');
    const boundary = 'fila-cut';
    const cut = Buffer.concat([Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a.png"\r\ncontent-type: image/png\r\n\r\n`), png]);
    await refused(fetch(`${api.url}/v1/uploads`, { method: 'POST', body: cut, headers: { authorization: `Bearer ${jwt}`, 'content-type': `multipart/form-data; boundary=${boundary}` } }), 400, 'invalid_input');
    expect(readdirSync(api.uploadDir)).toHaveLength(before);
  });

  it("answers 400 to an operator grant of 3,000,000,000 credits (past PostgreSQL's integer), granting nothing", async () => {
    const target = uid();
    const e = await refused(call(uid(), '/v1/admin/credits', { operator: true, json: { user_id: target, amount: 3_000_000_000, reason: 'x' }, headers: { 'idempotency-key': 'big-1' } }), 400, 'invalid_input');
    expect(e.details).toEqual([expect.objectContaining({ path: 'amount' })]);
    await refused(call(uid(), '/v1/admin/credits', { operator: true, json: { user_id: target, amount: -3_000_000_000, reason: 'x' }, headers: { 'idempotency-key': 'big-2' } }), 400, 'invalid_input');
  });

  it('logged every one of those at warn, never at error with a stack', () => {
    expect(logLines.filter((l) => l.level >= 50)).toEqual([]);
    expect(logLines.filter((l) => l.level === 40 && l.msg === 'bad request').length).toBeGreaterThanOrEqual(10);
  });
});

describe('operators and links', () => {
  it("records the operator on a grant made over HTTP (the API's role cannot grant any other way)", async () => {
    const operator = uid();
    const target = uid();
    const res = await call(operator, '/v1/admin/credits', { operator: true, json: { user_id: target, amount: 9, reason: 'ticket 7' }, headers: { 'idempotency-key': 'op-1' } });
    expect(res.status).toBe(200);
    const { rows } = await api.t.admin.query('select amount, operator_id from fila.credit_ledger where user_id = $1', [target]);
    expect(rows).toEqual([{ amount: 9, operator_id: operator }]);
  });

  it('renders every link that opens a new tab with rel="noopener noreferrer" in the dashboard script', async () => {
    const script = await (await fetch(`${api.url}/dashboard/app.js`)).text();
    const blank = script.match(/target="_blank"[^>]*>/g) ?? [];
    expect(blank.length).toBeGreaterThan(0);
    expect(blank.filter((a) => !a.includes('rel="noopener noreferrer"'))).toEqual([]);
  });
});
