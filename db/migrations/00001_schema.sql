-- 00001 — fila's tables, types and constraints.
-- Why: every rule fila promises (slots, FIFO, one active job per user, credits exactly once)
-- is enforced in this schema; the tables are private, the public surface is functions and views
-- (later migrations). Constraints are named as the predicate they keep, so a violation explains
-- itself.

create schema if not exists fila;
comment on schema fila is 'fila: paid AI jobs on a rate-limited GPU provider. Public surface = functions and views; tables are private.';

create extension if not exists pgcrypto with schema public; -- gen_random_uuid() on PG < 13 and hmac()

create type fila.job_status as enum ('queued', 'starting', 'running', 'completed', 'failed', 'canceled');
comment on type fila.job_status is
$$queued: waiting in the global FIFO (submit_job puts it here; requeue_job puts it back at its place).
starting: holds a provider slot; dispatch() moved it here and enqueued start_job; the worker is creating the provider task.
running: holds a slot; mark_running() stored the provider task id.
completed | failed | canceled: terminal; finish_job(), cancel_job() and reap_stale_jobs() move jobs here. failed/canceled are refunded once.$$;

-- Settings a DBA edits: one row.
create table fila.settings (
  singleton boolean primary key default true constraint settings_is_single_row check (singleton),
  max_slots integer not null default 3 constraint max_slots_positive check (max_slots > 0),
  starting_timeout interval not null default '2 minutes'
    constraint starting_timeout_positive check (starting_timeout > interval '0'),
  presence_timeout interval not null default '60 seconds'
    constraint presence_timeout_positive check (presence_timeout > interval '0'),
  backoff_base interval not null default '5 seconds'
    constraint backoff_base_positive check (backoff_base > interval '0'),
  backoff_max interval not null default '5 minutes'
    constraint backoff_max_at_least_base check (backoff_max >= backoff_base)
);
insert into fila.settings default values;
comment on table fila.settings is 'One row. max_slots: provider slots (starting+running); starting_timeout: hard deadline of a job in starting; presence_timeout: how long a queued job with presence may go unseen before it counts as abandoned; backoff_*: dispatch pause after provider-wide trouble (doubles per consecutive requeue).';

-- The tools and their deadlines. A disabled tool refuses submits (FL003).
create table fila.tools (
  tool text primary key constraint tool_is_identifier check (tool ~ '^[a-z][a-z0-9_]*$'),
  enabled boolean not null default true,
  soft_deadline interval not null constraint soft_deadline_positive check (soft_deadline > interval '0'),
  hard_deadline interval not null,
  constraint hard_deadline_after_soft check (hard_deadline >= soft_deadline)
);
comment on table fila.tools is 'The tools users may submit. soft_deadline: a running job this old is checked with the provider by the reaper; hard_deadline: it is failed and refunded.';

-- Prices: the row with the highest priority whose `match` is contained in the job input wins.
create table fila.tool_prices (
  tool text not null references fila.tools (tool) on update cascade on delete cascade,
  match jsonb not null default '{}' constraint match_is_object check (jsonb_typeof(match) = 'object'),
  priority integer not null default 0,
  price integer not null constraint price_not_negative check (price >= 0),
  primary key (tool, match)
);
comment on table fila.tool_prices is 'Price in credits. For a job, the row of its tool with the highest priority whose match is contained in the input (input @> match) applies; match {} is the tool''s base price.';

insert into fila.tools (tool, soft_deadline, hard_deadline) values
  ('upscaler',       '3 minutes',  '10 minutes'),
  ('pose_changer',   '3 minutes',  '10 minutes'),
  ('veste_ai',       '3 minutes',  '10 minutes'),
  ('video_upscaler', '15 minutes', '40 minutes');
insert into fila.tool_prices (tool, match, priority, price) values
  ('upscaler',       '{}',                  0,  2),
  ('upscaler',       '{"version": "pro"}', 10,  4),
  ('pose_changer',   '{}',                  0,  3),
  ('veste_ai',       '{}',                  0,  3),
  ('video_upscaler', '{}',                  0, 10);

-- Dispatch state: the FIFO counter and the back-off after provider-wide trouble. One row.
create table fila.dispatch_state (
  singleton boolean primary key default true constraint dispatch_state_is_single_row check (singleton),
  last_queue_seq bigint not null default 0,
  paused_until timestamptz,
  pause_reason text,
  backoff_step integer not null default 0 constraint backoff_step_not_negative check (backoff_step >= 0)
);
insert into fila.dispatch_state default values;
comment on table fila.dispatch_state is 'last_queue_seq: gapless FIFO ticket counter (taken under the dispatch lock, so ticket order is commit order). paused_until/pause_reason/backoff_step: dispatch back-off after provider-wide trouble.';

create table fila.jobs (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null,
  tool text not null references fila.tools (tool) on update cascade,
  status fila.job_status not null default 'queued',
  input jsonb not null constraint input_is_object check (jsonb_typeof(input) = 'object'),
  credit_cost integer not null constraint credit_cost_not_negative check (credit_cost >= 0),
  idempotency_key text,
  presence boolean not null default false,
  last_seen_at timestamptz,
  queue_seq bigint not null constraint queue_seq_is_unique unique,
  attempts integer not null default 0,
  provider_task_id text,
  outputs jsonb,
  error text,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  running_at timestamptz,
  soft_deadline_at timestamptz,
  deadline_at timestamptz,
  finished_at timestamptz,
  constraint finished_at_iff_terminal
    check ((status in ('completed', 'failed', 'canceled')) = (finished_at is not null)),
  constraint slot_holder_has_deadline
    check (status not in ('starting', 'running') or (started_at is not null and deadline_at is not null)),
  constraint running_has_provider_task check (status <> 'running' or provider_task_id is not null),
  constraint failed_has_error check (status <> 'failed' or (error is not null and error <> '')),
  constraint completed_has_outputs check (status <> 'completed' or outputs is not null),
  constraint presence_has_last_seen check (not presence or last_seen_at is not null)
);
comment on table fila.jobs is 'One row per job; it holds everything needed to start it (tool, validated input, price), so every start goes through the same path. Private: read through the views and functions.';
comment on column fila.jobs.queue_seq is 'FIFO ticket: gapless, assigned under the dispatch lock at submit, kept on requeue (the job keeps its place).';
comment on column fila.jobs.deadline_at is 'Hard deadline of the current slot-holding state: starting_timeout after dispatch, the tool''s hard_deadline after mark_running.';

-- Rule 3: one active job per user, whatever the tool.
create unique index jobs_one_active_per_user on fila.jobs (user_id)
  where status in ('queued', 'starting', 'running');
create unique index jobs_idempotency_key_per_user on fila.jobs (user_id, idempotency_key)
  where idempotency_key is not null;
-- The queue in order, and the slot holders: both small partial indexes.
create index jobs_queued_in_order on fila.jobs (queue_seq) where status = 'queued';
-- Jobs that left the queue: a range scan over it counts who left between the head and a job
-- (queue_position stays cheap at any queue depth).
create index jobs_dequeued_seq on fila.jobs (queue_seq) where status <> 'queued';
create index jobs_holding_slot on fila.jobs (deadline_at) where status in ('starting', 'running');
create index jobs_presence_queued on fila.jobs (last_seen_at) where status = 'queued' and presence;
create index jobs_user_recent on fila.jobs (user_id, created_at desc);
create index jobs_finished_recent on fila.jobs (finished_at desc) where finished_at is not null;

create table fila.job_events (
  id bigint generated always as identity primary key,
  job_id uuid not null references fila.jobs (id) on delete cascade,
  from_status fila.job_status,
  to_status fila.job_status not null,
  reason text not null,
  at timestamptz not null default clock_timestamp(),
  constraint transition_changes_status check (from_status is distinct from to_status)
);
create index job_events_by_job on fila.job_events (job_id, id);
comment on table fila.job_events is 'Every transition of every job (from, to, reason, at); the first row of a job has from_status null.';

-- Credits: balances plus an append-only ledger; a balance is the sum of its user's entries.
create table fila.balances (
  user_id uuid primary key,
  balance integer not null default 0 constraint balance_never_negative check (balance >= 0),
  updated_at timestamptz not null default now()
);

create table fila.credit_entries (
  id bigint generated always as identity primary key,
  user_id uuid not null,
  job_id uuid references fila.jobs (id),
  kind text not null constraint kind_is_grant_debit_or_refund check (kind in ('grant', 'debit', 'refund')),
  amount integer not null,
  reason text,
  idempotency_key text,
  created_at timestamptz not null default now(),
  constraint one_entry_per_job_and_kind unique (job_id, kind),
  constraint debit_is_negative_refund_positive check (
    (kind = 'debit' and amount <= 0 and job_id is not null)
    or (kind = 'refund' and amount >= 0 and job_id is not null)
    or (kind = 'grant' and job_id is null and amount <> 0)),
  constraint grant_has_reason check (kind <> 'grant' or (reason is not null and reason <> ''))
);
create unique index credit_entries_grant_key on fila.credit_entries (user_id, idempotency_key)
  where kind = 'grant' and idempotency_key is not null;
create index credit_entries_by_user on fila.credit_entries (user_id, id desc);
create index credit_entries_recent_refunds on fila.credit_entries (created_at) where kind = 'refund';
comment on table fila.credit_entries is 'Append-only credit ledger: debits negative, grants and refunds positive; one debit and at most one refund per job.';

create function fila.tg__credit_entries_append_only() returns trigger
language plpgsql as $$
begin
  raise exception 'the credit ledger is append-only: % refused', tg_op
    using errcode = 'FL007', hint = 'Correct a balance with fila.grant_credits (a new entry), never by editing history.';
end;
$$;
create trigger credit_entries_append_only before update or delete on fila.credit_entries
  for each row execute function fila.tg__credit_entries_append_only();
create trigger credit_entries_no_truncate before truncate on fila.credit_entries
  for each statement execute function fila.tg__credit_entries_append_only();

-- Webhooks are stored before anything is done with them (durable first).
create table fila.webhook_inbox (
  id bigint generated always as identity primary key,
  job_id uuid not null references fila.jobs (id) on delete cascade,
  provider text not null,
  payload jsonb not null,
  received_at timestamptz not null default now(),
  processed_at timestamptz,
  outcome text
);
create index webhook_inbox_by_job on fila.webhook_inbox (job_id);
comment on table fila.webhook_inbox is 'Raw provider webhooks as received (after the per-job token check); apply_webhook processes each and records its outcome.';
