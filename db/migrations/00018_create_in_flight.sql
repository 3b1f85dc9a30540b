-- 00018 — a create request that is out holds its slot even when nobody lives to hear its answer.
-- Why: 00016 holds the slot of an ended job whose create got no answer, but only once the worker
-- has noted that (note_uncertain_create, after its request timed out). A worker killed while its
-- create request was out never notes anything: the starting deadline then fails and refunds the
-- job and frees its slot, while the task the provider may have made runs on — one task more at the
-- provider than the account's slots, until its webhook makes it an orphan. The same gap opened
-- when a user canceled a job whose create was on its way. The worker now notes, just before it
-- sends a create, that the create is out (note_create_sent), and clears it when the provider
-- refuses it (note_create_answered); a task id recorded by mark_running ends it too. An ended job
-- with a create out and no task named holds its slot like an unanswered one: until the task is
-- named (an orphan, then canceled) or the tool's hard deadline since the create was sent.
-- note_create_sent also refuses to send for a job no longer starting (canceled while its input
-- was being uploaded), so no task is made for it at all.

alter table fila.jobs add column create_unanswered_since timestamptz;
comment on column fila.jobs.create_unanswered_since is
'A create request for this job was sent at this time and the provider has not answered it with a refusal (a task id recorded by mark_running answers it too). An ended job with this set and no task id holds its slot (fila.held_slots): the task may exist.';

create index jobs_create_unanswered_ended on fila.jobs (create_unanswered_since)
  where create_unanswered_since is not null and provider_task_id is null and status in ('failed', 'canceled');

create or replace view fila.held_slots as
select j.id as job_id, j.account, j.status, j.create_uncertain_at, j.finished_at,
       coalesce(j.create_unanswered_since, j.create_uncertain_at) + t.hard_deadline as held_until,
       'create unanswered'::text as why
from fila.jobs j
join fila.tools t on t.tool = j.tool
where (j.create_unanswered_since is not null or j.create_uncertain_at is not null)
  and j.provider_task_id is null and j.status in ('failed', 'canceled')
  and not exists (select 1 from fila.orphan_tasks o where o.job_id = j.id)
union all
select j.id, j.account, j.status, j.create_uncertain_at, j.finished_at,
       j.provider_cancel_requested_at + t.hard_deadline,
       'provider cancel pending'
from fila.jobs j
join fila.tools t on t.tool = j.tool
where j.provider_cancel_requested_at is not null
  and (j.provider_task_ended_at is null or j.provider_task_ended_at < j.provider_cancel_requested_at)
  and j.status in ('failed', 'canceled') and j.account is not null;
comment on view fila.held_slots is
'Ended jobs that still hold a slot of their account until held_until. why = create unanswered: a create was sent (or got no answer) and no task was named: the task may exist at the provider (held until its webhook records it as an orphan, or the create + the tool''s hard deadline). why = provider cancel pending: the cancel of its task has not been answered (held until provider_task_ended, or the cancel + the tool''s hard deadline). Rows with held_until in the past hold nothing.';

create function fila.note_create_sent(job_id uuid) returns boolean
language sql security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
  update fila.jobs j set create_unanswered_since = clock_timestamp()
  where j.id = note_create_sent.job_id and j.status = 'starting' and j.provider_task_id is null
  returning true;
$$;
comment on function fila.note_create_sent(uuid) is
'The worker is about to send this job''s create request: true, and from now on the job holds its slot even if it ends before the provider answers (fila.held_slots). Null when the job is no longer starting (canceled, or ended at its deadline): send nothing.';

create function fila.note_create_answered(job_id uuid) returns void
language sql security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
  update fila.jobs j set create_unanswered_since = null
  where j.id = note_create_answered.job_id and j.provider_task_id is null and j.create_unanswered_since is not null;
$$;
comment on function fila.note_create_answered(uuid) is
'The provider refused this job''s create (no task exists): the slot is not held for it any more.';

revoke execute on function fila.note_create_sent(uuid), fila.note_create_answered(uuid) from public;
grant execute on function fila.note_create_sent(uuid), fila.note_create_answered(uuid) to fila_worker;
