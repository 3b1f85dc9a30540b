// Nodes configured with "upload": true: the worker reads the input file and uploads it to
// /task/openapi/upload, and the node gets the provider's fileName; a missing file fails that job.
// fila's own uploads are read from the store; a URL into our network is never fetched.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultWorkflowsFile, parseToolsConfig } from '../../common/tools/index.ts';
import { startHarness, type Harness } from '../../dev/test-support/harness.ts';

let h: Harness;
let uploadDir: string;
let inside: Server;
let insideUrl: string;
const insideRequests: string[] = [];
beforeAll(async () => {
  h = await startHarness();
  uploadDir = mkdtempSync(path.join(tmpdir(), 'fila-worker-uploads-'));
  // a service inside our network, as an attacker would point at it
  inside = createServer((req, res) => { insideRequests.push(req.url ?? ''); res.writeHead(200, { 'content-type': 'image/png' }); res.end('secret'); });
  await new Promise<void>((r) => inside.listen(0, '127.0.0.1', r));
  insideUrl = `http://127.0.0.1:${(inside.address() as AddressInfo).port}`;
  const cfg = JSON.parse(readFileSync(defaultWorkflowsFile, 'utf8')) as { veste_ai: { nodes: Record<string, Record<string, unknown>> } };
  cfg.veste_ai.nodes.person_image!.upload = true;
  await h.startWorker({ tools: parseToolsConfig(cfg, 'upload-test'), uploadDir });
});
afterAll(async () => {
  await h?.stop();
  inside?.closeAllConnections();
  await new Promise<void>((r) => (inside ? inside.close(() => r()) : r()));
});

function storedUpload(bytes: Buffer): string {
  const name = `${randomUUID()}.png`;
  writeFileSync(path.join(uploadDir, name), bytes);
  return `${h.receiver.url}/uploads/${name}`;
}

describe('uploaded inputs', () => {
  it('reads fila\'s own upload from the store, uploads it and passes the provider\'s fileName; the other node keeps its URL', async () => {
    const url = storedUpload(Buffer.alloc(2048, 1));
    const job = await h.submit('veste_ai', { person_image_url: url, garment_image_url: 'https://files.example/g.png' });
    expect((await h.waitStatus(job.id, ['completed', 'failed'])).status).toBe('completed');
    const up = h.fake.requestsTo('upload');
    expect(up.map((r) => r.body)).toEqual([{ apiKey: h.apiKey, fileType: 'image', fileName: path.posix.basename(url), size: 2048 }]);
    const [create] = h.createsFor(job.id);
    expect((create!.nodeInfoList as Array<{ fieldValue: string }>)[0]!.fieldValue).toMatch(/^api\/[0-9a-f]{32}\.png$/);
    expect((create!.nodeInfoList as Array<{ fieldValue: string }>)[1]!.fieldValue).toBe('https://files.example/g.png');
  });

  it('an uploaded file that is gone fails that job with a clear message, refunded, no task created', async () => {
    const url = `${h.receiver.url}/uploads/${randomUUID()}.png`;
    const job = await h.submit('veste_ai', { person_image_url: url, garment_image_url: 'https://files.example/g.png' });
    const done = await h.waitStatus(job.id, ['completed', 'failed']);
    expect(done.error).toBe(`Arquivo enviado não encontrado (expirado ou apagado): ${url}`);
    expect(h.createsFor(job.id)).toEqual([]);
    expect(await h.refunds(job.id)).toBe(1);
  });

  it('never fetches an input URL inside our network (loopback, metadata): the job fails at once saying why, refunded, no task', async () => {
    for (const url of [`${insideUrl}/admin.png`, 'http://169.254.169.254/latest/meta-data/iam.png']) {
      const job = await h.submit('veste_ai', { person_image_url: url, garment_image_url: 'https://files.example/g.png' });
      const done = await h.waitStatus(job.id, ['completed', 'failed']);
      expect(done.error).toMatch(/^Arquivo de entrada recusado: .* is not a public address: /);
      expect(h.createsFor(job.id)).toEqual([]);
      expect(await h.refunds(job.id)).toBe(1);
    }
    expect(insideRequests).toEqual([]);
  });
});
