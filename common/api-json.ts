// The JSON fila's SQL produces and the HTTP API answers with (fila.job_json, fila.user_jobs, the
// credits and the queue), written once as zod: the OpenAPI document is generated from these
// schemas, db/fila.ts and the JobManager client take their types from them (z.infer), and
// db/test/api-json.test.ts checks that what the SQL returns fits them, field for field.
// the z of @hono/zod-openapi, for .openapi() (see tools/index.ts)
import { z } from '@hono/zod-openapi';
import { toolNames } from './tools/index.ts';

const timestamp = z.string().openapi({ format: 'date-time' });

export const jobStatuses = ['queued', 'starting', 'running', 'completed', 'failed', 'canceled'] as const;

/** An output as the job row keeps it (what the provider gave). */
export const JobOutputSchema = z.object({ url: z.string(), type: z.string() });

/** An output as users see it (job_json): `url` is fila's copy once it has landed, the provider's until then. */
export const JobOutputJsonSchema = z.object({
  url: z.string().openapi({ description: "The result: fila's copy once it has landed, the provider's URL until then (and when no copy can be made)" }),
  type: z.string(),
  provider_url: z.string().openapi({ description: "The provider's URL (RunningHub's links expire)" }),
  copy_url: z.string().nullable().openapi({ description: "fila's copy in its file store (unguessable URL, kept for the uploads' retention)" }),
  copy_status: z.enum(['pending', 'copied', 'refused', 'failed', 'expired']).nullable()
    .openapi({ description: 'pending: being copied (retried with back-off); copied; refused: the download was not kept (address, size or type); failed: retries spent; expired: the copy was deleted by the retention policy; null: no copy recorded (the job completed before copies existed)' }),
});

export const JobSchema = z.object({
  id: z.uuid(),
  user_id: z.uuid(),
  tool: z.enum(toolNames).openapi({ example: 'upscaler' }),
  status: z.enum(jobStatuses),
  input: z.record(z.string(), z.unknown()),
  credit_cost: z.number().int(),
  provider_task_id: z.string().nullable(),
  outputs: z.array(JobOutputJsonSchema).nullable(),
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

export const UserJobSchema = JobSchema.extend({
  refunded_credits: z.number().int().nullable().openapi({ description: 'Credits given back for this job (failed or canceled), null when none' }),
});

export const MyJobsPage = z.object({
  jobs: z.array(UserJobSchema),
  next_cursor: z.uuid().nullable().openapi({ description: 'Pass as `cursor` for the next (older) page; null on the last page' }),
}).openapi('MyJobsPage');

export const LedgerEntrySchema = z.object({
  id: z.number().int(),
  user_id: z.uuid(),
  job_id: z.uuid().nullable(),
  kind: z.enum(['grant', 'debit', 'refund']),
  amount: z.number().int(),
  reason: z.string().nullable(),
  created_at: timestamp,
}).openapi('LedgerEntry');

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

/** A job as the HTTP API shows it (fila.job_json): the row's columns plus position and eta. */
export type JobJson = z.infer<typeof JobSchema>;
export type JobOutput = z.infer<typeof JobOutputSchema>;
export type JobOutputJson = z.infer<typeof JobOutputJsonSchema>;
/** One of a user's jobs in their history: the job JSON plus the credits refunded for it (null: none). */
export type UserJobJson = z.infer<typeof UserJobSchema>;
/** A page of a user's jobs, newest first; `next_cursor` (a job id) asks for the next page. */
export type UserJobsPage = z.infer<typeof MyJobsPage>;
/** A user's balance and newest ledger entries (fila.credit_balance, fila.credit_ledger as JSON). */
export type UserCredits = z.infer<typeof CreditsSchema>;
/** The queue overview and its head (fila.queue_overview, fila.queue_head as JSON). */
export type QueueSnapshot = z.infer<typeof QueueSchema>;
