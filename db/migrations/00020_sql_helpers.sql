-- 00020 — one lookup refuses an unknown job, and each status list has one home.
-- Why: the same SQL was written again in every function that needed it, free to drift. FL004
-- "Processamento não encontrado." was raised by four lookups of their own (the transitions'
-- _job_for_update, fila.job, touch_job, receive_webhook), each free to drift from the others in
-- what it checks and says; fila._job is now the one lookup of a job by id, optionally locked,
-- optionally of one owner, and the only place that refuses. The status lists "queued, starting or
-- running" (the user's one active job) and "starting or running" (holds a provider slot) were
-- spelled out seventeen times in nine functions and five views; they are now fila.is_active and
-- fila.holds_slot, used by all of them. Both are SQL functions with a body parsed at creation, so
-- the planner inlines them into the literal list: a query written with them still uses the
-- partial indexes that spell it out (jobs_one_active_per_user, jobs_holding_slot,
-- jobs_holding_slot_by_account); the plans of submit_job, dispatch, the reaper and the views are
-- unchanged. Those index predicates and the checks slot_holder_has_account and
-- slot_holder_has_deadline keep the literal list (an index or a check is not rebuilt to call a
-- function): they change together with these functions. Behaviour is unchanged, with one
-- exception: touch_job with a null user_id is refused with 22004 (user_id is required), as
-- submit_job is, instead of FL004.

-- The two status lists. Immutable SQL with a standard body: inlined wherever they are called, so
-- they cost nothing and partial-index predicates written with the same list still match.
create function fila.is_active(status fila.job_status) returns boolean
language sql immutable parallel safe
return status in ('queued', 'starting', 'running');
comment on function fila.is_active(fila.job_status) is
'queued, starting or running: the job is its user''s one active job (at most one per user: the unique index jobs_one_active_per_user, whose predicate spells the same list).';

create function fila.holds_slot(status fila.job_status) returns boolean
language sql immutable parallel safe
return status in ('starting', 'running');
comment on function fila.holds_slot(fila.job_status) is
'starting or running: the job holds a slot of its provider account (an ended job may still hold one: fila.held_slots). The partial indexes jobs_holding_slot and jobs_holding_slot_by_account and the checks slot_holder_has_account and slot_holder_has_deadline spell the same list.';

-- The one lookup of a job by id that refuses: FL004 when there is no such job or (p_user_id given)
-- it is someone else's, one refusal for both so that an id tells a stranger nothing.
create function fila._job(p_job_id uuid, p_user_id uuid default null, p_for_update boolean default false) returns fila.jobs
language plpgsql as $$
declare
  v_job fila.jobs;
begin
  if p_for_update then
    select * into v_job from fila.jobs j where j.id = p_job_id for update;
  else
    select * into v_job from fila.jobs j where j.id = p_job_id;
  end if;
  if not found or (p_user_id is not null and v_job.user_id <> p_user_id) then
    perform fila._raise('FL004', 'Processamento não encontrado.', format('job %s', p_job_id));
  end if;
  return v_job;
end;
$$;
comment on function fila._job(uuid, uuid, boolean) is
'The job with this id, its row locked when p_for_update; FL004 when there is none or, p_user_id given, it belongs to someone else (p_user_id null: any owner, for operators and the worker). The one place that refuses an unknown job.';

-- The transitions' lookup: the job, locked for the rest of the caller's transaction.
create or replace function fila._job_for_update(p_job_id uuid, p_user_id uuid default null) returns fila.jobs
language plpgsql as $$
begin
  return fila._job(p_job_id, p_user_id, p_for_update => true);
end;
$$;

create or replace function fila.job(job_id uuid, user_id uuid default NULL::uuid) returns fila.jobs
language plpgsql stable security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
begin
  return fila._job(job.job_id, job.user_id);
end;
$$;

create or replace function fila.touch_job(job_id uuid, user_id uuid) returns void
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
begin
  -- always a user's call: without one, fila._job would take any owner's job
  if touch_job.user_id is null then
    raise exception 'user_id is required' using errcode = '22004';
  end if;
  perform fila._job(touch_job.job_id, touch_job.user_id);
  -- a write at most every two seconds per job, however many streams and heartbeats
  update fila.jobs j set last_seen_at = now()
  where j.id = touch_job.job_id and j.status = 'queued' and j.presence
    and j.last_seen_at < now() - interval '2 seconds';
end;
$$;

create or replace function fila.receive_webhook(job_id uuid, provider text, payload jsonb) returns bigint
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
declare
  v_id bigint;
begin
  perform fila._job(receive_webhook.job_id);
  insert into fila.webhook_inbox (job_id, provider, payload)
  values (receive_webhook.job_id, receive_webhook.provider, receive_webhook.payload)
  returning id into v_id;
  perform graphile_worker.add_job('apply_webhook', json_build_object('inbox_id', v_id), max_attempts := 10);
  return v_id;
end;
$$;

-- The status lists, by name.

create or replace function fila._account_with_free_slot() returns text
language sql as $$
  select a.account
  from fila.provider_accounts a
  cross join lateral (select count(*) + fila._held_slot_count(a.account) as used from fila.jobs j
                      where j.account = a.account and fila.holds_slot(j.status)) u
  where a.enabled
    and (a.paused_until is null or a.paused_until <= clock_timestamp())
    and a.max_slots > u.used
  order by a.max_slots - u.used desc, a.account
  limit 1;
$$;

create or replace function fila._dispatch_could_start() returns boolean
language sql as $$
  select (select count(*) from fila.jobs j where fila.holds_slot(j.status)) + fila._held_slot_count() < fila._slots_total()
     and fila._account_with_free_slot() is not null;
$$;

create or replace function fila._dispatch_locked() returns SETOF fila.jobs
language plpgsql as $$
declare
  v_settings fila.settings;
  v_free integer;
  v_account text;
  v_job fila.jobs;
begin
  select * into v_settings from fila.settings;
  select v_settings.max_slots - count(*) - fila._held_slot_count() into v_free
  from fila.jobs j where fila.holds_slot(j.status);
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
  where fila.holds_slot(h.status);
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

create or replace function fila.active_job(user_id uuid) returns fila.jobs
language sql stable security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
  select * from fila.jobs j
  where j.user_id = active_job.user_id and fila.is_active(j.status);
$$;

create or replace function fila.activity_history(hours integer default 3, bucket_seconds integer default 60, as_of timestamp with time zone default now()) returns TABLE(bucket_start timestamp with time zone, queue_depth integer, slots_used integer, starts integer, wait_p50_seconds double precision, wait_p95_seconds double precision, completed integer, failed integer, canceled integer, refunds integer, refunded_credits integer)
language sql stable security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
  -- From the event log. Queue depth and slots in use are levels: today's level (the jobs table, in
  -- the same snapshot as the events) minus what the events after each bucket's end changed, so only
  -- the window's events are read however long the log is. The rest are counts per bucket. Each
  -- source is grouped by bucket once (no per-bucket scans), so a 3-hour view is one pass.
  with params as (
    select make_interval(secs => greatest(activity_history.bucket_seconds, 10)) as width,
           activity_history.as_of as upto,
           activity_history.as_of - make_interval(hours => least(greatest(activity_history.hours, 1), 48)) as since
  ), bounds as (
    select p.width, date_bin(p.width, p.since, timestamptz 'epoch') as first_bucket,
           date_bin(p.width, p.upto, timestamptz 'epoch') as last_bucket
    from params p
  ), buckets as (
    select b as bucket_start from bounds x, generate_series(x.first_bucket, x.last_bucket, x.width) as b
  ), per_bucket as (
    -- events after the last bucket (as_of in the past) land in a later bucket: they still count
    -- when the levels are walked back from today's
    select date_bin(x.width, e.at, timestamptz 'epoch') as bucket_start,
           sum(case when e.to_status = 'queued' then 1 else 0 end
               - case when e.from_status = 'queued' then 1 else 0 end) as queue_delta,
           sum(case when fila.holds_slot(e.to_status) then 1 else 0 end
               - case when fila.holds_slot(e.from_status) then 1 else 0 end) as slot_delta,
           count(*) filter (where e.to_status = 'completed') as completed,
           count(*) filter (where e.to_status = 'failed') as failed,
           count(*) filter (where e.to_status = 'canceled') as canceled
    from fila.job_events e, bounds x
    where e.at >= x.first_bucket
    group by 1
  ), waits as (
    select date_bin(x.width, e.at, timestamptz 'epoch') as bucket_start,
           count(*) as starts,
           percentile_cont(0.5) within group (order by extract(epoch from (e.at - j.created_at))) as p50,
           percentile_cont(0.95) within group (order by extract(epoch from (e.at - j.created_at))) as p95
    from fila.job_events e join fila.jobs j on j.id = e.job_id, bounds x
    where e.at >= x.first_bucket and e.from_status = 'queued' and e.to_status = 'starting'
    group by 1
  ), refund_buckets as (
    select date_bin(x.width, r.created_at, timestamptz 'epoch') as bucket_start,
           count(*) as refunds, sum(r.amount) as credits
    from fila.credit_entries r, bounds x
    where r.kind = 'refund' and r.created_at >= x.first_bucket
    group by 1
  ), now_level as (
    select (count(*) filter (where j.status = 'queued')) as queued,
           (count(*) filter (where fila.holds_slot(j.status))) as holding
    from fila.jobs j where fila.is_active(j.status)
  ), walked as (
    -- every bucket that has events, in time order, with what changed after its end
    select pb.*,
           coalesce(sum(pb.queue_delta) over later, 0) as queue_after,
           coalesce(sum(pb.slot_delta) over later, 0) as slots_after
    from per_bucket pb
    window later as (order by pb.bucket_start rows between 1 following and unbounded following)
  )
  select b.bucket_start,
         (l.queued - coalesce(w.queue_after,
            (select coalesce(sum(pb.queue_delta), 0) from per_bucket pb where pb.bucket_start > b.bucket_start)))::integer,
         (l.holding - coalesce(w.slots_after,
            (select coalesce(sum(pb.slot_delta), 0) from per_bucket pb where pb.bucket_start > b.bucket_start)))::integer,
         coalesce(ws.starts, 0)::integer, ws.p50::float8, ws.p95::float8,
         coalesce(w.completed, 0)::integer, coalesce(w.failed, 0)::integer, coalesce(w.canceled, 0)::integer,
         coalesce(rb.refunds, 0)::integer, coalesce(rb.credits, 0)::integer
  from buckets b
  cross join now_level l
  left join walked w on w.bucket_start = b.bucket_start
  left join waits ws on ws.bucket_start = b.bucket_start
  left join refund_buckets rb on rb.bucket_start = b.bucket_start
  order by b.bucket_start;
$$;

create or replace function fila.expired_uploads(retention interval, grace interval, as_of timestamp with time zone default now()) returns SETOF text
language sql stable security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
  -- older than the retention, or used by a job of its owner that finished more than grace ago;
  -- never while a job of its owner that names it still waits or runs
  select u.name
  from fila.uploads u
  where u.deleted_at is null
    and (u.created_at < expired_uploads.as_of - expired_uploads.retention
         or exists (select 1 from fila.jobs j
                    where j.user_id = u.user_id and j.finished_at < expired_uploads.as_of - expired_uploads.grace
                      and strpos(j.input::text, u.name) > 0))
    and not exists (select 1 from fila.jobs j
                    where j.user_id = u.user_id and fila.is_active(j.status)
                      and strpos(j.input::text, u.name) > 0)
  order by u.created_at;
$$;

create or replace function fila.reap_stale_jobs(as_of timestamp with time zone default now()) returns SETOF fila.jobs
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
    where fila.holds_slot(j.status) and j.deadline_at < reap_stale_jobs.as_of
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

create or replace function fila.submit_job(user_id uuid, tool text, input jsonb, idempotency_key text default NULL::text, presence boolean default false) returns fila.jobs
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
  if not found then
    perform fila._raise('FL003', format('Ferramenta desconhecida: %s.', submit_job.tool));
  end if;
  if not v_tool.enabled then
    perform fila._raise('FL003', format('Ferramenta indisponível: %s. %s', submit_job.tool,
      coalesce(v_tool.disabled_reason, 'Desativada por um operador.')));
  end if;

  if exists (select 1 from fila.jobs j
             where j.user_id = submit_job.user_id and fila.is_active(j.status)) then
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

create or replace view fila.active_jobs as
 SELECT j.id AS job_id,
    j.user_id,
    j.tool,
    j.status,
    j.created_at,
    j.started_at,
    j.running_at,
    j.soft_deadline_at,
    j.deadline_at,
    j.provider_task_id,
    j.account
   FROM fila.jobs j
  WHERE fila.is_active(j.status);

create or replace view fila.provider_account_check as
 SELECT s.account,
    s.current_task_counts AS provider_running,
    o.fila_occupied,
    a.max_slots,
    s.current_task_counts <> o.fila_occupied AS disagrees,
    s.remain_coins,
    s.remain_money,
    s.checked_at
   FROM fila.provider_account_status s
     LEFT JOIN fila.provider_accounts a ON a.account = s.account
     CROSS JOIN LATERAL ( SELECT count(*)::integer AS fila_occupied
           FROM fila.jobs j
          WHERE j.account = s.account AND fila.holds_slot(j.status)) o;

create or replace view fila.provider_account_overview as
 SELECT a.account,
    a.max_slots AS slots_total,
    (( SELECT count(*) AS count
           FROM fila.jobs j
          WHERE j.account = a.account AND fila.holds_slot(j.status)))::integer AS slots_used,
    a.enabled,
        CASE
            WHEN a.paused_until > clock_timestamp() THEN a.paused_until
            ELSE NULL::timestamp with time zone
        END AS paused_until,
    a.pause_reason,
    a.backoff_step,
    a.pauses,
    a.refusals
   FROM fila.provider_accounts a;

create or replace view fila.queue_overview as
 SELECT fila._slots_total() AS slots_total,
    (( SELECT count(*) AS count
           FROM fila.jobs j
          WHERE fila.holds_slot(j.status)))::integer AS slots_used,
    COALESCE(( SELECT fila.queue_position(j.id) AS queue_position
           FROM fila.jobs j
          WHERE j.status = 'queued'::fila.job_status
          ORDER BY j.queue_seq DESC
         LIMIT 1), 0) AS queued,
    ( SELECT j.created_at
           FROM fila.jobs j
          WHERE j.status = 'queued'::fila.job_status
          ORDER BY j.queue_seq
         LIMIT 1) AS oldest_queued_at,
    ( SELECT min(a.paused_until) AS min
           FROM fila.provider_accounts a
          WHERE a.enabled
         HAVING bool_and(COALESCE(a.paused_until > clock_timestamp(), false))) AS dispatch_paused_until,
    w.pause_reason,
    COALESCE(w.backoff_step, 0) AS backoff_step
   FROM fila.settings s
     LEFT JOIN LATERAL ( SELECT a.pause_reason,
            a.backoff_step
           FROM fila.provider_accounts a
          WHERE a.enabled
          ORDER BY a.backoff_step DESC, a.account
         LIMIT 1) w ON true;

create or replace view fila.stale_jobs as
 SELECT j.id AS job_id,
    j.user_id,
    j.tool,
    j.status,
    j.provider_task_id,
    j.started_at,
    j.running_at,
    j.soft_deadline_at,
    j.deadline_at,
    j.last_seen_at,
        CASE
            WHEN j.status = 'queued'::fila.job_status THEN 'abandoned'::text
            WHEN j.deadline_at < now() THEN 'hard'::text
            ELSE 'soft'::text
        END AS past,
    j.account
   FROM fila.jobs j
  WHERE fila.holds_slot(j.status) AND (j.deadline_at < now() OR j.soft_deadline_at < now()) OR j.status = 'queued'::fila.job_status AND j.presence AND j.last_seen_at < (now() - (( SELECT s.presence_timeout
           FROM fila.settings s)));

revoke execute on function fila.is_active(fila.job_status), fila.holds_slot(fila.job_status),
  fila._job(uuid, uuid, boolean) from public;
-- the views above call them, and a view's function calls are its reader's
grant execute on function fila.is_active(fila.job_status), fila.holds_slot(fila.job_status) to fila_app, fila_worker;
