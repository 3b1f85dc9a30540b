-- 00022 — the event streams' one statement no longer walks the queue.
-- Why: fila.watched_jobs numbered every queued job up to the last watched one (row_number over the
-- queue) at each transition and every ETA refresh: 120 ms for 10,000 streams at 10,000 queued, and
-- growing with the depth, not with what is watched. It now places each watched job the way
-- fila.queue_position does: up to tickets_resolved, arithmetic on the tickets less the jobs that
-- left out of order and the recorded gaps (two short index counts per watched job); past it (the
-- submits since the last status change) by numbering only those.

create or replace function fila.watched_jobs(job_ids uuid[])
returns table (id uuid, status fila.job_status, "position" integer, eta integer, json jsonb)
language plpgsql stable security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
declare
  v_head bigint;
  v_resolved bigint;
  v_before_tail bigint; -- queued jobs in [head, tickets_resolved]
begin
  select min(j.queue_seq) into v_head from fila.jobs j where j.status = 'queued';
  select d.tickets_resolved into v_resolved from fila.dispatch_state d;
  v_before_tail := fila._tickets_queued(v_head, v_resolved);
  return query
  with w as materialized (
    select j.id, j.status, j.queue_seq, j as job
    from (select distinct u.id from unnest(watched_jobs.job_ids) u(id)) u
    join fila.jobs j on j.id = u.id
  ), bound as (
    select max(w.queue_seq) as last_watched from w where w.status = 'queued'
  ), tail as (
    -- queued past the resolved tickets (and not before the head): numbered directly
    select j.id, v_before_tail + row_number() over (order by j.queue_seq) as place
    from fila.jobs j, bound
    where j.status = 'queued'
      and j.queue_seq > greatest(v_resolved, v_head - 1)
      and j.queue_seq <= bound.last_watched
  ), resolved as (
    -- up to the resolved tickets: place = tickets from the head - the tickets below that are no
    -- queued job (jobs that left out of order, recorded gaps: few), counted for every watched job
    -- in one ordered pass over the watched jobs and those few tickets
    select m.id, m.s - v_head + 1 - sum(m.not_queued) over (order by m.s rows unbounded preceding) as place, m.not_queued
    from (
      select w.id, w.queue_seq as s, 0 as not_queued from w where w.status = 'queued' and w.queue_seq <= v_resolved
      union all
      select null, g.queue_seq, 1 from fila.jobs g, bound
      where g.status <> 'queued' and g.queue_seq > v_head and g.queue_seq <= least(v_resolved, bound.last_watched)
      union all
      select null, x.queue_seq, 1 from fila.ticket_gaps x, bound
      where x.queue_seq > v_head and x.queue_seq <= least(v_resolved, bound.last_watched)
    ) m
  ), placed as (
    select r.id, r.place from resolved r where r.not_queued = 0
    union all
    select t.id, t.place from tail t
  ), basis as materialized (
    -- once per statement, not once per row
    select fila._eta_basis() as b
  )
  select w.id, w.status, p.place::integer, fila._eta(p.place, basis.b),
         case when w.status <> 'queued' then fila.job_json(w.job) end
  from w
  left join placed p on p.id = w.id
  cross join basis;
end;
$$;

-- Tickets are resolved (each one a job or a recorded gap) only under the exclusive dispatch lock,
-- which every status change takes. A launch that fills the queue while the slots are held by long
-- jobs leaves thousands of submits unresolved, and queue_position and watched_jobs count those
-- directly. The worker's poller resolves them every few seconds once there are many: the
-- exclusive lock waits for the submits in flight (a ticket below is then a job or a gap for good)
-- and holds new ones back for one range count.
create function fila.resolve_tickets(min_unresolved integer default 1000) returns bigint
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
declare
  v_last bigint;
  v_resolved bigint;
begin
  select case when t.is_called then t.last_value else t.last_value - 1 end into v_last from fila.queue_tickets t;
  select d.tickets_resolved into v_resolved from fila.dispatch_state d;
  if v_last - v_resolved < greatest(resolve_tickets.min_unresolved, 1) then
    return 0;
  end if;
  perform fila._lock_dispatch(); -- exclusive; resolves every ticket handed out before it was granted
  return (select d.tickets_resolved from fila.dispatch_state d) - v_resolved;
end;
$$;
comment on function fila.resolve_tickets(integer) is 'When at least min_unresolved tickets were handed out since the last status change, take the dispatch lock exclusively (it waits for the submits in flight) and record which are jobs and which gaps, so that queue_position and watched_jobs place them by arithmetic. Returns how many tickets it resolved (0: too few to bother). The worker''s poller calls it.';
revoke execute on function fila.resolve_tickets(integer) from public;
grant execute on function fila.resolve_tickets(integer) to fila_worker;
