// What the API does with a RunningHub webhook (its contract, for tests that run without the API):
// check the per-job token, store the raw payload with fila.receive_webhook, answer 200 at once.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FilaDb } from '../../db/fila.ts';
import { verifyWebhookToken } from '../../common/webhook-token.ts';

export interface WebhookReceiver {
  url: string;
  received: Array<{ jobId: string; status: number; inboxId: number | null }>;
  stop(): Promise<void>;
}

export async function startWebhookReceiver(db: FilaDb, secret: string): Promise<WebhookReceiver> {
  const received: WebhookReceiver['received'] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      const u = new URL(req.url ?? '/', 'http://receiver');
      const m = /^\/v1\/webhooks\/runninghub\/([0-9a-f-]{36})$/.exec(u.pathname);
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const answer = (status: number, inboxId: number | null = null): void => {
        received.push({ jobId: m?.[1] ?? '', status, inboxId });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(status === 200 ? { ok: true } : { error: { code: 'rejected', message: 'rejected' } }));
      };
      if (req.method !== 'POST' || !m) return answer(404);
      if (!verifyWebhookToken(m[1]!, u.searchParams.get('token') ?? '', secret)) return answer(401);
      let payload: unknown;
      try {
        payload = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        process.emitWarning(`webhook receiver: body is not JSON: ${String(err)}`);
        return answer(400);
      }
      answer(200, await db.receiveWebhook(m[1]!, 'runninghub', payload));
    })().catch((err: unknown) => {
      process.emitWarning(`webhook receiver: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    stop: () => new Promise((resolve, reject) => {
      server.close((e) => (e ? reject(e) : resolve()));
      server.closeAllConnections();
    }),
  };
}
