// The per-job webhook token: RunningHub's webhooks are unsigned, so the URL we give it carries
// base64url(HMAC-SHA256(job id)) under FILA_WEBHOOK_SECRET. The worker builds it, the API checks it.
import { createHmac, timingSafeEqual } from 'node:crypto';

export function webhookToken(jobId: string, secret: string): string {
  return createHmac('sha256', secret).update(jobId).digest('base64url');
}

export function verifyWebhookToken(jobId: string, token: string, secret: string): boolean {
  const expected = Buffer.from(webhookToken(jobId, secret));
  const given = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function webhookUrl(publicUrl: string, jobId: string, secret: string): string {
  const base = publicUrl.replace(/\/+$/, '');
  return `${base}/v1/webhooks/runninghub/${jobId}?token=${webhookToken(jobId, secret)}`;
}
