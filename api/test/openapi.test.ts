// The OpenAPI document is valid, generated from the same schemas, and lists every route of the
// contract; /docs renders it with nothing fetched from elsewhere; `npm run api` refuses to start
// without its secrets, whatever NODE_ENV says, and honours LOG_LEVEL.
import { Validator } from '@seriousme/openapi-schema-validator';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type AddressInfo } from 'node:net';
import { startTestApi, waitFor, type TestApi } from '../../dev/test-support/api.ts';

let api: TestApi;
beforeAll(async () => { api = await startTestApi(); });
afterAll(async () => { await api.close(); });

const contract = [
  'post /v1/jobs', 'get /v1/jobs/{id}', 'get /v1/jobs/{id}/events', 'post /v1/jobs/{id}/cancel',
  'get /v1/me/active-job', 'get /v1/me/credits', 'post /v1/uploads', 'post /v1/webhooks/runninghub/{jobId}',
  'post /v1/jobs/{id}/heartbeat', 'get /v1/queue', 'post /v1/admin/credits', 'get /healthz', 'get /metrics', 'get /openapi.json',
];

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI document that lists every route of the contract', async () => {
    const res = await fetch(`${api.url}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { security?: unknown[] }>> };
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe('3.1.0');
    const routes = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m} ${path}`));
    for (const route of contract) expect(routes).toContain(route);
    // the user routes say they need a bearer token; the webhook and operations do not
    expect(doc.paths['/v1/jobs']?.post?.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/v1/webhooks/runninghub/{jobId}']?.post?.security).toBeUndefined();
    // the tools' own input schemas (shared with the worker) are in it
    const schemas = Object.keys((doc as unknown as { components: { schemas: Record<string, unknown> } }).components.schemas);
    expect(schemas).toEqual(expect.arrayContaining(['UpscalerInput', 'PoseChangerInput', 'VesteAiInput', 'VideoUpscalerInput', 'Job', 'Error']));
  });

  it('renders /docs from it as one page that loads nothing from elsewhere', async () => {
    const res = await fetch(`${api.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    for (const route of contract) {
      const [method, path] = route.split(' ') as [string, string];
      expect(html).toContain(`${method.toUpperCase()} ${path}`);
    }
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=["']https?:|@import|https?:\/\/(?:cdn|unpkg|fonts)/i);
  });
});

describe('npm run api', () => {
  const run = (env: Record<string, string>) => {
    const child = spawn(process.execPath, ['scripts/run.mjs', 'api/main.ts'], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: api.t.url, PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    const exited = new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code) => resolve(code));
    });
    return { child, exited, output: () => output };
  };

  it('refuses to start without a secret whatever NODE_ENV says (unset, development, staging, production), in one line naming it', async () => {
    const envs = [undefined, 'development', 'staging', 'production'];
    // all at once: each is a cold node process
    const runs = envs.flatMap((NODE_ENV) => [
      { NODE_ENV, missing: 'FILA_JWT_SECRET', p: run({ FILA_WEBHOOK_SECRET: 'w', ...(NODE_ENV ? { NODE_ENV } : {}) }) },
      { NODE_ENV, missing: 'FILA_WEBHOOK_SECRET', p: run({ FILA_JWT_SECRET: 'j', ...(NODE_ENV ? { NODE_ENV } : {}) }) },
    ]);
    for (const { NODE_ENV, missing, p } of runs) {
      expect(await p.exited, NODE_ENV).toBe(1);
      expect(p.output().trim().split('\n'), NODE_ENV).toEqual([expect.stringContaining(`${missing} is not set`)]);
    }
  }, 180_000);

  it('starts with its secrets, serves, and closes gracefully on SIGTERM', async () => {
    const p = run({ NODE_ENV: 'development', FILA_JWT_SECRET: 'j', FILA_WEBHOOK_SECRET: 'w' });
    const url = await waitFor('the listening line', () => /"url":"(http:\/\/[^"]+)"/.exec(p.output())?.[1], 90_000);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.output()).toContain('fila API closed');
  }, 120_000);

  it('honours LOG_LEVEL: at warn it serves without writing one info line', async () => {
    const port = await freePort();
    const p = run({ NODE_ENV: 'development', FILA_JWT_SECRET: 'j', FILA_WEBHOOK_SECRET: 'w', LOG_LEVEL: 'warn', PORT: String(port) });
    await waitFor('the API to answer /healthz', async () => {
      // not listening yet is the one failure this wait expects
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch((e: unknown) => {
        if ((e as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') return null;
        throw e;
      });
      return res?.status === 200;
    }, 90_000);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.output()).not.toMatch(/"level":30/);
  }, 120_000);

  it('refuses a LOG_LEVEL it does not know, naming the variable', async () => {
    const p = run({ FILA_JWT_SECRET: 'j', FILA_WEBHOOK_SECRET: 'w', LOG_LEVEL: 'loud' });
    expect(await p.exited).toBe(1);
    expect(p.output()).toContain('LOG_LEVEL');
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
