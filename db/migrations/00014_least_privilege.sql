-- 00014 — each process's role can call only what that process calls.
-- Why: fila_worker was a member of fila_app and both could execute every function: the API's role
-- could grant credits, finish a job as completed, mark it running or reap "as of" any time; and
-- functions created after 00004 were executable by PUBLIC (PostgreSQL's default). Here every
-- grant on fila's functions is taken back and given again from one explicit list; the test in
-- db/test/least-privilege.test.ts compares every function of the schema with that list, so a new
-- function without a decided grant fails it. Production logs in with login roles that are
-- members of these (README, "Running fila in production"): RESET ROLE then returns to a role that
-- has nothing more.

revoke fila_app from fila_worker;
comment on role fila_app is 'fila API: submit, cancel, read, presence, webhook inbox, operator grants (recorded), uploads'' quota; reads the views. No table privileges.';
comment on role fila_worker is 'fila worker: dispatch, mark_running, finish_job, requeue_job, reap, the webhook inbox; graphile-worker''s schema. No table privileges in fila.';

-- functions created from now on by the migrating role are not executable by PUBLIC
alter default privileges in schema fila revoke execute on functions from public;

do $$
declare
  r record;
begin
  for r in select p.oid::regprocedure as fn from pg_catalog.pg_proc p
           where p.pronamespace = 'fila'::regnamespace
  loop
    execute format('revoke all on function %s from public, fila_app, fila_worker', r.fn);
  end loop;
end;
$$;

grant usage on schema fila to fila_app, fila_worker;

-- The HTTP API
grant execute on function
  fila.submit_job(uuid, text, jsonb, text, boolean),
  fila.job_created_by_this_transaction(uuid),
  fila.cancel_job(uuid, uuid),
  fila.active_job(uuid),
  fila.touch_job(uuid, uuid),
  fila.job(uuid, uuid),
  fila.job_json(fila.jobs),
  fila.queue_position(uuid), -- queue_overview calls it, and a view's function calls are the reader's
  fila.credit_balance(uuid),
  fila.receive_webhook(uuid, text, jsonb),
  fila.grant_credits_by_operator(uuid, uuid, integer, text, text),
  fila.check_upload_quota(uuid, bigint, integer, bigint),
  fila.record_upload(uuid, text, bigint, integer, bigint),
  fila.expired_uploads(interval, interval, timestamptz),
  fila.uploads_deleted(text[]),
  fila.watched_jobs(uuid[]),            -- the event streams, one statement for all of them
  fila.touch_jobs(uuid[], uuid[]),      -- presence of every open stream at once
  fila.queue_head(integer),             -- GET /v1/queue and the dashboard
  fila.user_jobs(uuid, text, fila.job_status, uuid, integer), -- GET /v1/me/jobs
  fila.job_detail(uuid),                -- the dashboard's job page (operators)
  fila.activity_history(integer, integer, timestamptz), -- the dashboard's history
  fila.jobs_by_prefix(text, integer),
  fila._slots_total()                   -- queue_overview calls it, as its reader
to fila_app;

-- The worker (and `fila reap`)
grant execute on function
  fila.job(uuid, uuid),
  fila.job_json(fila.jobs), -- FilaDb.job reads a job with its JSON
  fila.queue_position(uuid),
  fila.dispatch(),
  fila.mark_running(uuid, text),
  fila.finish_job(uuid, fila.job_status, jsonb, text),
  fila.requeue_job(uuid, text),
  fila.reap_stale_jobs(timestamptz),
  fila.webhook(bigint),
  fila.mark_webhook_processed(bigint, text),
  fila.webhook_task_verdict(uuid, text),
  fila.reapply_pending_webhooks(uuid),
  fila.record_orphan_task(uuid, text, text),
  fila.note_uncertain_create(uuid, text),
  fila.uncertain_starts(),
  fila.adopt_provider_task(uuid, text),
  fila.claim_overdue_polls(integer, interval),
  fila.record_provider_result(uuid, jsonb, text),
  fila.record_account_status(text, integer, text, text, text),
  fila.disable_tool(text, text),        -- RunningHub refused the tool's workflow
  fila._slots_total()                   -- queue_overview calls it, as its reader
to fila_worker;

revoke all on all tables in schema fila from fila_app, fila_worker;
grant select on
  fila.queue_overview, fila.queue, fila.active_jobs, fila.stale_jobs,
  fila.credit_ledger, fila.credit_audit, fila.job_timeline,
  fila.recent_jobs, fila.tool_stats,
  fila.provider_account_overview, fila.provider_account_check, fila.provider_recovery, fila.tool_availability
to fila_app;
grant select on fila.queue_overview, fila.active_jobs, fila.stale_jobs, fila.provider_account_overview to fila_worker;
-- set_provider_account, enable_tool and grant_credits stay the owner's (an operator at the CLI or psql)
