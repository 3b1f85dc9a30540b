// Nodes configured with "upload": true: the worker reads the input URL and uploads it to
// /task/openapi/upload, and the node gets the provider's fileName; a missing file fails that job.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultWorkflowsFile, parseToolsConfig } from '../../common/tools/index.ts';
import { startHarness, type Harness } from '../../dev/test-support/harness.ts';

let h: Harness;
let files: Server;
let filesUrl: string;
beforeAll(async () => {
  h = await startHarness();
  files = createServer((req, res) => {
    if (req.url === '/person.png') { res.writeHead(200, { 'content-type': 'image/png' }); res.end(Buffer.alloc(2048, 1)); return; }
    res.writeHead(404); res.end();
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  const cfg = JSON.parse(readFileSync(defaultWorkflowsFile, 'utf8')) as { veste_ai: { nodes: Record<string, Record<string, unknown>> } };
  cfg.veste_ai.nodes.person_image!.upload = true;
  await h.startWorker({ tools: parseToolsConfig(cfg, 'upload-test') });
});
afterAll(async () => {
  await h?.stop();
  files?.closeAllConnections();
  await new Promise<void>((r) => (files ? files.close(() => r()) : r()));
});

describe('uploaded inputs', () => {
  it('uploads the file and passes the provider\'s fileName; the other node keeps its URL', async () => {
    const job = await h.submit('veste_ai', { person_image_url: `${filesUrl}/person.png`, garment_image_url: 'https://files.example/g.png' });
    expect((await h.waitStatus(job.id, ['completed', 'failed'])).status).toBe('completed');
    const up = h.fake.requestsTo('upload');
    expect(up.map((r) => r.body)).toEqual([{ apiKey: h.apiKey, fileType: 'image', fileName: 'person.png', size: 2048 }]);
    const [create] = h.createsFor(job.id);
    expect((create!.nodeInfoList as Array<{ fieldValue: string }>)[0]!.fieldValue).toMatch(/^api\/[0-9a-f]{32}\.png$/);
    expect((create!.nodeInfoList as Array<{ fieldValue: string }>)[1]!.fieldValue).toBe('https://files.example/g.png');
  });

  it('an input file that does not exist fails that job with a clear message, refunded, no task created', async () => {
    const job = await h.submit('veste_ai', { person_image_url: `${filesUrl}/gone.png`, garment_image_url: 'https://files.example/g.png' });
    const done = await h.waitStatus(job.id, ['completed', 'failed']);
    expect(done.error).toBe(`Arquivo de entrada indisponível (HTTP 404): ${filesUrl}/gone.png`);
    expect(h.createsFor(job.id)).toEqual([]);
    expect(await h.refunds(job.id)).toBe(1);
  });
});
