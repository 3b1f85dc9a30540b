-- 00005 — submits of different users run in parallel; reads stay flat at any queue depth.
-- Why: every submit used to take the dispatch lock for its FIFO ticket and hold it through its
-- commit, and bumped the one-row dispatch_state: all submits of all users committed one at a
-- time, each behind its own fsync (0.19x pgbench -N). Now:
--   * a submit takes the dispatch lock SHARED (so submits run side by side) and draws its ticket
--     from a sequence while holding it, to commit; every status change takes it EXCLUSIVE, so a
--     dispatcher waits for the submits in flight and then sees every ticket below any future one;
--   * a submit that finds a slot free (under its shared hold) dispatches, so it gives the shared
--     hold back and takes the lock exclusive (serial, as before, but only while slots are free: the
--     queue is then empty); no committed state ever has a queued job beside a free slot;
--   * tickets can now have gaps (a submit that rolls back after drawing one). Whoever holds the
--     exclusive lock resolves the tickets drawn since the last time (no submit is in flight then):
--     the gaps go to fila.ticket_gaps, so queue_position stays exact and an index walk at any depth;
--   * the ETA counts the remaining time of the slot holders (per tool) and the jobs ahead, and
--     fila.watched_jobs gives every position and ETA an API process watches in one statement;
--   * fila's OLTP functions run with jit = off (a JIT compile costs more than the statement).
-- The argument for correctness is in db/README.md ("Parallel submits: why FIFO still holds").

-- Converting the ticket counter: no submit of the old kind may be in flight.
select pg_catalog.pg_advisory_xact_lock(1179208769, 0);

create sequence fila.queue_tickets as bigint cache 1 no cycle;
comment on sequence fila.queue_tickets is
'FIFO tickets. Drawn only while holding the dispatch lock SHARED (submit_job), so a holder of the EXCLUSIVE lock knows every ticket up to last_value is committed or rolled back. cache 1: tickets increase in the order they are drawn, across sessions.';
select pg_catalog.setval('fila.queue_tickets',
  greatest(d.last_queue_seq, coalesce((select max(j.queue_seq) from fila.jobs j), 0), 1),
  greatest(d.last_queue_seq, coalesce((select max(j.queue_seq) from fila.jobs j), 0)) > 0)
from fila.dispatch_state d;

alter table fila.dispatch_state add column tickets_resolved bigint not null default 0;
update fila.dispatch_state d set tickets_resolved = greatest(d.last_queue_seq, coalesce((select max(j.queue_seq) from fila.jobs j), 0));
alter table fila.dispatch_state drop column last_queue_seq;
comment on table fila.dispatch_state is 'One row, written only under the EXCLUSIVE dispatch lock (never by a submit). tickets_resolved: every ticket up to it has its job or is in ticket_gaps. paused_until/pause_reason/backoff_step: dispatch back-off after provider-wide trouble.';
comment on column fila.jobs.queue_seq is 'FIFO ticket from fila.queue_tickets, drawn under the SHARED dispatch lock at submit, kept on requeue (the job keeps its place). Not gapless: see fila.ticket_gaps.';

create table fila.ticket_gaps (
  queue_seq bigint primary key
);
comment on table fila.ticket_gaps is 'Tickets drawn by a submit that rolled back (no job has them), found by the holder of the EXCLUSIVE dispatch lock up to dispatch_state.tickets_resolved. queue_position subtracts them.';

-- Recent slot durations per tool (the ETA): an index walk, whatever the history's size.
create index jobs_completed_by_tool on fila.jobs (tool, finished_at desc) where status = 'completed';

-- Locks --------------------------------------------------------------------------------------------

-- A statement after the dispatch lock must see what committed while we waited: that needs READ
-- COMMITTED (under REPEATABLE READ the snapshot predates the lock: slots would be over-counted, and
-- a submit's free-slot check could miss the finish it waited for).
create function fila._require_read_committed() returns void
language plpgsql as $$
begin
  if current_setting('transaction_isolation') <> 'read committed' then
    raise exception 'fila state changes must run in READ COMMITTED, not %', current_setting('transaction_isolation')
      using errcode = '25001';
  end if;
end;
$$;

create or replace function fila._lock_dispatch() returns void
language plpgsql as $$
begin
  perform fila._require_read_committed();
  perform pg_catalog.pg_advisory_xact_lock(1179208769, 0); -- 'FILA' dispatch lock, EXCLUSIVE
  perform fila._resolve_tickets();
end;
$$;

-- A submit's hold on the dispatch lock: shared with other submits, excluded by every status change.
create function fila._lock_dispatch_shared() returns void
language plpgsql as $$
begin
  perform fila._require_read_committed();
  perform pg_catalog.pg_advisory_xact_lock_shared(1179208769, 0);
end;
$$;

-- Under the EXCLUSIVE lock no submit is in flight, so every ticket drawn so far belongs to a
-- committed job or to a rolled-back submit: record the latter. Nothing to do (and no write) when
-- nobody submitted since the last time; a range count over the tickets drawn since, otherwise.
create function fila._resolve_tickets() returns void
language plpgsql as $$
declare
  v_from bigint;
  v_to bigint;
  v_present bigint;
begin
  select d.tickets_resolved into v_from from fila.dispatch_state d;
  select case when t.is_called then t.last_value else t.last_value - 1 end into v_to from fila.queue_tickets t;
  if v_to <= v_from then
    return;
  end if;
  select count(*) into v_present from fila.jobs j where j.queue_seq > v_from and j.queue_seq <= v_to;
  if v_present < v_to - v_from then
    insert into fila.ticket_gaps (queue_seq)
    select g from pg_catalog.generate_series(v_from + 1, v_to) g
    where not exists (select 1 from fila.jobs j where j.queue_seq = g)
    on conflict do nothing;
  end if;
  update fila.dispatch_state d set tickets_resolved = v_to;
end;
$$;

-- Could dispatch start a job now? (a free slot and no back-off pause). A submit asks it holding the
-- lock shared: when the answer is no, whatever frees a slot later takes the lock exclusive, so it
-- runs after this submit commits and dispatches its job.
create function fila._dispatch_could_start() returns boolean
language sql stable as $$
  select (select count(*) from fila.jobs j where j.status in ('starting', 'running'))
           < (select s.max_slots from fila.settings s)
     and not exists (select 1 from fila.dispatch_state d where d.paused_until > clock_timestamp());
$$;

-- Submit ---------------------------------------------------------------------------------------------

create or replace function fila.submit_job(
  user_id uuid, tool text, input jsonb, idempotency_key text default null, presence boolean default false
) returns fila.jobs
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
declare
  v_job fila.jobs;
  v_tool fila.tools;
  v_price integer;
  v_balance integer;
  v_dispatcher boolean := false;
begin
  if submit_job.user_id is null then
    raise exception 'user_id is required' using errcode = '22004';
  end if;
  if submit_job.input is null or jsonb_typeof(submit_job.input) <> 'object' then
    raise exception 'input must be a JSON object' using errcode = '22023';
  end if;
  perform fila._lock_user(submit_job.user_id);

  if submit_job.idempotency_key is not null then
    select * into v_job from fila.jobs j
    where j.user_id = submit_job.user_id and j.idempotency_key = submit_job.idempotency_key;
    if found then
      if v_job.tool = submit_job.tool and v_job.input = submit_job.input then
        return v_job; -- a retry: the same job, debited once
      end if;
      perform fila._raise('FL006', 'Esta chave de idempotência já foi usada para outro pedido.',
        format('key %s belongs to job %s', submit_job.idempotency_key, v_job.id));
    end if;
  end if;

  select * into v_tool from fila.tools t where t.tool = submit_job.tool;
  if not found or not v_tool.enabled then
    perform fila._raise('FL003', format('Ferramenta desconhecida ou desativada: %s.', submit_job.tool));
  end if;

  if exists (select 1 from fila.jobs j
             where j.user_id = submit_job.user_id and j.status in ('queued', 'starting', 'running')) then
    perform fila._raise('FL001', 'Você já tem um processamento em andamento. Aguarde finalizar.');
  end if;

  v_price := fila._price(submit_job.tool, submit_job.input);
  if v_price is null then
    perform fila._raise('FL003', format('Ferramenta sem preço configurado: %s.', submit_job.tool));
  end if;

  -- Shared with other submits and held to commit when every slot is busy: a transition that frees
  -- one takes the lock exclusive, so it waits for this submit and then dispatches its job. With a
  -- slot free this submit must dispatch, atomically with its insert, so it takes the lock
  -- exclusive instead: the shared hold was taken inside this block, and leaving the block through
  -- the exception gives it back (its subtransaction rolls back) before waiting — never an
  -- upgrade, which would deadlock two submits that both hold it shared.
  begin
    perform fila._lock_dispatch_shared();
    if fila._dispatch_could_start() then
      raise exception using errcode = 'FL0SF', message = 'a slot is free: submit as a dispatcher';
    end if;
  exception when sqlstate 'FL0SF' then
    perform fila._lock_dispatch();
    v_dispatcher := true;
  end;

  if v_price > 0 then
    update fila.balances b set balance = b.balance - v_price, updated_at = now()
    where b.user_id = submit_job.user_id and b.balance >= v_price;
    if not found then
      v_balance := fila.credit_balance(submit_job.user_id);
      perform fila._raise('FL002', 'Créditos insuficientes.',
        format('price %s, balance %s', v_price, v_balance));
    end if;
  end if;

  insert into fila.jobs (user_id, tool, input, credit_cost, idempotency_key, presence, last_seen_at, queue_seq)
  values (submit_job.user_id, submit_job.tool, submit_job.input, v_price, submit_job.idempotency_key,
          submit_job.presence, case when submit_job.presence then now() end, nextval('fila.queue_tickets'))
  returning * into v_job;
  insert into fila.credit_entries (user_id, job_id, kind, amount, reason)
  values (v_job.user_id, v_job.id, 'debit', -v_price, 'submit ' || v_job.tool);
  perform fila._record(v_job.id, null, 'queued', 'submitted');
  if v_dispatcher then
    perform fila._dispatch_locked();
    select * into v_job from fila.jobs j where j.id = v_job.id;
  end if;
  return v_job;
end;
$$;
comment on function fila.submit_job(uuid, text, jsonb, text, boolean) is
'Price (server-side, fila.tool_prices), debit, insert queued with a FIFO ticket, wake dispatch: one transaction, in parallel with other users'' submits. Same idempotency key + same user returns the same job (checked before FL001); same key with another tool or input: FL006. Refusals: FL001 user_has_active_job, FL002 insufficient_credits, FL003 unknown_tool.';

-- Reads at depth ------------------------------------------------------------------------------------

create or replace function fila.queue_position(job_id uuid) returns integer
language sql stable security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
  -- Jobs queued ahead of me, without walking them. Up to tickets_resolved every ticket is a job
  -- or a recorded gap, so between the head and me: tickets - jobs that left (out of order: few) -
  -- gaps (few). Past tickets_resolved (submits since the last status change) count directly.
  with me as (
    select j.queue_seq as s from fila.jobs j where j.id = queue_position.job_id and j.status = 'queued'
  ), b as (
    select me.s,
           (select min(j.queue_seq) from fila.jobs j where j.status = 'queued') as h,
           least((select d.tickets_resolved from fila.dispatch_state d), me.s - 1) as upto
    from me
  )
  select (1
    + case when b.upto >= b.h then
        (b.upto - b.h + 1)
        - (select count(*) from fila.jobs g where g.status <> 'queued' and g.queue_seq > b.h and g.queue_seq <= b.upto)
        - (select count(*) from fila.ticket_gaps x where x.queue_seq > b.h and x.queue_seq <= b.upto)
      else 0 end
    + (select count(*) from fila.jobs q
       where q.status = 'queued' and q.queue_seq > greatest(b.upto, b.h - 1) and q.queue_seq < b.s))::integer
  from b;
$$;
comment on function fila.queue_position(uuid) is '1-based place of a queued job in the global FIFO; null when it is not queued. Exact whatever the tickets'' gaps; index probes and short range counts at any depth.';

-- The ETA ---------------------------------------------------------------------------------------------
-- A queued job at place p starts at the p-th slot opening. Each slot opens when its holder ends
-- (its tool's recent average slot time minus what it already ran; a free slot at once, or when a
-- back-off pause ends) and then again every d seconds (the recent average over all tools: the
-- jobs ahead). fila._eta_basis() computes that once per statement; fila._eta(p, basis) is then
-- arithmetic, so a statement can give ten thousand watched jobs their ETA.

create type fila.eta_basis as (
  r float8[],    -- seconds until each slot first opens, ascending
  d float8,      -- seconds between two openings of one slot
  t float8,      -- the latest first opening
  n integer,     -- slots
  n0 bigint,     -- openings before t
  offs float8[]  -- from t on, each slot opens once per d: the offsets within that window, ascending
);
comment on type fila.eta_basis is 'What fila._eta needs to place the p-th slot opening: see fila._eta_basis().';

create function fila._eta_basis() returns fila.eta_basis
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
  select s.max_slots into v_slots from fila.settings s;
  select greatest(coalesce(extract(epoch from d.paused_until - clock_timestamp()), 0), 0) into v_pause
  from fila.dispatch_state d;
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

-- The p-th opening when it comes before the latest first opening (a slot held long, e.g. a video,
-- while the others cycle): drop the slot that opens last and look among the others.
create function fila._eta_early(p bigint, r float8[], d float8) returns integer
language plpgsql immutable as $$
declare
  v_n integer := array_length(r, 1);
  v_t float8;
  v_n0 bigint;
  v_offs float8[];
  v_k bigint;
begin
  loop
    v_t := r[v_n];
    select coalesce(sum(ceil((v_t - x.v) / d)), 0) into v_n0 from unnest(r[1:v_n - 1]) x(v);
    exit when p > v_n0 or v_n = 1;
    v_n := v_n - 1;
  end loop;
  select array_agg(ceil((v_t - x.v) / d) * d - (v_t - x.v) order by ceil((v_t - x.v) / d) * d - (v_t - x.v))
  into v_offs from unnest(r[1:v_n]) x(v);
  v_k := (p - v_n0 - 1) / v_n;
  return ceil(v_t + v_k * d + v_offs[((p - v_n0 - 1) % v_n)::integer + 1])::integer;
end;
$$;

create function fila._eta(p bigint, b fila.eta_basis) returns integer
language sql immutable as $$
  select case
    when p is null or b.n is null or b.n = 0 then null
    when p > b.n0 then ceil(b.t + ((p - b.n0 - 1) / b.n) * b.d + b.offs[((p - b.n0 - 1) % b.n)::integer + 1])::integer
    else fila._eta_early(p, b.r, b.d)
  end;
$$;
comment on function fila._eta(bigint, fila.eta_basis) is 'Seconds until the job at queue place p starts: the p-th slot opening (fila._eta_basis).';

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
    'position', pos.position,
    'eta', case when pos.position is not null then fila._eta(pos.position, fila._eta_basis()) end)
  from pos;
$$;
comment on function fila.job_json(fila.jobs) is 'A job as JSON for the HTTP API: its columns, plus position and eta while queued (seconds until it starts: the remaining time of the slot holders, per tool, and of the jobs ahead).';

-- Every watched job at once: an API process's event streams after a transition (one statement,
-- however many streams). Positions by one walk of the queue up to the last watched job.
create function fila.watched_jobs(job_ids uuid[])
returns table (id uuid, status fila.job_status, "position" integer, eta integer, json jsonb)
language sql stable security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
  with w as (
    select j.* from fila.jobs j where j.id = any(watched_jobs.job_ids)
  ), q as (
    select j.id, row_number() over (order by j.queue_seq) as position
    from fila.jobs j
    where j.status = 'queued'
      and j.queue_seq <= (select max(w.queue_seq) from w where w.status = 'queued')
  ), basis as materialized (
    -- once per statement, not once per row
    select fila._eta_basis() as b
  )
  select w.id, w.status, q.position::integer, fila._eta(q.position, basis.b),
         case when w.status <> 'queued' then fila.job_json(w::fila.jobs) end
  from w
  left join q on q.id = w.id
  cross join basis;
$$;
comment on function fila.watched_jobs(uuid[]) is 'For each given job: status, position and eta while queued, and the whole job JSON once it is not queued. One statement for every event stream of an API process.';

-- The head of the queue with its places, walking only the head (the view fila.queue numbers the
-- whole queue before a limit applies: 100,000 rows for the dashboard's first 100).
create function fila.queue_head(n integer) returns setof fila.queue
language sql stable security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
  select h.id, h.user_id, h.tool, (row_number() over (order by h.queue_seq))::integer, h.created_at, h.presence, h.last_seen_at
  from (select j.* from fila.jobs j where j.status = 'queued' order by j.queue_seq limit queue_head.n) h
  order by h.queue_seq;
$$;
comment on function fila.queue_head(integer) is 'The first n queued jobs with their places (fila.queue''s columns), reading only them.';

-- Presence for every open stream of an API process in one statement (was one per stream).
create function fila.touch_jobs(job_ids uuid[], user_ids uuid[]) returns void
language sql security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
  update fila.jobs j set last_seen_at = now()
  from unnest(touch_jobs.job_ids, touch_jobs.user_ids) as t(job_id, user_id)
  where j.id = t.job_id and j.user_id = t.user_id and j.status = 'queued' and j.presence
    and j.last_seen_at < now() - interval '2 seconds';
$$;
comment on function fila.touch_jobs(uuid[], uuid[]) is 'Presence for many queued jobs at once (pairs of job and its owner): an API process''s open event streams.';

-- No JIT on the OLTP statements: their plans are index walks; compiling costs more than running.
alter function fila.dispatch() set jit = off;
alter function fila.mark_running(uuid, text) set jit = off;
alter function fila.finish_job(uuid, fila.job_status, jsonb, text) set jit = off;
alter function fila.requeue_job(uuid, text) set jit = off;
alter function fila.cancel_job(uuid, uuid) set jit = off;
alter function fila.reap_stale_jobs(timestamptz) set jit = off;
alter function fila.active_job(uuid) set jit = off;
alter function fila.touch_job(uuid, uuid) set jit = off;
alter function fila.receive_webhook(uuid, text, jsonb) set jit = off;
alter function fila.job(uuid, uuid) set jit = off;

revoke execute on function fila.watched_jobs(uuid[]), fila.touch_jobs(uuid[], uuid[]), fila.queue_head(integer) from public;
grant execute on function fila.watched_jobs(uuid[]), fila.touch_jobs(uuid[], uuid[]), fila.queue_head(integer) to fila_app;
revoke execute on function fila._require_read_committed(), fila._lock_dispatch_shared(), fila._resolve_tickets(),
  fila._dispatch_could_start(), fila._eta_basis(), fila._eta_early(bigint, float8[], float8), fila._eta(bigint, fila.eta_basis)
  from public;
