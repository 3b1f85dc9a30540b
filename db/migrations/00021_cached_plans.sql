-- 00021 — the hot helpers keep their plans.
-- Why: a SQL-language function that the planner cannot inline (it aggregates, orders, is
-- SECURITY DEFINER or sets a parameter) is parsed and planned again at every call; PL/pgSQL keeps
-- each statement's plan for the session. Measured on 20,000 queued (one connection, pgbench):
-- queue_position 6.1 ms as SQL, 2.6 ms as PL/pgSQL; _dispatch_could_start, which every submit
-- calls, spent 1.8 of a submit's 4.6 ms planning the held_slots view three times. job_json also
-- computed queue_position twice: its "pos" CTE was inlined into both expressions that read it.
-- Bodies are unchanged but for job_json reading the position once and queue_position's ticket
-- arithmetic moving into _tickets_queued (watched_jobs uses it too, 00022); is_active and
-- holds_slot stay SQL (they must be inlined, see 00020).

create or replace function fila._slots_total() returns integer
language plpgsql stable security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
begin
  return (select least(s.max_slots,
                       coalesce((select sum(a.max_slots) from fila.provider_accounts a where a.enabled), 0))::integer
          from fila.settings s);
end;
$$;

create or replace function fila._held_slot_count(p_account text default null) returns integer
language plpgsql stable as $$
begin
  return (select count(*)::integer from fila.held_slots h
          where h.held_until > clock_timestamp() and (p_account is null or h.account = p_account));
end;
$$;

create or replace function fila._account_with_free_slot() returns text
language plpgsql as $$
begin
  return (select a.account
          from fila.provider_accounts a
          cross join lateral (select count(*) + fila._held_slot_count(a.account) as used from fila.jobs j
                              where j.account = a.account and fila.holds_slot(j.status)) u
          where a.enabled
            and (a.paused_until is null or a.paused_until <= clock_timestamp())
            and a.max_slots > u.used
          order by a.max_slots - u.used desc, a.account
          limit 1);
end;
$$;

create or replace function fila._dispatch_could_start() returns boolean
language plpgsql as $$
begin
  return (select count(*) from fila.jobs j where fila.holds_slot(j.status)) + fila._held_slot_count() < fila._slots_total()
     and fila._account_with_free_slot() is not null;
end;
$$;

create or replace function fila._price(p_tool text, p_input jsonb) returns integer
language plpgsql stable as $$
begin
  return (select p.price from fila.tool_prices p
          where p.tool = p_tool and p_input @> p.match
          order by p.priority desc, p.price desc
          limit 1);
end;
$$;

create function fila._tickets_queued(p_head bigint, p_upto bigint) returns bigint
language plpgsql stable as $$
begin
  -- Queued jobs with tickets in [head, upto], head being the queue's first, without walking them:
  -- up to tickets_resolved every ticket is a job or a recorded gap, so it is the tickets less the
  -- jobs that left out of order (few) and the gaps (few).
  if p_head is null or p_upto is null or p_upto < p_head then
    return 0;
  end if;
  return (p_upto - p_head + 1)
    - (select count(*) from fila.jobs g where g.status <> 'queued' and g.queue_seq > p_head and g.queue_seq <= p_upto)
    - (select count(*) from fila.ticket_gaps x where x.queue_seq > p_head and x.queue_seq <= p_upto);
end;
$$;
comment on function fila._tickets_queued(bigint, bigint) is 'Queued jobs whose tickets lie in [p_head, p_upto], where p_head is the queue''s first and p_upto at most dispatch_state.tickets_resolved: by arithmetic on the tickets (queue_position, watched_jobs).';
revoke execute on function fila._tickets_queued(bigint, bigint) from public; -- an internal helper: called by security definer functions

create or replace function fila.queue_position(job_id uuid) returns integer
language plpgsql stable security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
declare
  v_me bigint;
  v_head bigint;
  v_upto bigint;
begin
  -- Jobs queued ahead of me: up to tickets_resolved by arithmetic (_tickets_queued); past it
  -- (submits since the last status change) counted directly.
  select j.queue_seq into v_me from fila.jobs j where j.id = queue_position.job_id and j.status = 'queued';
  if v_me is null then
    return null;
  end if;
  select min(j.queue_seq) into v_head from fila.jobs j where j.status = 'queued';
  v_upto := least((select d.tickets_resolved from fila.dispatch_state d), v_me - 1);
  return (1 + fila._tickets_queued(v_head, v_upto)
            + (select count(*) from fila.jobs q
               where q.status = 'queued' and q.queue_seq > greatest(v_upto, v_head - 1) and q.queue_seq < v_me))::integer;
end;
$$;

create or replace function fila.job_json(j fila.jobs) returns jsonb
language plpgsql stable security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
declare
  v_position integer;
  v_outputs jsonb := j.outputs;
begin
  if j.status = 'queued' then
    v_position := fila.queue_position(j.id);
  end if;
  if jsonb_typeof(j.outputs) = 'array' then
    select coalesce(jsonb_agg(o.v || jsonb_build_object(
             'url', coalesce(s.copy_url, o.v->'url'),
             'provider_url', o.v->'url',
             'copy_url', s.copy_url,
             'copy_status', case when c.status = 'copied' and s.copy_url is null then 'expired' else c.status end)
           order by o.i), '[]'::jsonb)
    into v_outputs
    from jsonb_array_elements(j.outputs) with ordinality as o(v, i)
    left join fila.output_copies c on c.job_id = j.id and c.output_index = o.i - 1
    left join fila.uploads u on u.name = c.upload_name
    cross join lateral (select to_jsonb(case when c.status = 'copied' and u.deleted_at is null then c.url end) as copy_url) s;
  end if;
  return jsonb_build_object(
    'id', j.id, 'user_id', j.user_id, 'tool', j.tool, 'status', j.status, 'input', j.input,
    'credit_cost', j.credit_cost, 'provider_task_id', j.provider_task_id,
    'outputs', v_outputs,
    'error', j.error, 'presence', j.presence, 'created_at', j.created_at, 'started_at', j.started_at,
    'running_at', j.running_at, 'finished_at', j.finished_at, 'deadline_at', j.deadline_at,
    'account', j.account,
    'position', v_position,
    'eta', case when v_position is not null then fila._eta(v_position, fila._eta_basis()) end);
end;
$$;
