-- 00019 — a copy's arrival is pushed to the job's live streams, and operators can see the copies.
-- Why: 00017 copies a completed job's outputs after the job completed, so a user watching the job
-- over its event stream kept the provider's URL until a reload: nothing announced the copy (only
-- status transitions notify `fila_jobs`), and the stream ended at `completed`. Now every copy that
-- settles (pending -> copied, refused or failed: each changes the job's JSON, its url or its
-- copy_status) notifies `fila_jobs` once, in the settling transaction, whichever path settled it
-- (record_output_copy, record_output_copy_failure, an operator's update): a trigger, like 00017's.
-- The payload names the output and its new copy_status and carries no job `status`, so listeners
-- that count transitions do not count it; the API's hub re-reads the watched jobs on it, as on a
-- transition, and keeps a completed job's streams open until no copy is pending. A retry that
-- stays pending changes nothing users see and does not notify.
-- And /metrics had nothing on copies: fila.output_copy_overview counts them by status with the
-- age of the oldest pending one (a worker without a store, or a provider host that stopped
-- answering, shows as pending copies growing old or failed ones growing).

create function fila.tg__output_copies_notify() returns trigger
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
begin
  perform pg_catalog.pg_notify('fila_jobs', pg_catalog.json_build_object(
    'job_id', new.job_id, 'output_index', new.output_index, 'copy_status', new.status)::text);
  return null;
end;
$$;
comment on function fila.tg__output_copies_notify() is 'A copy settled (pending -> copied, refused or failed): announced on fila_jobs ({job_id, output_index, copy_status}, no status: not a transition) so the job''s open event streams push its new JSON.';

create trigger output_copies_notify after update of status on fila.output_copies
  for each row when (old.status = 'pending' and new.status <> 'pending')
  execute function fila.tg__output_copies_notify();

create view fila.output_copy_overview as
select
  (count(*) filter (where c.status = 'pending'))::integer as pending,
  (count(*) filter (where c.status = 'copied'))::integer as copied,
  (count(*) filter (where c.status = 'refused'))::integer as refused,
  (count(*) filter (where c.status = 'failed'))::integer as failed,
  min(c.created_at) filter (where c.status = 'pending') as oldest_pending_at
from fila.output_copies c;
comment on view fila.output_copy_overview is 'Copies of outputs by status (pending: copy_output will try; copied; refused: hostile, never retried; failed: retries spent) and when the oldest pending one was recorded (its job completed). /metrics reads it.';

revoke all on function fila.tg__output_copies_notify() from public, fila_app, fila_worker;
grant select on fila.output_copy_overview to fila_app;
