// The HTTP API's schemas: they validate requests and generate /openapi.json (one source).
import { z } from '@hono/zod-openapi';
import { toolNames } from '../common/tools/index.ts';

export const ErrorSchema = z.object({
  error: z.object({
    code: z.string().openapi({ example: 'user_has_active_job' }),
    message: z.string().openapi({ example: 'Você já tem um processamento em andamento. Aguarde finalizar.' }),
    details: z.unknown().optional(),
  }),
}).openapi('Error');

const timestamp = z.string().openapi({ format: 'date-time' });

export const JobSchema = z.object({
  id: z.uuid(),
  user_id: z.uuid(),
  tool: z.string().openapi({ example: 'upscaler' }),
  status: z.enum(['queued', 'starting', 'running', 'completed', 'failed', 'canceled']),
  input: z.record(z.string(), z.unknown()),
  credit_cost: z.number().int(),
  provider_task_id: z.string().nullable(),
  outputs: z.array(z.object({
    url: z.string().openapi({ description: "The result: fila's copy once it has landed, the provider's URL until then (and when no copy can be made)" }),
    type: z.string(),
    provider_url: z.string().optional().openapi({ description: "The provider's URL (RunningHub's links expire)" }),
    copy_url: z.string().nullable().optional().openapi({ description: "fila's copy in its file store (unguessable URL, kept for the uploads' retention)" }),
    copy_status: z.enum(['pending', 'copied', 'refused', 'failed', 'expired']).nullable().optional()
      .openapi({ description: 'pending: being copied (retried with back-off); copied; refused: the download was not kept (address, size or type); failed: retries spent; expired: the copy was deleted by the retention policy' }),
  })).nullable(),
  error: z.string().nullable().openapi({ description: "The provider's own message when the job failed" }),
  presence: z.boolean(),
  created_at: timestamp,
  started_at: timestamp.nullable(),
  running_at: timestamp.nullable(),
  finished_at: timestamp.nullable(),
  deadline_at: timestamp.nullable(),
  account: z.string().nullable().openapi({ description: 'The provider account the job started on: null while queued' }),
  position: z.number().int().nullable().openapi({ description: '1-based place in the global queue while queued' }),
  eta: z.number().int().nullable().openapi({ description: 'Seconds until it starts, estimated while queued' }),
}).openapi('Job');

export const SubmitBody = z.object({
  tool: z.string().min(1).max(64).openapi({ enum: [...toolNames], example: 'upscaler' }),
  input: z.record(z.string(), z.unknown()).openapi({
    description: 'The tool\'s input; see the UpscalerInput, PoseChangerInput, VesteAiInput and VideoUpscalerInput schemas.',
    example: { image_url: 'https://example.com/photo.png', category: 'pessoas' },
  }),
  presence: z.boolean().optional().openapi({
    description: 'Cancel (and refund) the job if it is still queued and its page is gone (no event stream, no heartbeat) for the presence timeout. Browsers ask for it.',
  }),
}).openapi('SubmitJob');

export const IdempotencyHeaders = z.object({
  'idempotency-key': z.string().min(1).max(200).optional().openapi({
    description: 'Same key + same request = the same job (200), debited once',
  }),
});

export const RequiredIdempotencyHeaders = z.object({
  'idempotency-key': z.string().min(1).max(200).openapi({
    description: 'Required: the same key twice grants once',
  }),
});

export const JobIdParams = z.object({
  id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }),
});

export const LedgerEntrySchema = z.object({
  id: z.number().int(),
  user_id: z.uuid(),
  job_id: z.uuid().nullable(),
  kind: z.enum(['grant', 'debit', 'refund']),
  amount: z.number().int(),
  reason: z.string().nullable(),
  created_at: timestamp,
}).openapi('LedgerEntry');

export const MyJobsQuery = z.object({
  tool: z.enum(toolNames).optional().openapi({ description: 'Only this tool\'s jobs' }),
  status: JobSchema.shape.status.optional().openapi({ description: 'Only jobs in this status' }),
  cursor: z.uuid().optional().openapi({ description: 'The previous page\'s next_cursor' }),
  limit: z.coerce.number().int().min(1).max(100).optional().openapi({ description: 'Jobs per page (default 20)' }),
});

export const MyJobsPage = z.object({
  jobs: z.array(JobSchema.extend({
    refunded_credits: z.number().int().nullable().openapi({ description: 'Credits given back for this job (failed or canceled), null when none' }),
  })),
  next_cursor: z.uuid().nullable().openapi({ description: 'Pass as `cursor` for the next (older) page; null on the last page' }),
}).openapi('MyJobsPage');

export const CreditsSchema = z.object({
  balance: z.number().int(),
  recent: z.array(LedgerEntrySchema),
}).openapi('Credits');

export const QueueSchema = z.object({
  overview: z.object({
    slots_total: z.number().int(),
    slots_used: z.number().int(),
    queued: z.number().int(),
    oldest_queued_at: timestamp.nullable(),
    dispatch_paused_until: timestamp.nullable(),
    pause_reason: z.string().nullable(),
    backoff_step: z.number().int(),
  }),
  jobs: z.array(z.object({
    job_id: z.uuid(), user_id: z.uuid(), tool: z.string(), position: z.number().int(),
    queued_at: timestamp, presence: z.boolean(), last_seen_at: timestamp.nullable(),
  })),
}).openapi('Queue');

/** The largest credit grant or adjustment one request may make. */
export const maxGrantAmount = 1_000_000;

export const GrantBody = z.object({
  user_id: z.uuid(),
  // bounded well inside PostgreSQL's integer: 3,000,000,000 is a 400 here, not an overflow there
  amount: z.number().int().min(-maxGrantAmount).max(maxGrantAmount).refine((n) => n !== 0, 'amount must not be zero')
    .openapi({ description: `Positive: a top-up; negative: an adjustment (never below a zero balance). At most ${maxGrantAmount} either way.` }),
  reason: z.string().trim().min(1).max(500),
}).openapi('GrantCredits');

export const GrantResult = z.object({ user_id: z.uuid(), balance: z.number().int() }).openapi('Balance');

/** Documentation only: a plain OpenAPI schema, not zod, so that the route gets no body validator
 *  (a validator would read the whole multipart body into memory; receiveUpload streams it). */
export const UploadBody = {
  type: 'object' as const,
  required: ['file'],
  properties: {
    file: { type: 'string' as const, format: 'binary', description: 'PNG, JPEG or WebP up to 30 MB; MP4, QuickTime or WebM up to 200 MB' },
  },
};

export const UploadResult = z.object({
  url: z.string(), name: z.string(), content_type: z.string(), size: z.number().int(),
}).openapi('Upload');

export const WebhookParams = z.object({
  jobId: z.uuid().openapi({ param: { name: 'jobId', in: 'path' } }),
});
export const WebhookQuery = z.object({
  token: z.string().optional().openapi({ description: 'base64url HMAC-SHA256 of the job id under FILA_WEBHOOK_SECRET' }),
});
export const WebhookBody = z.looseObject({
  event: z.string().optional().openapi({ example: 'TASK_END' }),
  taskId: z.string().optional(),
  eventData: z.string().optional().openapi({ description: 'JSON text of the outputs response' }),
}).openapi('RunningHubWebhook');

export const WebhookResult = z.object({ received: z.literal(true), inbox_id: z.number().int() });

export const HealthSchema = z.object({
  status: z.enum(['ok', 'unavailable']),
  database: z.enum(['ok', 'unavailable']),
  listener: z.enum(['listening', 'reconnecting']),
}).openapi('Health');

export const UploadNameParams = z.object({
  name: z.string().openapi({ param: { name: 'name', in: 'path' } }),
});
