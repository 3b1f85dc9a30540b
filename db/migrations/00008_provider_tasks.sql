-- 00008 — provider tasks: which task belongs to which job, orphans, uncertain creates, prompt
-- recovery of lost webhooks, disabled tools, what a task cost.
-- Why: a webhook is unsigned; its taskId is only believed when fila itself recorded that task for
-- the job (or, after a create whose answer was lost, when the provider confirms a task nobody else
-- owns). Every task fila learns of and does not need is canceled at the provider and written on
-- its job's timeline. A running job whose webhook is late is asked about every few seconds, so a
-- lost webhook costs seconds of slot time, not minutes. A tool whose workflow RunningHub refuses
-- is disabled with the reason instead of failing its jobs one by one.

-- Notes on the timeline: an event that is not a transition (an orphaned task, an uncertain create)
-- keeps the job's status on both sides and says so.
alter table fila.job_events add column note boolean not null default false;
alter table fila.job_events drop constraint transition_changes_status;
alter table fila.job_events add constraint transition_changes_status_or_is_note
  check ((note and from_status = to_status) or (not note and from_status is distinct from to_status));
comment on column fila.job_events.note is 'true: not a transition but a fact about the job (from_status = to_status = its status then), e.g. an orphaned provider task canceled.';

create or replace view fila.job_timeline as
select e.job_id, e.at, e.from_status, e.to_status, e.reason, e.id as event_id, j.user_id, j.tool, e.note
from fila.job_events e
join fila.jobs j on j.id = e.job_id;
comment on view fila.job_timeline is 'Every transition of every job, in order of event_id: from_status null is the submit; note = true rows are facts, not transitions (e.g. an orphaned provider task canceled).';

alter table fila.jobs add column create_uncertain_at timestamptz;
alter table fila.jobs add column last_polled_at timestamptz;
alter table fila.jobs add column provider_cost jsonb
  constraint provider_cost_is_object check (provider_cost is null or jsonb_typeof(provider_cost) = 'object');
alter table fila.jobs add column recovered_by text
  constraint recovered_by_poll_or_reaper check (recovered_by is null or recovered_by in ('poll', 'reaper'));
comment on column fila.jobs.create_uncertain_at is 'The create request got no answer (timeout, connection cut after sending): the task may exist. The job keeps its slot until the provider answers for it or the starting deadline passes.';
comment on column fila.jobs.last_polled_at is 'Last time the worker asked the provider about this running job because its webhook was late.';
comment on column fila.jobs.provider_cost is 'What RunningHub reported the task cost: taskCostTime (seconds), consumeMoney, consumeCoins, thirdPartyConsumeMoney (as text, as the provider sent them).';
comment on column fila.jobs.recovered_by is 'The result came from asking the provider (poll: the webhook was late; reaper: past the soft deadline) instead of from a webhook.';

create index jobs_by_provider_task on fila.jobs (provider_task_id) where provider_task_id is not null;
create index jobs_running_since on fila.jobs (running_at) where status = 'running';
create index webhook_inbox_by_task on fila.webhook_inbox ((payload ->> 'taskId'));
create index webhook_inbox_pending on fila.webhook_inbox (job_id) where processed_at is null;

alter table fila.tools add column typical_duration interval not null default '1 minute'
  constraint typical_duration_positive check (typical_duration > interval '0');
alter table fila.tools add column disabled_reason text;
alter table fila.tools add column disabled_at timestamptz;
update fila.tools set typical_duration = '5 minutes' where tool = 'video_upscaler';
comment on column fila.tools.typical_duration is 'How long a task of this tool usually runs at the provider: a running job whose webhook has not come by then is asked about every few seconds.';
comment on column fila.tools.disabled_reason is 'Why the tool refuses new submits (shown to users in the FL003 message and to operators): set by disable_tool, e.g. when RunningHub refuses its workflow.';

-- A task id is orphaned once and canceled once, however many webhooks name it.
create table fila.orphan_tasks (
  provider_task_id text primary key,
  job_id uuid not null references fila.jobs (id) on delete cascade,
  reason text not null,
  recorded_at timestamptz not null default now()
);
comment on table fila.orphan_tasks is 'Provider tasks fila learned of and does not need (a late create answer for a finished job, a webhook naming a task no job owns): each is canceled at the provider (cancel_provider_task) and noted on its job''s timeline.';

-- Internals ------------------------------------------------------------------------------------

create function fila._note(p_job fila.jobs, p_reason text) returns void
language sql as $$
  insert into fila.job_events (job_id, from_status, to_status, reason, note)
  values (p_job.id, p_job.status, p_job.status, p_reason, true);
$$;

-- Does a task belong to some job other than this one? Recorded on it, or named in its inbox.
create function fila._task_claimed_elsewhere(p_job_id uuid, p_task_id text) returns boolean
language sql stable as $$
  select exists (select 1 from fila.jobs j where j.provider_task_id = p_task_id and j.id <> p_job_id)
      or exists (select 1 from fila.webhook_inbox w where w.payload ->> 'taskId' = p_task_id and w.job_id <> p_job_id);
$$;

-- Public functions -----------------------------------------------------------------------------

create function fila.record_orphan_task(job_id uuid, provider_task_id text, reason text) returns boolean
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_job fila.jobs;
begin
  if coalesce(record_orphan_task.provider_task_id, '') = '' or coalesce(record_orphan_task.reason, '') = '' then
    raise exception 'record_orphan_task needs a task id and a reason' using errcode = '22023';
  end if;
  v_job := fila._job_for_update(record_orphan_task.job_id);
  insert into fila.orphan_tasks (provider_task_id, job_id, reason)
  values (record_orphan_task.provider_task_id, v_job.id, record_orphan_task.reason)
  on conflict on constraint orphan_tasks_pkey do nothing;
  if not found then
    return false;
  end if;
  perform fila._note(v_job, format('orphan provider task %s canceled at the provider: %s',
    record_orphan_task.provider_task_id, record_orphan_task.reason));
  perform graphile_worker.add_job('cancel_provider_task',
    json_build_object('job_id', v_job.id, 'provider_task_id', record_orphan_task.provider_task_id), max_attempts := 5);
  return true;
end;
$$;
comment on function fila.record_orphan_task(uuid, text, text) is
'A provider task fila learned of for this job and does not need: noted on the job''s timeline and canceled at the provider (cancel_provider_task enqueued in the same transaction). Once per task id: returns false when it was already recorded.';

create function fila.webhook_task_verdict(job_id uuid, provider_task_id text) returns text
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_job fila.jobs;
begin
  if coalesce(webhook_task_verdict.provider_task_id, '') = '' then
    raise exception 'webhook_task_verdict needs a task id' using errcode = '22023';
  end if;
  -- the row lock orders this against mark_running, which records the task under the same lock
  v_job := fila._job_for_update(webhook_task_verdict.job_id);
  if v_job.provider_task_id = webhook_task_verdict.provider_task_id then
    return 'own';
  end if;
  if fila._task_claimed_elsewhere(v_job.id, webhook_task_verdict.provider_task_id) then
    return 'foreign';
  end if;
  if v_job.status = 'starting' and v_job.provider_task_id is null then
    return 'wait';
  end if;
  perform fila.record_orphan_task(v_job.id, webhook_task_verdict.provider_task_id,
    case
      when v_job.status in ('completed', 'failed', 'canceled') then format('a webhook named it after the job was %s', v_job.status)
      when v_job.status = 'queued' then 'a webhook named it while the job was queued'
      else format('a webhook named it but the job''s task is %s', v_job.provider_task_id)
    end);
  return 'orphan';
end;
$$;
comment on function fila.webhook_task_verdict(uuid, text) is
'What a webhook naming this task may do to this job. own: the task fila recorded for the job (apply after confirming with the provider). wait: the job is starting and its task id is not known yet (keep the webhook in the inbox; reapply_pending_webhooks runs it after mark_running). foreign: the task belongs to another job (never applied, never canceled). orphan: no job owns it and this job cannot (terminal, queued, or another task): recorded and canceled.';

create function fila.reapply_pending_webhooks(job_id uuid) returns integer
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_n integer := 0;
  v_id bigint;
begin
  for v_id in
    select w.id from fila.webhook_inbox w
    where w.job_id = reapply_pending_webhooks.job_id and w.processed_at is null
    order by w.id
  loop
    perform graphile_worker.add_job('apply_webhook', json_build_object('inbox_id', v_id), max_attempts := 10,
      job_key := 'fila_apply_webhook_' || v_id, job_key_mode := 'replace');
    v_n := v_n + 1;
  end loop;
  return v_n;
end;
$$;
comment on function fila.reapply_pending_webhooks(uuid) is
'Enqueue apply_webhook again for every webhook of the job still waiting in the inbox (one that arrived before the job''s task id was known). The worker calls it after mark_running; returns how many.';

create function fila.note_uncertain_create(job_id uuid, reason text) returns fila.jobs
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_job fila.jobs;
begin
  v_job := fila._job_for_update(note_uncertain_create.job_id);
  if v_job.status <> 'starting' or v_job.provider_task_id is not null or v_job.create_uncertain_at is not null then
    return v_job;
  end if;
  update fila.jobs j set create_uncertain_at = now() where j.id = v_job.id returning * into v_job;
  perform fila._note(v_job, 'create uncertain (the task may exist at the provider): '
    || coalesce(note_uncertain_create.reason, 'no answer'));
  return v_job;
end;
$$;
comment on function fila.note_uncertain_create(uuid, text) is
'The create request of a starting job got no answer: the task may exist and bill. The job keeps its slot (never created twice); a webhook the provider confirms (adopt_provider_task) or the starting deadline ends it.';

create function fila.uncertain_starts()
returns table (job_id uuid, provider_task_id text, account text)
language sql stable security definer set search_path = pg_catalog, fila, pg_temp as $$
  select distinct j.id, w.payload ->> 'taskId', j.account
  from fila.jobs j
  join fila.webhook_inbox w on w.job_id = j.id and w.processed_at is null
  where j.status = 'starting' and j.provider_task_id is null and j.create_uncertain_at is not null
    and coalesce(w.payload ->> 'taskId', '') <> '';
$$;
comment on function fila.uncertain_starts() is 'Starting jobs whose create got no answer, with each task id their waiting webhooks name: candidates the worker confirms with the provider before adopt_provider_task.';

create function fila.adopt_provider_task(job_id uuid, provider_task_id text) returns fila.jobs
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_job fila.jobs;
begin
  perform fila._lock_dispatch();
  v_job := fila._job_for_update(adopt_provider_task.job_id);
  if v_job.status <> 'starting' or v_job.provider_task_id is not null or v_job.create_uncertain_at is null then
    return v_job;
  end if;
  if fila._task_claimed_elsewhere(v_job.id, adopt_provider_task.provider_task_id) then
    return v_job; -- another job's task: never this job's result
  end if;
  v_job := fila.mark_running(v_job.id, adopt_provider_task.provider_task_id);
  perform fila.reapply_pending_webhooks(v_job.id);
  return v_job;
end;
$$;
comment on function fila.adopt_provider_task(uuid, text) is
'After an uncertain create: the provider confirmed a task that this job''s own webhook named and that no other job owns; it becomes the job''s task (mark_running) and the waiting webhooks are applied. Anything else: the job unchanged.';

create function fila.claim_overdue_polls(max_jobs integer, poll_every interval default '3 seconds')
returns setof fila.jobs
language sql security definer set search_path = pg_catalog, fila, pg_temp as $$
  update fila.jobs j set last_polled_at = now()
  where j.id in (
    select r.id from fila.jobs r join fila.tools t on t.tool = r.tool
    where r.status = 'running' and r.running_at + t.typical_duration < now()
      and (r.last_polled_at is null or r.last_polled_at < now() - claim_overdue_polls.poll_every)
    order by r.last_polled_at nulls first, r.running_at
    limit greatest(claim_overdue_polls.max_jobs, 0)
    for update of r skip locked)
  returning j.*;
$$;
comment on function fila.claim_overdue_polls(integer, interval) is
'Running jobs whose webhook is late (running longer than their tool''s typical_duration) and that nobody asked about within poll_every: at most max_jobs, marked as asked now, for the worker to ask the provider (/outputs). Bounds the request rate to the provider whatever the number of workers.';

create function fila.record_provider_result(job_id uuid, cost jsonb, recovered_by text default null) returns void
language sql security definer set search_path = pg_catalog, fila, pg_temp as $$
  update fila.jobs j
  set provider_cost = coalesce(record_provider_result.cost, j.provider_cost),
      recovered_by = coalesce(j.recovered_by, record_provider_result.recovered_by)
  where j.id = record_provider_result.job_id;
$$;
comment on function fila.record_provider_result(uuid, jsonb, text) is
'What the provider reported about a finished task: its cost fields, and whether the result was recovered by asking (poll, reaper) instead of from a webhook.';

create function fila.disable_tool(tool text, reason text) returns fila.tools
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_tool fila.tools;
begin
  if coalesce(disable_tool.reason, '') = '' then
    raise exception 'disable_tool needs a reason' using errcode = '22023';
  end if;
  update fila.tools t
  set enabled = false, disabled_reason = disable_tool.reason, disabled_at = now()
  where t.tool = disable_tool.tool and (t.enabled or t.disabled_reason is distinct from disable_tool.reason)
  returning * into v_tool;
  if not found then
    select * into v_tool from fila.tools t where t.tool = disable_tool.tool;
    if not found then
      perform fila._raise('FL003', format('Ferramenta desconhecida: %s.', disable_tool.tool));
    end if;
  end if;
  return v_tool;
end;
$$;
comment on function fila.disable_tool(text, text) is
'The tool refuses new submits (FL003 with the reason: "ferramenta indisponível") and dispatch leaves its queued jobs waiting at their places, e.g. after RunningHub refused its workflow. enable_tool undoes it.';

create function fila.enable_tool(tool text) returns fila.tools
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_tool fila.tools;
begin
  perform fila._lock_dispatch();
  update fila.tools t set enabled = true, disabled_reason = null, disabled_at = null
  where t.tool = enable_tool.tool
  returning * into v_tool;
  if not found then
    perform fila._raise('FL003', format('Ferramenta desconhecida: %s.', enable_tool.tool));
  end if;
  perform fila._dispatch_locked(); -- its waiting jobs may take free slots now
  return v_tool;
end;
$$;
comment on function fila.enable_tool(text) is 'An operator fixed the tool''s workflow: it takes submits again and its queued jobs are dispatched in FIFO order.';

-- For operators and /metrics --------------------------------------------------------------------

create view fila.tool_availability as
select t.tool, t.enabled, t.disabled_reason, t.disabled_at, t.typical_duration
from fila.tools t;
comment on view fila.tool_availability is 'Each tool: whether it takes submits and, when not, why and since when.';

create view fila.provider_recovery as
select
  (count(*) filter (where j.recovered_by = 'poll'))::integer as recovered_by_poll,
  (count(*) filter (where j.recovered_by = 'reaper'))::integer as recovered_by_reaper,
  -- slot time between the provider's end of the task (running_at + its taskCostTime) and fila
  -- learning of it: what lost webhooks cost in held slots
  coalesce(sum(greatest(0, extract(epoch from (j.finished_at - j.running_at))
                           - (j.provider_cost ->> 'taskCostTime')::numeric))
           filter (where j.recovered_by is not null and j.provider_cost ->> 'taskCostTime' ~ '^\d+(\.\d+)?$'), 0)::float8
    as lost_slot_seconds,
  (select count(*) from fila.orphan_tasks)::integer as orphan_tasks
from fila.jobs j
where j.recovered_by is not null;
comment on view fila.provider_recovery is 'Results recovered by asking the provider (webhook late or lost), the slot seconds held meanwhile (estimated from the task''s taskCostTime), and orphaned provider tasks canceled.';

grant execute on function
  fila.record_orphan_task(uuid, text, text),
  fila.webhook_task_verdict(uuid, text),
  fila.reapply_pending_webhooks(uuid),
  fila.note_uncertain_create(uuid, text),
  fila.uncertain_starts(),
  fila.adopt_provider_task(uuid, text),
  fila.claim_overdue_polls(integer, interval),
  fila.record_provider_result(uuid, jsonb, text),
  fila.disable_tool(text, text),
  fila.enable_tool(text)
to fila_app;
grant select on fila.tool_availability, fila.provider_recovery to fila_app;
-- new functions are executable by PUBLIC by default: only the grants above apply
revoke execute on all functions in schema fila from public;
