-- 00004 — the application role.
-- Why: the API and the worker run with only what they need: execute the public functions and read
-- the views, never touch a table. Functions are security definer, so the rules run with the
-- owner's rights and nothing else can bypass them. Roles are cluster-wide: create them once.

do $$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'fila_app') then
    create role fila_app nologin;
  end if;
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'fila_worker') then
    create role fila_worker nologin;
  end if;
end;
$$;
comment on role fila_app is 'fila API: may execute fila''s public functions and read its views; no table privileges.';
grant fila_app to fila_worker;

revoke all on schema fila from public;
revoke all on all tables in schema fila from public;
revoke execute on all functions in schema fila from public;
grant usage on schema fila to fila_app;

grant execute on function
  fila.submit_job(uuid, text, jsonb, text, boolean),
  fila.job_created_by_this_transaction(uuid),
  fila.dispatch(),
  fila.mark_running(uuid, text),
  fila.finish_job(uuid, fila.job_status, jsonb, text),
  fila.requeue_job(uuid, text),
  fila.cancel_job(uuid, uuid),
  fila.reap_stale_jobs(timestamptz),
  fila.active_job(uuid),
  fila.queue_position(uuid),
  fila.touch_job(uuid, uuid),
  fila.receive_webhook(uuid, text, jsonb),
  fila.credit_balance(uuid),
  fila.grant_credits(uuid, integer, text, text),
  fila.job(uuid, uuid),
  fila.job_json(fila.jobs),
  fila.webhook(bigint),
  fila.mark_webhook_processed(bigint, text)
to fila_app;

grant select on
  fila.queue_overview, fila.queue, fila.active_jobs, fila.stale_jobs,
  fila.credit_ledger, fila.credit_audit, fila.job_timeline,
  fila.recent_jobs, fila.tool_stats
to fila_app;
