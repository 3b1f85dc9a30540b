// The HTTP API's schemas: they validate requests and generate /openapi.json (one source).
import { z } from '@hono/zod-openapi';
import { jobStatuses } from '../common/api-json.ts';
import { toolNames, tools, type ToolName } from '../common/tools/index.ts';

export const ErrorSchema = z.object({
  error: z.object({
    code: z.string().openapi({ example: 'user_has_active_job' }),
    message: z.string().openapi({ example: 'Você já tem um processamento em andamento. Aguarde finalizar.' }),
    details: z.unknown().optional(),
  }),
}).openapi('Error');

// The JSON the SQL produces (jobs, a user's history, credits, the queue): one definition, shared
// with db/fila.ts and the JobManager client's types.
export { CreditsSchema, JobSchema, LedgerEntrySchema, MyJobsPage, QueueSchema } from '../common/api-json.ts';

const presence = z.boolean().optional().openapi({
  description: 'Cancel (and refund) the job if it is still queued and its page is gone (no event stream, no heartbeat) for the presence timeout. Browsers ask for it.',
});

/** A submit's envelope, before its tool is known: a body that fails it is 400 invalid_input, a
 *  tool it does not know 422 unknown_tool (checked in this order, whatever the input). */
export const SubmitEnvelope = z.object({
  tool: z.string().min(1).max(64),
  input: z.record(z.string(), z.unknown()),
  presence,
});

/** POST /v1/jobs: one branch per tool of the registry, `tool` the discriminator and `input` that
 *  tool's own schema (registered under its openApiName), so that a client generated from the
 *  document types each tool's input. Built per app: the upscaler's categories are configuration. */
export function submitBody(inputSchemas: Record<ToolName, z.ZodType<Record<string, unknown>>>) {
  const branch = <T extends ToolName>(tool: T) => z.object({
    tool: z.literal(tool),
    input: inputSchemas[tool],
    presence,
  }).openapi(`Submit${tools[tool].openApiName.replace(/Input$/, '')}`);
  const [first, ...rest] = toolNames;
  return z.discriminatedUnion('tool', [branch(first), ...rest.map(branch)]).openapi('SubmitJob', {
    example: { tool: 'upscaler', input: { image_url: 'https://example.com/photo.png', category: 'pessoas' } },
  });
}

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

export const MyJobsQuery = z.object({
  tool: z.enum(toolNames).optional().openapi({ description: 'Only this tool\'s jobs' }),
  status: z.enum(jobStatuses).optional().openapi({ description: 'Only jobs in this status' }),
  cursor: z.uuid().optional().openapi({ description: 'The previous page\'s next_cursor' }),
  limit: z.coerce.number().int().min(1).max(100).optional().openapi({ description: 'Jobs per page (default 20)' }),
});

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
