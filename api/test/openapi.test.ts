// The OpenAPI document is valid, generated from the same schemas, and lists every route of the
// contract; /docs renders it with nothing fetched from elsewhere; `npm run api` refuses to start in
// production without its secrets.
import { Validator } from '@seriousme/openapi-schema-validator';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../dev/test-support/api.ts';

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
  it('refuses to start in production without its secrets, saying which one', async () => {
    const run = (env: Record<string, string>) => new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'api/main.ts'], {
        env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', DATABASE_URL: api.t.url, PORT: '0', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
      child.on('error', reject);
      child.on('exit', (code) => resolve({ code, output }));
    });
    const noJwt = await run({ FILA_WEBHOOK_SECRET: 'w' });
    expect(noJwt.code).toBe(1);
    expect(noJwt.output).toContain('FILA_JWT_SECRET is not set');
    const noWebhook = await run({ FILA_JWT_SECRET: 'j' });
    expect(noWebhook.code).toBe(1);
    expect(noWebhook.output).toContain('FILA_WEBHOOK_SECRET is not set');
  });

  it('starts in development with default secrets, serves, and closes gracefully on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'api/main.ts'], {
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'development', DATABASE_URL: api.t.url, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    const exited = new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code) => resolve(code));
    });
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        output += d.toString();
        const m = /"url":"(http:\/\/[^"]+)"/.exec(output);
        if (m?.[1]) resolve(m[1]);
      });
      setTimeout(() => reject(new Error(`no listening line: ${output}`)), 20_000).unref();
    });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('fila API closed');
  });
});
