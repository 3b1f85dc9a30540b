import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { startEmbedded, freePort } from '../../dev/embedded-postgres.ts';
import { createBenchDatabase, fundBenchUsers, benchUserIds } from '../../dev/bench-support.ts';
import { signToken } from '../../api/auth.ts';
import { startNode, waitForHttp } from './processes.ts';
const e = await startEmbedded({ dataDir: path.join(mkdtempSync(path.join(tmpdir(), 'probe-')), 'pg'), persistent: false });
try {
  const url = await createBenchDatabase(e.url, 'probe');
  await fundBenchUsers(url, 'h', 500);
  const ids = await benchUserIds(url, 'h', 1, 500);
  const tokens = await Promise.all(ids.map((id) => signToken('bench-jwt-secret-0123456789abcdef', id)));
  const port = await freePort();
  const child = startNode('api/main.ts', { DATABASE_URL: url, PORT: String(port), FILA_JWT_SECRET: 'bench-jwt-secret-0123456789abcdef', FILA_WEBHOOK_SECRET: 'x', NODE_ENV: 'production', FILA_PUBLIC_URL: `http://127.0.0.1:${port}`, HOST: '127.0.0.1' }, console.log);
  await waitForHttp(`http://127.0.0.1:${port}/healthz`);
  let next = 0;
  const body = JSON.stringify({ tool: 'upscaler', input: { image_url: 'https://files.example/bench.png#fake=hang', category: 'pessoas' } });
  const r0 = await autocannon({ url: `http://127.0.0.1:${port}/healthz`, connections: 4, duration: 3 }); console.log("healthz", r0.requests.average, r0.latency.p50);
  const r = await autocannon({ url: `http://127.0.0.1:${port}`, connections: 4, duration: 5, requests: [{ method: 'POST', path: '/v1/jobs', setupRequest: (req) => ({ ...req, body, headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[next++ % tokens.length]}` } }) }] });
  console.log(r.requests.average, r.latency.p50, r.non2xx, r.errors, r.timeouts, JSON.stringify(r.statusCodeStats));
  await child.stop();
} finally { await e.stop(); }
