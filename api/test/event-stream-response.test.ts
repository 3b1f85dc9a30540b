// One event stream's response, over real HTTP on loopback: what a client that stops reading is
// sent, and that a stream's reservation and gauge are released once, whichever way it ends.
import http, { type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../dev/test-support/wait.ts';
import { SseResponse } from '../event-stream.ts';
import { ssePing } from '../job-events.ts';
import { ApiMetrics } from '../metrics.ts';

let server: http.Server | null = null;
/** the client socket of the stream being opened */
let currentClient: net.Socket | null = null;
afterEach(async () => {
  await new Promise<void>((r) => { if (server) { server.closeAllConnections(); server.close(() => r()); } else r(); });
  server = null;
});

async function gauge(metrics: ApiMetrics): Promise<number> {
  return (await metrics.sseStreams.get()).values[0]?.value ?? 0;
}

interface Opened { sink: SseResponse; res: ServerResponse; metrics: ApiMetrics; released: number[]; detached: number[] }

/** A real server whose one request becomes an SseResponse (after `beforeOpen`), and a raw client socket. */
async function openStream(beforeOpen: (res: ServerResponse) => Promise<void> = async () => undefined): Promise<{ opened: Opened; client: net.Socket; received: () => string }> {
  let resolveOpened!: (o: Opened) => void;
  const openedP = new Promise<Opened>((r) => { resolveOpened = r; });
  server = http.createServer((_req, res) => {
    void (async () => {
      await beforeOpen(res);
      if (!res.destroyed) res.writeHead(200, { 'content-type': 'text/event-stream' });
      const metrics = new ApiMetrics();
      const released: number[] = [];
      const detached: number[] = [];
      const sink = new SseResponse(res, () => released.push(1), metrics, pino({ level: 'silent' }), { req_id: 'r', user_id: 'u', job_id: 'j' });
      sink.attached(() => detached.push(1));
      resolveOpened({ sink, res, metrics, released, detached });
    })();
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const client = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  let text = '';
  client.on('data', (d: Buffer) => { text += d.toString('latin1'); });
  client.on('error', () => undefined); // a test that destroys the socket expects its end
  await new Promise<void>((r) => client.once('connect', r));
  currentClient = client;
  client.write('GET /events HTTP/1.1\r\nHost: fila.test\r\n\r\n');
  return { opened: await openedP, client, received: () => text };
}

describe('SseResponse', () => {
  it('keeps no backlog for a client that stops reading: the latest event waits, heartbeats are skipped, then it ends', async () => {
    const { opened: { sink, metrics, released, detached }, client, received } = await openStream();
    client.pause(); // the client stops reading
    expect(await gauge(metrics)).toBe(1);
    sink.write('event: job\ndata: 1\n\n');
    // more than the socket and both kernel buffers hold while nobody reads: the socket is full
    sink.write(`event: job\ndata: 2${'x'.repeat(32 * 1024 * 1024)}\n\n`);
    sink.write('event: job\ndata: 3\n\n');
    sink.write(ssePing);
    sink.write('event: job\ndata: 4\n\n');
    sink.close(); // settled: ends once the last event is out
    client.resume();
    await waitFor('the end of the stream', () => received().endsWith('0\r\n\r\n'), 30_000);
    const body = received();
    expect(body.indexOf('data: 1')).toBeGreaterThan(0);
    expect(body.indexOf('data: 2')).toBeGreaterThan(body.indexOf('data: 1'));
    expect(body.indexOf('data: 4')).toBeGreaterThan(body.indexOf('data: 2'));
    expect(body).not.toContain('data: 3'); // replaced by the latest while the socket was full
    expect(body).not.toContain(': ping');
    await waitFor('the release', () => released.length === 1);
    expect([released.length, detached.length, await gauge(metrics)]).toEqual([1, 1, 0]);
    client.destroy();
  });

  it('releases once when the client goes away, and writes nothing after', async () => {
    const { opened: { sink, res, metrics, released, detached }, client, received } = await openStream();
    sink.write('event: job\ndata: 1\n\n');
    await waitFor('the first event', () => received().includes('data: 1'));
    client.destroy();
    await waitFor('the server to see the client go', () => res.destroyed && released.length > 0);
    sink.write('event: job\ndata: 2\n\n');
    sink.close();
    expect([released.length, detached.length, await gauge(metrics)]).toEqual([1, 1, 0]);
  });

  it('releases at once when the client left before the stream opened', async () => {
    const { opened: { sink, metrics, released, detached } } = await openStream(async (res) => {
      currentClient!.destroy(); // the client leaves while the job is being read
      await new Promise<void>((r) => { if (res.destroyed) r(); else res.once('close', () => r()); });
    });
    sink.write('event: job\ndata: 1\n\n');
    expect([released.length, detached.length, await gauge(metrics)]).toEqual([1, 1, 0]);
  });
});
