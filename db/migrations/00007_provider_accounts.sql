-- 00007 — several RunningHub accounts behind one queue.
-- Why: a business grows by adding provider accounts, each with its own concurrency, and trouble on
-- one account (out of balance, key revoked, its queue full) must not stop the others. The queue
-- stays one global FIFO: accounts only decide *where* the head of the queue starts, never *who*
-- starts (every account can run every tool). fila.settings.max_slots stays the global cap.
-- The single dispatch pause of fila.dispatch_state becomes a pause per account; an installation
-- upgraded from one account gets one account `default` with today's max_slots and pause state, so it
-- behaves exactly as before.

create table fila.provider_accounts (
  account text primary key
    -- RUNNINGHUB_ACCOUNTS is `name=key,name2=key2`: a name holds neither `=` nor `,`
    constraint account_is_name check (account ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
  max_slots integer not null constraint account_max_slots_positive check (max_slots > 0),
  enabled boolean not null default true,
  paused_until timestamptz,
  pause_reason text,
  backoff_step integer not null default 0 constraint account_backoff_step_not_negative check (backoff_step >= 0),
  pauses bigint not null default 0 constraint account_pauses_not_negative check (pauses >= 0),
  refusals bigint not null default 0 constraint account_refusals_not_negative check (refusals >= 0)
);
comment on table fila.provider_accounts is
'RunningHub accounts. max_slots: slots (starting+running) this account may hold; fila.settings.max_slots caps all of them together. enabled = false: nothing new starts on it, its jobs finish. paused_until/pause_reason/backoff_step: this account''s back-off after provider-wide trouble (requeue_job), ended by the next mark_running on it. pauses, refusals: how often it was paused, how many jobs it sent back to the queue (counters for /metrics). Change it with fila.set_provider_account; the worker''s RUNNINGHUB_ACCOUNTS must hold a key for every enabled account.';

insert into fila.provider_accounts (account, max_slots, paused_until, pause_reason, backoff_step)
select 'default', s.max_slots, d.paused_until, d.pause_reason, d.backoff_step
from fila.settings s, fila.dispatch_state d;

alter table fila.jobs add column account text references fila.provider_accounts (account) on update cascade;
comment on column fila.jobs.account is 'The provider account dispatch started the job on: null while queued (a requeue clears it), kept once it ends. Jobs that ended before accounts existed have null.';
-- before accounts there was one: every slot holder holds it on `default`
update fila.jobs j set account = 'default' where j.status in ('starting', 'running');
alter table fila.jobs
  add constraint slot_holder_has_account check (status not in ('starting', 'running') or account is not null),
  add constraint queued_has_no_account check (status <> 'queued' or account is null);
create index jobs_holding_slot_by_account on fila.jobs (account) where status in ('starting', 'running');

-- Internals ------------------------------------------------------------------------------------

-- The slots dispatch may fill at most: the global cap, or fewer when the enabled accounts have fewer.
-- security definer: queue_overview calls it, and a view's functions run with the reader's rights.
create function fila._slots_total() returns integer
language sql stable security definer set search_path = pg_catalog, fila, pg_temp as $$
  select least(s.max_slots,
               coalesce((select sum(a.max_slots) from fila.provider_accounts a where a.enabled), 0))::integer
  from fila.settings s;
$$;

-- Where the next job starts: an enabled, unpaused account with a free slot, the one with the most
-- free slots (ties by name), or null. The caller holds the dispatch lock.
create function fila._account_with_free_slot() returns text
language sql volatile as $$
  select a.account
  from fila.provider_accounts a
  cross join lateral (select count(*) as used from fila.jobs j
                      where j.account = a.account and j.status in ('starting', 'running')) u
  where a.enabled
    and (a.paused_until is null or a.paused_until <= clock_timestamp())
    and a.max_slots > u.used
  order by a.max_slots - u.used desc, a.account
  limit 1;
$$;

-- Provider-wide trouble on one account: count the refusal; pause the account with its own doubling
-- back-off (grown once per pause, not once per job requeued during the same pause) and schedule its
-- wake-up. The caller holds the dispatch lock.
create function fila._pause_account(p_account text, p_reason text) returns void
language plpgsql as $$
declare
  v_account fila.provider_accounts;
  v_settings fila.settings;
  v_delay interval;
begin
  update fila.provider_accounts a set refusals = a.refusals + 1
  where a.account = p_account
  returning * into v_account;
  if not found or (v_account.paused_until is not null and v_account.paused_until > clock_timestamp()) then
    return;
  end if;
  select * into v_settings from fila.settings;
  v_delay := least(v_settings.backoff_base * power(2, least(v_account.backoff_step, 20)), v_settings.backoff_max);
  update fila.provider_accounts a
  set paused_until = clock_timestamp() + v_delay, pause_reason = p_reason,
      backoff_step = a.backoff_step + 1, pauses = a.pauses + 1
  where a.account = p_account
  returning * into v_account;
  perform graphile_worker.add_job('dispatch', '{}'::json, run_at := v_account.paused_until,
    job_key := 'fila_dispatch_wakeup:' || p_account, job_key_mode := 'replace');
end;
$$;

-- Fill free slots with the oldest queued jobs, one at a time: each goes to the account with the
-- most free slots. The caller holds the dispatch lock.
create or replace function fila._dispatch_locked() returns setof fila.jobs
language plpgsql as $$
declare
  v_settings fila.settings;
  v_free integer;
  v_account text;
  v_job fila.jobs;
begin
  select * into v_settings from fila.settings;
  select v_settings.max_slots - count(*) into v_free
  from fila.jobs j where j.status in ('starting', 'running');
  while v_free > 0 loop
    v_account := fila._account_with_free_slot();
    exit when v_account is null; -- every account full, paused or disabled: their wake-ups dispatch
    select * into v_job from fila.jobs j where j.status = 'queued' order by j.queue_seq limit 1 for update;
    exit when not found;
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


-- Could dispatch start a job now? A free slot under the global cap and an enabled, unpaused account
-- with room (the submit's wake-up question, asked holding the dispatch lock shared).
create or replace function fila._dispatch_could_start() returns boolean
language sql volatile as $$
  select (select count(*) from fila.jobs j where j.status in ('starting', 'running')) < fila._slots_total()
     and fila._account_with_free_slot() is not null;
$$;

-- The ETA's slots are the usable ones, and its pause the one that stops all dispatch.
create or replace function fila._eta_basis() returns fila.eta_basis
language plpgsql stable set jit = off as $$
declare
  v_b fila.eta_basis;
  v_slots integer;
  v_pause float8;
  v_holders float8[];
begin
  select coalesce(extract(epoch from avg(x.finished_at - x.started_at)), 60) into v_b.d
  from (select f.finished_at, f.started_at from fila.jobs f
        where f.finished_at is not null and f.status = 'completed' and f.started_at is not null
        order by f.finished_at desc limit 50) x;
  v_b.d := greatest(v_b.d, 0.1);
  v_slots := fila._slots_total();
  -- dispatch waits only while every enabled account is paused: until the first of them resumes
  select greatest(coalesce(extract(epoch from min(a.paused_until) - clock_timestamp()), 0), 0) into v_pause
  from fila.provider_accounts a where a.enabled
  having bool_and(coalesce(a.paused_until > clock_timestamp(), false));
  v_pause := coalesce(v_pause, 0);
  -- a holder's remaining time: its tool's recent average minus its time so far; past the average,
  -- a tenth of it (it is late: soon, but not now)
  select coalesce(array_agg(greatest(td.avg_s - extract(epoch from clock_timestamp() - h.started_at), td.avg_s / 10)), '{}')
  into v_holders
  from fila.jobs h
  cross join lateral (
    select coalesce((select extract(epoch from avg(c.finished_at - c.started_at))
                     from (select c1.finished_at, c1.started_at from fila.jobs c1
                           where c1.tool = h.tool and c1.status = 'completed' and c1.finished_at is not null
                             and c1.started_at is not null
                           order by c1.finished_at desc limit 20) c), v_b.d) as avg_s
  ) td
  where h.status in ('starting', 'running');
  -- free slots open now (or when the pause ends); with more holders than slots (max_slots was
  -- lowered), only the last max_slots to end matter
  select array_agg(x.v order by x.v) into v_b.r
  from (select v from (select unnest(v_holders) as v
                       union all
                       select v_pause from pg_catalog.generate_series(1, greatest(v_slots - coalesce(array_length(v_holders, 1), 0), 0))) a
        order by v desc limit v_slots) x;
  v_b.n := array_length(v_b.r, 1);
  v_b.t := v_b.r[v_b.n];
  select coalesce(sum(ceil((v_b.t - x.v) / v_b.d)), 0)::bigint,
         array_agg(ceil((v_b.t - x.v) / v_b.d) * v_b.d - (v_b.t - x.v) order by ceil((v_b.t - x.v) / v_b.d) * v_b.d - (v_b.t - x.v))
  into v_b.n0, v_b.offs
  from unnest(v_b.r) x(v);
  return v_b;
end;
$$;

-- Public functions -----------------------------------------------------------------------------

comment on function fila.dispatch() is
'Fill free slots with the oldest queued jobs: while the global cap (settings.max_slots minus starting+running) allows, the head of the queue moves to starting on the enabled, unpaused account with the most free slots (ties by name) and gets a start_job worker job in the same transaction. Nothing starts while every account is full, paused or disabled.';

create function fila.set_provider_account(account text, max_slots integer, enabled boolean default true)
returns fila.provider_accounts
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_account fila.provider_accounts;
begin
  if set_provider_account.account is null or set_provider_account.account !~ '^[a-z0-9][a-z0-9_.-]{0,62}$' then
    raise exception 'an account name is 1 to 63 characters of a-z, 0-9, "_", "." and "-", starting with a letter or digit, not %',
      coalesce(quote_literal(set_provider_account.account), 'null')
      using errcode = '22023';
  end if;
  if set_provider_account.max_slots is null or set_provider_account.max_slots < 1 then
    raise exception 'an account needs at least one slot, not %', coalesce(set_provider_account.max_slots::text, 'null')
      using errcode = '22023', hint = 'To stop using an account, disable it (enabled = false): its jobs finish, nothing new starts on it.';
  end if;
  if set_provider_account.enabled is null then
    raise exception 'enabled must be true or false' using errcode = '22023';
  end if;
  perform fila._lock_dispatch();
  insert into fila.provider_accounts as a (account, max_slots, enabled)
  values (set_provider_account.account, set_provider_account.max_slots, set_provider_account.enabled)
  on conflict on constraint provider_accounts_pkey do update
    set max_slots = excluded.max_slots, enabled = excluded.enabled
  returning * into v_account;
  -- more room (a new account, more slots, enabled again) is taken by the queue at once; less room
  -- preempts nothing: the jobs an account holds finish where they are
  perform fila._dispatch_locked();
  return v_account;
end;
$$;
comment on function fila.set_provider_account(text, integer, boolean) is
'Insert or change a provider account: its slots and whether new jobs may start on it. Disabling one or lowering its slots below its use preempts nothing (its jobs finish); more room dispatches at once. Returns the account. A bad name or slot count: 22023.';

create or replace function fila.requeue_job(job_id uuid, reason text) returns fila.jobs
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_job fila.jobs;
  v_account text;
begin
  perform fila._lock_dispatch();
  v_job := fila._job_for_update(requeue_job.job_id);
  if v_job.status <> 'starting' then
    return v_job;
  end if;
  v_account := v_job.account;
  update fila.jobs j
  set status = 'queued', account = null, started_at = null, deadline_at = null, provider_task_id = null
  where j.id = v_job.id
  returning * into v_job;
  perform fila._record(v_job.id, 'starting', 'queued',
    format('requeued: %s (account %s)', coalesce(requeue_job.reason, 'provider trouble'), v_account));
  perform fila._pause_account(v_account, coalesce(requeue_job.reason, 'provider trouble'));
  -- the other accounts keep going: the job, back at the head, may start on one of them at once
  perform fila._dispatch_locked();
  select * into v_job from fila.jobs j where j.id = v_job.id;
  return v_job;
end;
$$;
comment on function fila.requeue_job(uuid, text) is
'Provider-wide trouble on the job''s account (capacity 421/415, account 802/812, unreachable): starting -> queued at its original FIFO place; pauses that account with its own doubling back-off (settings.backoff_base..backoff_max, visible in provider_account_overview) and schedules its wake-up; the other accounts keep dispatching, so the job may start again on one of them at once (the row returned is the job as this call leaves it). Moves no credit. A job not starting is returned unchanged.';

create or replace function fila.mark_running(job_id uuid, provider_task_id text) returns fila.jobs
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_job fila.jobs;
  v_tool fila.tools;
begin
  if coalesce(mark_running.provider_task_id, '') = '' then
    raise exception 'provider_task_id is required' using errcode = '22004';
  end if;
  perform fila._lock_dispatch();
  v_job := fila._job_for_update(mark_running.job_id);
  if v_job.status <> 'starting' then
    -- terminal already (a fast webhook, a cancel, the reaper): no transition. The task id, if the job
    -- has none yet, is still a fact worth keeping: which provider task finished it, or was orphaned.
    if v_job.status in ('completed', 'failed', 'canceled') and v_job.provider_task_id is null then
      update fila.jobs j set provider_task_id = mark_running.provider_task_id
      where j.id = v_job.id
      returning * into v_job;
    end if;
    return v_job;
  end if;
  select * into v_tool from fila.tools t where t.tool = v_job.tool;
  update fila.jobs j
  set status = 'running', provider_task_id = mark_running.provider_task_id, running_at = now(),
      soft_deadline_at = now() + v_tool.soft_deadline, deadline_at = now() + v_tool.hard_deadline
  where j.id = v_job.id
  returning * into v_job;
  perform fila._record(v_job.id, 'starting', 'running', 'provider task ' || mark_running.provider_task_id);
  -- the account just accepted a task: whatever trouble paused it is over, and its free slots are
  -- the queue's again now rather than at the end of the back-off
  update fila.provider_accounts a set paused_until = null, pause_reason = null, backoff_step = 0
  where a.account = v_job.account
    and (a.backoff_step > 0 or a.pause_reason is not null or a.paused_until is not null);
  if found then
    perform fila._dispatch_locked();
  end if;
  return v_job;
end;
$$;
comment on function fila.mark_running(uuid, text) is
'starting -> running with the provider task id; sets the tool''s soft and hard deadlines; ends the back-off of the job''s account (and dispatches onto it). A job no longer starting keeps its status (the worker then cancels an orphaned provider task); a terminal job without a task id records this one, so a job finished by a webhook that beat mark_running still names its task.';

create or replace function fila.job_json(j fila.jobs) returns jsonb
language sql stable security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
  -- the job as the HTTP API shows it: the row's columns plus position and eta while queued
  with pos as (
    select case when j.status = 'queued' then fila.queue_position(j.id) end as position
  )
  select jsonb_build_object(
    'id', j.id, 'user_id', j.user_id, 'tool', j.tool, 'status', j.status, 'input', j.input,
    'credit_cost', j.credit_cost, 'provider_task_id', j.provider_task_id, 'outputs', j.outputs,
    'error', j.error, 'presence', j.presence, 'created_at', j.created_at, 'started_at', j.started_at,
    'running_at', j.running_at, 'finished_at', j.finished_at, 'deadline_at', j.deadline_at,
    'account', j.account,
    'position', pos.position,
    'eta', case when pos.position is not null then fila._eta(pos.position, fila._eta_basis()) end)
  from pos;
$$;
comment on function fila.job_json(fila.jobs) is 'A job as JSON for the HTTP API: its columns (with the provider account it started on), plus position and eta while queued (seconds until it starts: the remaining time of the slot holders, per tool, and of the jobs ahead; fila._eta_basis).';

-- Views ----------------------------------------------------------------------------------------

create or replace view fila.queue_overview as
select
  fila._slots_total() as slots_total,
  (select count(*) from fila.jobs j where j.status in ('starting', 'running'))::integer as slots_used,
  -- the tail's place is the queue's length, and the head waited longest: both index probes at any depth
  coalesce((select fila.queue_position(j.id) from fila.jobs j where j.status = 'queued'
            order by j.queue_seq desc limit 1), 0) as queued,
  (select j.created_at from fila.jobs j where j.status = 'queued' order by j.queue_seq limit 1) as oldest_queued_at,
  -- dispatch as a whole is paused when every enabled account is: until the first of them resumes
  (select min(a.paused_until) from fila.provider_accounts a where a.enabled
   having bool_and(coalesce(a.paused_until > clock_timestamp(), false))) as dispatch_paused_until,
  -- the account in the worst trouble (longest back-off) speaks for all; provider_account_overview has each
  w.pause_reason,
  coalesce(w.backoff_step, 0) as backoff_step
from fila.settings s
left join lateral (select a.pause_reason, a.backoff_step from fila.provider_accounts a where a.enabled
                   order by a.backoff_step desc, a.account limit 1) w on true;
comment on view fila.queue_overview is 'One row: usable slots (the least of settings.max_slots and the enabled accounts'' slots) and slots used, queue depth, the oldest waiting job, and whether dispatch is paused because every enabled account is (and the reason of the account in the longest back-off). Per account: provider_account_overview.';

create view fila.provider_account_overview as
select a.account,
       a.max_slots as slots_total,
       (select count(*) from fila.jobs j
        where j.account = a.account and j.status in ('starting', 'running'))::integer as slots_used,
       a.enabled,
       case when a.paused_until > clock_timestamp() then a.paused_until end as paused_until,
       a.pause_reason,
       a.backoff_step,
       a.pauses,
       a.refusals
from fila.provider_accounts a;
comment on view fila.provider_account_overview is 'Per provider account: its slots and their use, whether it is enabled, paused (until when, why, back-off step), and how often it was paused and refused jobs (requeues). Read it ordered by account.';

create or replace view fila.active_jobs as
select j.id as job_id, j.user_id, j.tool, j.status, j.created_at, j.started_at, j.running_at,
       j.soft_deadline_at, j.deadline_at, j.provider_task_id, j.account
from fila.jobs j
where j.status in ('queued', 'starting', 'running');
comment on view fila.active_jobs is 'Jobs in queued, starting or running: at most one per user. deadline_at is the hard deadline of a slot holder; account the provider account it holds a slot on.';

create or replace view fila.stale_jobs as
select j.id as job_id, j.user_id, j.tool, j.status, j.provider_task_id, j.started_at, j.running_at,
       j.soft_deadline_at, j.deadline_at, j.last_seen_at,
       case
         when j.status = 'queued' then 'abandoned'
         when j.deadline_at < now() then 'hard'
         else 'soft'
       end as past,
       j.account
from fila.jobs j
where (j.status in ('starting', 'running') and (j.deadline_at < now() or j.soft_deadline_at < now()))
   or (j.status = 'queued' and j.presence
       and j.last_seen_at < now() - (select s.presence_timeout from fila.settings s));

create or replace view fila.recent_jobs as
select j.id as job_id, j.user_id, j.tool, j.status, j.credit_cost, j.input, j.outputs, j.error,
       j.attempts, j.provider_task_id, j.queue_seq, j.created_at, j.started_at, j.running_at,
       j.finished_at,
       extract(epoch from (j.finished_at - j.started_at))::float8 as slot_seconds,
       j.account
from fila.jobs j;

-- The single pause moved to the accounts (copied into `default` above); the views that read it are
-- replaced, so it can go.
alter table fila.dispatch_state drop column paused_until, drop column pause_reason, drop column backoff_step;
comment on table fila.dispatch_state is 'One row, written only under the EXCLUSIVE dispatch lock (never by a submit). tickets_resolved: every ticket up to it has its job or is in ticket_gaps. Dispatch back-off is per account: fila.provider_accounts.';

-- Grants ---------------------------------------------------------------------------------------

revoke all on fila.provider_accounts from public;
revoke execute on function fila.set_provider_account(text, integer, boolean) from public;
revoke execute on function fila._slots_total(), fila._account_with_free_slot(), fila._pause_account(text, text) from public;
grant execute on function fila.set_provider_account(text, integer, boolean) to fila_app;
grant execute on function fila._slots_total() to fila_app; -- read by queue_overview
grant select on fila.provider_account_overview to fila_app;

-- fila's OLTP functions run without JIT (see 00005); a replaced function starts without its settings.
alter function fila.requeue_job(uuid, text) set jit = off;
alter function fila.mark_running(uuid, text) set jit = off;
alter function fila.set_provider_account(text, integer, boolean) set jit = off;
alter function fila._slots_total() set jit = off;
