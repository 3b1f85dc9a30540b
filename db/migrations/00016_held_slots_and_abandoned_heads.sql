-- 00016 — a task that may exist, or is still being stopped, keeps its slot; dispatch never starts an
-- abandoned job.
-- Why (1): a create that got no answer (00008) may have made a task that runs and bills. When its
-- job ends first (the starting deadline, a cancel), the user is refunded and freed, but the
-- provider may still be running that task: handing its slot to the next job would put one task
-- more at the provider than max_slots allows (the chaos run counted it). The ended job now holds
-- its account's slot until the provider names the task (its webhook makes it an orphan, which
-- is canceled) or until its tool's hard deadline since the create has passed (by then a task of
-- fila's would have been ended too). The slot is then free at the next dispatch or reaper pass.
-- Why (2): the design says a job whose page is gone is never started. The reaper cancels such jobs
-- on its passes; between two passes dispatch could still start one. Dispatch now cancels an
-- abandoned job at the head of the queue (refunded) and moves on to the next.
-- Why (3): presence is heard through the API's event streams. While the API is down or restarting
-- nobody can hear a page, and the chaos run saw hundreds of open pages' jobs canceled as
-- abandoned after an API restart slower than presence_timeout. Each API process now beats in
-- fila.presence_services; a job counts as abandoned only while presence is being heard (a beat no
-- older than two of its intervals), and an API process that starts gives every queued job a
-- fresh lease from its start (its pages need that long to reconnect). Before any API process has
-- beaten (SQL-only use), last_seen_at alone decides, as before.
-- Why (4): when a running job was canceled (or failed by the reaper), its slot was free in the same
-- transaction, while cancel_provider_task had not reached RunningHub yet: for that moment the
-- account ran one task more than its slots (the chaos run over two accounts counted 5 tasks on an
-- account of 4). Every cancel of a provider task is now recorded on its job
-- (provider_cancel_requested_at, by one helper that also enqueues it), and an ended job whose
-- cancel has not been answered holds its slot until the worker reports the provider's answer
-- (provider_task_ended), or at most its tool's hard deadline after the cancel was asked for.
-- Also: the worker may read fila.provider_account_check, which its poller reads after each account
-- status (00014 had left it to the API, and the read failed).

create index jobs_uncertain_ended on fila.jobs (create_uncertain_at)
  where create_uncertain_at is not null and provider_task_id is null and status in ('failed', 'canceled');

alter table fila.jobs add column provider_cancel_requested_at timestamptz;
alter table fila.jobs add column provider_task_ended_at timestamptz;
comment on column fila.jobs.provider_cancel_requested_at is 'When fila last asked the provider to cancel a task of this job (its own on cancel or the reaper''s deadline, or an orphan): cancel_provider_task is enqueued with it.';
comment on column fila.jobs.provider_task_ended_at is 'When the worker last heard the provider answer such a cancel (canceled, or the task had already ended). An ended job whose cancel is newer than this answer holds its slot (fila.held_slots).';

create index jobs_provider_cancel_pending on fila.jobs (provider_cancel_requested_at)
  where provider_cancel_requested_at is not null
    and (provider_task_ended_at is null or provider_task_ended_at < provider_cancel_requested_at);

-- Ask the provider to cancel a task of this job: recorded on the job, enqueued in the same
-- transaction. The caller holds the job's row.
create function fila._cancel_provider_task(p_job fila.jobs, p_task_id text, p_attempts integer) returns fila.jobs
language plpgsql as $$
declare
  v_job fila.jobs;
begin
  update fila.jobs j set provider_cancel_requested_at = clock_timestamp() where j.id = p_job.id returning * into v_job;
  perform graphile_worker.add_job('cancel_provider_task',
    json_build_object('job_id', p_job.id, 'provider_task_id', p_task_id), max_attempts := p_attempts);
  return v_job;
end;
$$;

-- Ended jobs that still hold a slot of their account, and until when (the caller compares
-- held_until with the time it cares about).
create view fila.held_slots as
select j.id as job_id, j.account, j.status, j.create_uncertain_at, j.finished_at,
       j.create_uncertain_at + t.hard_deadline as held_until,
       'create unanswered'::text as why
from fila.jobs j
join fila.tools t on t.tool = j.tool
where j.create_uncertain_at is not null and j.provider_task_id is null and j.status in ('failed', 'canceled')
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
'Ended jobs that still hold a slot of their account until held_until. why = create unanswered: the task may exist at the provider and has not been named (held until its webhook records it as an orphan, or create + the tool''s hard deadline). why = provider cancel pending: the cancel of its task has not been answered (held until provider_task_ended, or the cancel + the tool''s hard deadline). Rows with held_until in the past hold nothing.';

-- Slots held by such jobs now: on one account, or on all of them (p_account null).
create function fila._held_slot_count(p_account text default null) returns integer
language sql stable as $$
  select count(*)::integer from fila.held_slots h
  where h.held_until > clock_timestamp() and (p_account is null or h.account = p_account);
$$;

create table fila.presence_services (
  instance uuid primary key,
  started_at timestamptz not null default now(),
  beat_at timestamptz not null default now(),
  beat_every interval not null constraint beat_every_positive check (beat_every > interval '0')
);
comment on table fila.presence_services is
'API processes that hear presence (open event streams): each beats (presence_beat) every beat_every while it runs. A queued job is judged abandoned only while some process''s beat is at most two of its intervals old, and never within presence_timeout of the newest process''s start.';

create function fila.presence_beat(instance uuid, every_ms integer) returns void
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
begin
  if presence_beat.every_ms is null or presence_beat.every_ms < 1 then
    raise exception 'presence_beat needs its interval in milliseconds, not %', coalesce(presence_beat.every_ms::text, 'null')
      using errcode = '22023';
  end if;
  insert into fila.presence_services as s (instance, beat_every)
  values (presence_beat.instance, presence_beat.every_ms * interval '1 millisecond')
  on conflict on constraint presence_services_pkey do update set beat_at = now(), beat_every = excluded.beat_every;
  delete from fila.presence_services s where s.beat_at < now() - interval '1 day';
end;
$$;
comment on function fila.presence_beat(uuid, integer) is
'An API process hearing presence says it is there: at its start, then every every_ms. Its first beat gives every queued job a fresh presence lease (the pages reconnect to it); while no process has beaten within two of its intervals, no job counts as abandoned.';

-- Is this queued job's page gone? Unseen for presence_timeout, counted from its last sighting or
-- the newest API start, whichever is later, while presence is being heard.
create function fila._abandoned(p_job fila.jobs, p_settings fila.settings, p_as_of timestamptz) returns boolean
language sql stable as $$
  select p_job.status = 'queued' and p_job.presence
     and greatest(p_job.last_seen_at, s.newest_start) < p_as_of - p_settings.presence_timeout
     and (s.services = 0 or s.heard)
  from (select count(*) as services, max(ps.started_at) as newest_start,
               coalesce(bool_or(ps.beat_at + 2 * ps.beat_every >= p_as_of), false) as heard
        from fila.presence_services ps) s;
$$;

-- queued -> canceled, refunded: its page is gone. The caller holds the dispatch lock and the row.
create function fila._cancel_abandoned(p_job fila.jobs, p_settings fila.settings) returns fila.jobs
language plpgsql as $$
declare
  v_job fila.jobs;
begin
  update fila.jobs j set status = 'canceled', finished_at = now()
  where j.id = p_job.id
  returning * into v_job;
  perform fila._record(v_job.id, 'queued', 'canceled',
    format('abandoned: its page was not seen for %s (presence_timeout)', p_settings.presence_timeout));
  perform fila._refund(v_job, 'abandoned');
  return v_job;
end;
$$;

create or replace function fila._account_with_free_slot() returns text
language sql volatile as $$
  select a.account
  from fila.provider_accounts a
  cross join lateral (select count(*) + fila._held_slot_count(a.account) as used from fila.jobs j
                      where j.account = a.account and j.status in ('starting', 'running')) u
  where a.enabled
    and (a.paused_until is null or a.paused_until <= clock_timestamp())
    and a.max_slots > u.used
  order by a.max_slots - u.used desc, a.account
  limit 1;
$$;

create or replace function fila._dispatch_could_start() returns boolean
language sql volatile as $$
  select (select count(*) from fila.jobs j where j.status in ('starting', 'running')) + fila._held_slot_count() < fila._slots_total()
     and fila._account_with_free_slot() is not null;
$$;

-- 00009's version, with held slots counted as used and abandoned heads canceled instead of started.
create or replace function fila._dispatch_locked() returns setof fila.jobs
language plpgsql as $$
declare
  v_settings fila.settings;
  v_free integer;
  v_account text;
  v_job fila.jobs;
begin
  select * into v_settings from fila.settings;
  select v_settings.max_slots - count(*) - fila._held_slot_count() into v_free
  from fila.jobs j where j.status in ('starting', 'running');
  while v_free > 0 loop
    v_account := fila._account_with_free_slot();
    exit when v_account is null; -- every account full, paused or disabled: their wake-ups dispatch
    -- a disabled tool's jobs keep their places and wait for enable_tool; the rest of the queue moves
    select * into v_job from fila.jobs j
    where j.status = 'queued'
      and not exists (select 1 from fila.tools t where t.tool = j.tool and not t.enabled)
    order by j.queue_seq limit 1 for update;
    exit when not found;
    if fila._abandoned(v_job, v_settings, now()) then
      perform fila._cancel_abandoned(v_job, v_settings); -- never started: the next in line gets the slot
      continue;
    end if;
    update fila.jobs j
    set status = 'starting', account = v_account, started_at = now(), attempts = j.attempts + 1,
        deadline_at = now() + v_settings.starting_timeout, soft_deadline_at = null
    where j.id = v_job.id
    returning * into v_job;
    perform fila._record(v_job.id, 'queued', 'starting', 'dispatched to account ' || v_account);
    -- the outbox: the worker's start_job commits or vanishes with this transaction
    perform graphile_worker.add_job('start_job', json_build_object('job_id', v_job.id), max_attempts := 5);
    v_free := v_free - 1;
    return next v_job;
  end loop;
end;
$$;

-- 00002's version, with abandonment judged and canceled by the helpers dispatch uses, and the
-- provider cancel asked through the helper.
create or replace function fila.reap_stale_jobs(as_of timestamptz default now()) returns setof fila.jobs
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
declare
  v_job fila.jobs;
  v_from fila.job_status;
  v_settings fila.settings;
  v_error text;
begin
  perform fila._lock_dispatch();
  select * into v_settings from fila.settings;
  for v_job in
    select * from fila.jobs j
    where j.status in ('starting', 'running') and j.deadline_at < reap_stale_jobs.as_of
    order by j.deadline_at
    for update
  loop
    v_from := v_job.status;
    v_error := case v_from
      when 'starting' then format('Prazo esgotado: o processamento não começou no provedor em %s (starting_timeout).',
                                  v_settings.starting_timeout)
      else format('Prazo esgotado: o processamento passou do prazo máximo de %s (hard_deadline de %s).',
                  (select t.hard_deadline from fila.tools t where t.tool = v_job.tool), v_job.tool)
    end;
    update fila.jobs j set status = 'failed', finished_at = now(), error = v_error
    where j.id = v_job.id
    returning * into v_job;
    perform fila._record(v_job.id, v_from, 'failed', 'reaper: ' || v_error);
    perform fila._refund(v_job, 'failed');
    if v_job.provider_task_id is not null then
      v_job := fila._cancel_provider_task(v_job, v_job.provider_task_id, 3);
    end if;
    return next v_job;
  end loop;

  for v_job in
    select * from fila.jobs j
    where j.status = 'queued' and j.presence
      and j.last_seen_at < reap_stale_jobs.as_of - v_settings.presence_timeout
    order by j.queue_seq
    for update
  loop
    continue when not fila._abandoned(v_job, v_settings, reap_stale_jobs.as_of);
    return next fila._cancel_abandoned(v_job, v_settings);
  end loop;

  perform fila._dispatch_locked();
end;
$$;

-- 00008's version, with the enqueue replaced by the helper: the orphan's cancel holds the slot of
-- an ended job until provider_task_ended frees it and dispatches.
create or replace function fila.record_orphan_task(job_id uuid, provider_task_id text, reason text) returns boolean
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
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
  v_job := fila._cancel_provider_task(v_job, record_orphan_task.provider_task_id, 5);
  return true;
end;
$$;

create function fila.provider_task_ended(job_id uuid) returns fila.jobs
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
declare
  v_job fila.jobs;
begin
  perform fila._lock_dispatch();
  v_job := fila._job_for_update(provider_task_ended.job_id);
  update fila.jobs j set provider_task_ended_at = clock_timestamp() where j.id = v_job.id returning * into v_job;
  if v_job.status in ('failed', 'canceled') then
    perform fila._dispatch_locked(); -- the slot it held is free now
  end if;
  return v_job;
end;
$$;
comment on function fila.provider_task_ended(uuid) is
'The worker''s cancel_provider_task heard the provider answer a cancel for this job (canceled, or the task had already ended): a slot the ended job held for it (held_slots) is free, and dispatch runs. FL004 for an unknown job.';

-- 00002's version, with the enqueue replaced by the helper.
create or replace function fila.cancel_job(job_id uuid, user_id uuid) returns fila.jobs
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
declare
  v_job fila.jobs;
  v_from fila.job_status;
begin
  perform fila._lock_dispatch();
  v_job := fila._job_for_update(cancel_job.job_id, cancel_job.user_id);
  v_from := v_job.status;
  if v_from = 'canceled' then
    return v_job;
  end if;
  if v_from in ('completed', 'failed') then
    perform fila._raise('FL005', format('Transição inválida: o processamento já terminou (%s).', v_from),
      format('job %s is %s', v_job.id, v_from));
  end if;
  update fila.jobs j set status = 'canceled', finished_at = now()
  where j.id = v_job.id
  returning * into v_job;
  perform fila._record(v_job.id, v_from, 'canceled',
    case when cancel_job.user_id is null then 'canceled by an operator' else 'canceled by the user' end);
  perform fila._refund(v_job, 'canceled');
  if v_job.provider_task_id is not null then
    v_job := fila._cancel_provider_task(v_job, v_job.provider_task_id, 3);
  end if;
  perform fila._dispatch_locked();
  return v_job;
end;
$$;

revoke execute on function fila._held_slot_count(text), fila._abandoned(fila.jobs, fila.settings, timestamptz),
  fila._cancel_abandoned(fila.jobs, fila.settings) from public;
grant select on fila.held_slots to fila_app; -- the dashboard shows them
-- the worker's poller compares RunningHub's running count with fila's (00010), which 00014 left
-- readable by the API only: the worker logged "permission denied" at each account read
grant select on fila.provider_account_check to fila_worker;
revoke all on fila.presence_services from fila_app, fila_worker;
revoke execute on function fila.presence_beat(uuid, integer) from public;
grant execute on function fila.presence_beat(uuid, integer) to fila_app;
revoke execute on function fila._cancel_provider_task(fila.jobs, text, integer), fila.provider_task_ended(uuid) from public;
grant execute on function fila.provider_task_ended(uuid) to fila_worker;
