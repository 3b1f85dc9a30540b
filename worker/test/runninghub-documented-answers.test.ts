// The client reads RunningHub's documented example answers byte for byte (the fixtures beside this
// fake, dev/fake-runninghub/fixtures, copied from the design's RunningHub fixtures), served over real HTTP; and every documented code
// is classified in the one table, which worker/README.md shows as it is.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseUrlWarning, createFailure, RunningHubClient, RunningHubError } from '../runninghub/client.ts';
import { classifyCode, codeTable, codeTableMarkdown } from '../runninghub/codes.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixturesDir = path.join(here, '..', '..', 'dev', 'fake-runninghub', 'fixtures');
const fixture = (name: string): string => readFileSync(path.join(fixturesDir, name), 'utf8');

// what the documented server answers, per endpoint; a test picks the answer before it calls
let answers: Record<string, string> = {};
let server: Server;
let client: RunningHubClient;
beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = answers[req.url ?? ''] ?? '{"code":404,"msg":"not in this test","data":null}';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  client = new RunningHubClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, apiKey: 'k', timeoutMs: 5000 });
});
afterAll(async () => {
  await new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
});

describe('the documented answers, as RunningHub sends them', () => {
  it('create (create.response.json): the task id as text, QUEUED, and no create-time failure', async () => {
    answers = { '/task/openapi/create': fixture('create.response.json') };
    const created = await client.create({ workflowId: '1904136902449209346', nodeInfoList: [], webhookUrl: 'https://fila.example/h' });
    expect(created).toMatchObject({ taskId: '1910246754753896450', taskStatus: 'QUEUED' });
    expect(createFailure(created)).toBeNull();
  });

  it('create answered code 0 with taskStatus FAILED and node_errors (create.failed-node-errors.json): the node\'s own error text', async () => {
    answers = { '/task/openapi/create': fixture('create.failed-node-errors.json') };
    const created = await client.create({ workflowId: '1', nodeInfoList: [], webhookUrl: 'https://fila.example/h' });
    expect(createFailure(created)).toBe("Value not in list: image: 'missing.png' not in [] (node 276 LoadImage)");
  });

  it('status with data "" (status.empty.json) is an unknown status, not a bad answer; "RUNNING" is RUNNING', async () => {
    answers = { '/task/openapi/status': fixture('status.empty.json') };
    expect(await client.status('1910246754753896450')).toBeNull();
    answers = { '/task/openapi/status': fixture('status.response.json') };
    expect(await client.status('1910246754753896450')).toBe('RUNNING');
  });

  it('outputs success (outputs.success.json): the files, and the cost fields it carries', async () => {
    answers = { '/task/openapi/outputs': fixture('outputs.success.json') };
    const out = await client.outputs('1910246754753896450');
    expect(out).toMatchObject({ kind: 'success', files: [{ fileUrl: 'https://rh-images.example/output/ComfyUI_00033_hpgko.png', fileType: 'png', taskCostTime: '41' }] });
  });

  it('outputs failed (outputs.failed.json): RunningHub\'s exception_message and node name, not a generic text', async () => {
    answers = { '/task/openapi/outputs': fixture('outputs.failed.json') };
    expect(await client.outputs('1')).toMatchObject({
      kind: 'failed', code: 805, message: 'CUDA out of memory. Tried to allocate 2.00 GiB (UltimateSDUpscale)' });
  });

  it('an error answer (error.queue-maxed.json) keeps the provider\'s code and message, and 421 is capacity', async () => {
    answers = { '/task/openapi/create': fixture('error.queue-maxed.json') };
    const err = await client.create({ workflowId: '1', nodeInfoList: [], webhookUrl: 'https://fila.example/h' }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(RunningHubError);
    expect(err).toMatchObject({ code: 421, msg: 'TASK_QUEUE_MAXED' });
    expect(classifyCode(421)).toBe('capacity');
  });

  it('upload (upload.response.json): the fileName a node takes', async () => {
    answers = { '/task/openapi/upload': fixture('upload.response.json') };
    expect(await client.upload(new Blob([new Uint8Array(8)]), 'a.png', 'image')).toBe('api/7c1f5a9e0b3d4f0e8a2b6c1d9e3f4a5b.png');
  });
});

describe('the code table', () => {
  it('holds every documented code under its documented name, each with a class and a source', () => {
    const documented = JSON.parse(fixture('error-codes.json')) as Record<string, string>;
    const table = new Map<number, { name: string; source: string; class: string }>(codeTable.map((r) => [r.code, r]));
    for (const [code, name] of Object.entries(documented)) {
      expect(table.get(Number(code))?.name, `code ${code}`).toBe(name);
    }
    for (const r of codeTable) expect(r.source.length, `source of ${r.code}`).toBeGreaterThan(10);
  });

  it('sorts the classes as documented for operators: capacity, account, transient, tool configuration, the job', () => {
    const of = (...codes: number[]) => codes.map((c) => classifyCode(c));
    expect(of(415, 421, 814)).toEqual(Array(3).fill('capacity'));
    expect(of(412, 416, 436, 801, 802, 806, 811, 812)).toEqual(Array(8).fill('account'));
    expect(of(500, 808)).toEqual(Array(2).fill('transient'));
    expect(of(380, 433, 435, 803, 810)).toEqual(Array(5).fill('tool-config'));
    expect(of(12345)).toEqual(['unknown']); // never the user's fault
  });

  it('is the table worker/README.md shows', () => {
    const readme = readFileSync(path.join(here, '..', 'README.md'), 'utf8');
    expect(readme).toContain(codeTableMarkdown());
  });

  it('the copied fixtures are the shared ones when shared/ is beside the checkout', () => {
    const shared = path.join(here, '..', '..', '..', 'shared', 'fixtures', 'runninghub');
    let names: string[];
    try {
      names = readdirSync(shared).filter((n) => n.endsWith('.json'));
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOENT'); // a checkout without shared/ beside it
      return;
    }
    for (const n of names) expect(fixture(n), n).toBe(readFileSync(path.join(shared, n), 'utf8'));
  });
});

describe('RUNNINGHUB_BASE_URL', () => {
  it('warns about a host that is not the documented www. one, and not about the documented hosts or the local fake', () => {
    expect(baseUrlWarning('https://www.runninghub.ai')).toBeNull();
    expect(baseUrlWarning('https://www.runninghub.cn/')).toBeNull();
    expect(baseUrlWarning('http://127.0.0.1:4010')).toBeNull();
    expect(baseUrlWarning('https://runninghub.ai')).toMatch(/host runninghub\.ai is not a documented RunningHub API host/);
    expect(baseUrlWarning('https://api.runninghub.example')).toMatch(/not a documented/);
    expect(baseUrlWarning('not a url')).toMatch(/not a URL/);
  });
});
