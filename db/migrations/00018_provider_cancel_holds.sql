-- 00018 — a slot is not handed on while the provider is still stopping its task.
-- Why: when a running job was canceled (or failed by the reaper), its slot was free in the same
-- transaction, while cancel_provider_task had not reached RunningHub yet: for that moment the
-- account ran one task more than its slots (the chaos run over two accounts counted 5 tasks on an
-- account of 4). Now every cancel of a provider task is recorded on its job
-- (provider_cancel_requested_at, by one helper that also enqueues it), and an ended job whose
-- cancel has not been answered holds its account's slot (the view held_slots, which dispatch
-- counts) until the worker reports the provider's answer (provider_task_ended), or at most its
-- tool's hard deadline after the cancel was asked for.
-- cancel_job (00002), reap_stale_jobs and record_orphan_task (00016) are those versions with the
-- enqueue replaced by the helper.

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

create or replace view fila.held_slots as
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

revoke execute on function fila._cancel_provider_task(fila.jobs, text, integer), fila.provider_task_ended(uuid) from public;
grant execute on function fila.provider_task_ended(uuid) to fila_worker;
