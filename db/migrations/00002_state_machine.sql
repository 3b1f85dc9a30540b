-- 00002 — the state machine: every transition of a job, the FIFO dispatch, credits.
-- Why: one place enforces the rules. Each public function is one transaction, security definer
-- with a fixed search_path, and raises a documented SQLSTATE on refusal:
--   FL001 user_has_active_job   FL002 insufficient_credits   FL003 unknown_tool
--   FL004 job_not_found         FL005 invalid_transition     FL006 idempotency_key_reused
--   FL007 ledger_append_only (DBA-level)
-- Lock order, the same in every function, so nothing deadlocks:
--   user lock (submit, grant) -> dispatch lock -> job rows -> balance rows.
-- Every function that changes a job's status takes the dispatch lock first: status changes are
-- rare (bounded by provider slots) and being alone makes "count busy slots, claim the oldest queued
-- job" atomic against every other dispatcher. A submit does its per-user work (checks, price,
-- debit) in parallel with other users and takes the dispatch lock only to take its FIFO ticket,
-- insert and dispatch; it holds it to commit, so tickets are handed out in commit order and a
-- later dispatch always sees every earlier ticket (no lost wake-up).

-- Internals ------------------------------------------------------------------------------------

create function fila._lock_dispatch() returns void
language plpgsql as $$
begin
  -- A later statement must see what committed while we waited: that needs READ COMMITTED
  -- (under REPEATABLE READ the snapshot predates the lock and slots would be over-counted).
  if current_setting('transaction_isolation') <> 'read committed' then
    raise exception 'fila state changes must run in READ COMMITTED, not %', current_setting('transaction_isolation')
      using errcode = '25001';
  end if;
  perform pg_catalog.pg_advisory_xact_lock(1179208769, 0); -- 'FILA' dispatch lock
end;
$$;

create function fila._lock_user(p_user_id uuid) returns void
language sql as $$
  select pg_catalog.pg_advisory_xact_lock(1179208770, pg_catalog.hashtext(p_user_id::text));
$$;

create function fila._raise(p_sqlstate text, p_message text, p_detail text default null) returns void
language plpgsql as $$
begin
  raise exception using errcode = p_sqlstate, message = p_message, detail = coalesce(p_detail, '');
end;
$$;

-- Record a transition and announce it (LISTEN fila_jobs) to watching clients.
create function fila._record(p_job_id uuid, p_from fila.job_status, p_to fila.job_status, p_reason text)
returns void
language plpgsql as $$
begin
  insert into fila.job_events (job_id, from_status, to_status, reason)
  values (p_job_id, p_from, p_to, p_reason);
  if p_from is not null then
    perform pg_catalog.pg_notify('fila_jobs',
      pg_catalog.json_build_object('job_id', p_job_id, 'status', p_to)::text);
  end if;
end;
$$;

-- The price of a job: the highest-priority price row of its tool whose match the input contains.
create function fila._price(p_tool text, p_input jsonb) returns integer
language sql stable as $$
  select p.price from fila.tool_prices p
  where p.tool = p_tool and p_input @> p.match
  order by p.priority desc, p.price desc
  limit 1;
$$;

-- Refund a failed or canceled job in full, once: the ledger's unique (job_id, kind) decides.
create function fila._refund(p_job fila.jobs, p_reason text) returns void
language plpgsql as $$
declare
  v_inserted integer;
begin
  insert into fila.credit_entries (user_id, job_id, kind, amount, reason)
  values (p_job.user_id, p_job.id, 'refund', p_job.credit_cost, p_reason)
  on conflict (job_id, kind) do nothing;
  get diagnostics v_inserted = row_count;
  if v_inserted = 1 and p_job.credit_cost > 0 then
    update fila.balances b set balance = b.balance + p_job.credit_cost, updated_at = now()
    where b.user_id = p_job.user_id;
  end if;
end;
$$;

-- Fill free slots with the oldest queued jobs. The caller holds the dispatch lock.
create function fila._dispatch_locked() returns setof fila.jobs
language plpgsql as $$
declare
  v_settings fila.settings;
  v_state fila.dispatch_state;
  v_free integer;
  v_job fila.jobs;
begin
  select * into v_state from fila.dispatch_state;
  if v_state.paused_until is not null and v_state.paused_until > clock_timestamp() then
    return; -- provider-wide trouble: the scheduled wake-up dispatches
  end if;
  select * into v_settings from fila.settings;
  select v_settings.max_slots - count(*) into v_free
  from fila.jobs j where j.status in ('starting', 'running');
  if v_free <= 0 then
    return;
  end if;
  for v_job in
    select * from fila.jobs j where j.status = 'queued' order by j.queue_seq limit v_free for update
  loop
    update fila.jobs j
    set status = 'starting', started_at = now(), attempts = j.attempts + 1,
        deadline_at = now() + v_settings.starting_timeout, soft_deadline_at = null
    where j.id = v_job.id
    returning * into v_job;
    perform fila._record(v_job.id, 'queued', 'starting', 'dispatched');
    -- the outbox: the worker's start_job commits or vanishes with this transaction
    perform graphile_worker.add_job('start_job', json_build_object('job_id', v_job.id), max_attempts := 5);
    return next v_job;
  end loop;
end;
$$;

create function fila._job_for_update(p_job_id uuid, p_user_id uuid default null) returns fila.jobs
language plpgsql as $$
declare
  v_job fila.jobs;
begin
  select * into v_job from fila.jobs j where j.id = p_job_id for update;
  if not found or (p_user_id is not null and v_job.user_id <> p_user_id) then
    perform fila._raise('FL004', 'Processamento não encontrado.', format('job %s', p_job_id));
  end if;
  return v_job;
end;
$$;

-- Public functions -----------------------------------------------------------------------------

create function fila.submit_job(
  user_id uuid, tool text, input jsonb, idempotency_key text default null, presence boolean default false
) returns fila.jobs
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_job fila.jobs;
  v_tool fila.tools;
  v_price integer;
  v_balance integer;
  v_seq bigint;
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
  if v_price > 0 then
    update fila.balances b set balance = b.balance - v_price, updated_at = now()
    where b.user_id = submit_job.user_id and b.balance >= v_price;
    if not found then
      v_balance := fila.credit_balance(submit_job.user_id);
      perform fila._raise('FL002', 'Créditos insuficientes.',
        format('price %s, balance %s', v_price, v_balance));
    end if;
  end if;

  perform fila._lock_dispatch();
  update fila.dispatch_state s set last_queue_seq = s.last_queue_seq + 1 returning s.last_queue_seq into v_seq;
  insert into fila.jobs (user_id, tool, input, credit_cost, idempotency_key, presence, last_seen_at, queue_seq)
  values (submit_job.user_id, submit_job.tool, submit_job.input, v_price, submit_job.idempotency_key,
          submit_job.presence, case when submit_job.presence then now() end, v_seq)
  returning * into v_job;
  insert into fila.credit_entries (user_id, job_id, kind, amount, reason)
  values (v_job.user_id, v_job.id, 'debit', -v_price, 'submit ' || v_job.tool);
  perform fila._record(v_job.id, null, 'queued', 'submitted');
  perform fila._dispatch_locked();
  select * into v_job from fila.jobs j where j.id = v_job.id;
  return v_job;
end;
$$;
comment on function fila.submit_job(uuid, text, jsonb, text, boolean) is
'Price (server-side, fila.tool_prices), debit, insert queued, dispatch: one transaction. Same idempotency key + same user returns the same job (checked before FL001); same key with another tool or input: FL006. Refusals: FL001 user_has_active_job, FL002 insufficient_credits, FL003 unknown_tool.';

create function fila.job_created_by_this_transaction(job_id uuid) returns boolean
language sql volatile security definer set search_path = pg_catalog, fila, pg_temp as $$
  select coalesce(j.xmin = xid(pg_current_xact_id_if_assigned()), false)
  from fila.jobs j where j.id = job_created_by_this_transaction.job_id;
$$;
comment on function fila.job_created_by_this_transaction(uuid) is
'True when the calling transaction inserted the job: tells a submit from an idempotent replay (201 from 200). Volatile, so it sees a row submit_job inserted earlier in the same statement. Compares transaction ids, not timestamps: two transactions can share a now().';

create function fila.dispatch() returns setof fila.jobs
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
begin
  perform fila._lock_dispatch();
  return query select * from fila._dispatch_locked();
end;
$$;
comment on function fila.dispatch() is
'Fill free slots (settings.max_slots minus starting+running) with the oldest queued jobs; each moves to starting and gets a start_job worker job in the same transaction. Does nothing while dispatch is paused after provider-wide trouble.';

create function fila.mark_running(job_id uuid, provider_task_id text) returns fila.jobs
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
  -- the provider accepted a task: whatever trouble paused dispatch is over
  update fila.dispatch_state s set backoff_step = 0, pause_reason = null
  where s.backoff_step > 0 or s.pause_reason is not null;
  return v_job;
end;
$$;
comment on function fila.mark_running(uuid, text) is
'starting -> running with the provider task id; sets the tool''s soft and hard deadlines. A job no longer starting keeps its status (the worker then cancels an orphaned provider task); a terminal job without a task id records this one, so a job finished by a webhook that beat mark_running still names its task.';

create function fila.finish_job(job_id uuid, status fila.job_status, outputs jsonb default null, error text default null)
returns fila.jobs
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_job fila.jobs;
  v_from fila.job_status;
begin
  if finish_job.status is null or finish_job.status not in ('completed', 'failed') then
    raise exception 'finish_job takes completed or failed, not %', finish_job.status using errcode = '22023';
  end if;
  if finish_job.status = 'failed' and coalesce(finish_job.error, '') = '' then
    raise exception 'a failure needs the provider''s message' using errcode = '22023';
  end if;
  perform fila._lock_dispatch();
  v_job := fila._job_for_update(finish_job.job_id);
  v_from := v_job.status;
  if v_from in ('completed', 'failed', 'canceled') then
    return v_job; -- duplicate webhook, late result: a no-op
  end if;
  if v_from = 'queued' then
    perform fila._raise('FL005', 'Transição inválida: o processamento ainda está na fila.',
      format('job %s is queued; only starting or running jobs finish', v_job.id));
  end if;
  update fila.jobs j
  set status = finish_job.status, finished_at = now(),
      outputs = case when finish_job.status = 'completed' then coalesce(finish_job.outputs, '[]'::jsonb) end,
      error = case when finish_job.status = 'failed' then finish_job.error end
  where j.id = v_job.id
  returning * into v_job;
  perform fila._record(v_job.id, v_from, finish_job.status,
    case when finish_job.status = 'failed' then 'provider: ' || finish_job.error else 'provider: success' end);
  if finish_job.status = 'failed' then
    perform fila._refund(v_job, 'failed');
  end if;
  perform fila._dispatch_locked();
  return v_job;
end;
$$;
comment on function fila.finish_job(uuid, fila.job_status, jsonb, text) is
'starting|running -> completed (with outputs) or failed (with the provider''s own message, refunded once); frees the slot and dispatches. On a terminal job: a no-op returning it unchanged. On a queued job: FL005.';

create function fila.requeue_job(job_id uuid, reason text) returns fila.jobs
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_job fila.jobs;
  v_settings fila.settings;
  v_state fila.dispatch_state;
  v_delay interval;
begin
  perform fila._lock_dispatch();
  v_job := fila._job_for_update(requeue_job.job_id);
  if v_job.status <> 'starting' then
    return v_job;
  end if;
  update fila.jobs j
  set status = 'queued', started_at = null, deadline_at = null, provider_task_id = null
  where j.id = v_job.id
  returning * into v_job;
  perform fila._record(v_job.id, 'starting', 'queued', 'requeued: ' || coalesce(requeue_job.reason, 'provider trouble'));

  select * into v_settings from fila.settings;
  select * into v_state from fila.dispatch_state for update;
  -- grow the back-off once per pause, not once per job requeued during the same pause
  if v_state.paused_until is null or v_state.paused_until <= clock_timestamp() then
    v_delay := least(v_settings.backoff_base * power(2, least(v_state.backoff_step, 20)), v_settings.backoff_max);
    update fila.dispatch_state s
    set paused_until = clock_timestamp() + v_delay, pause_reason = requeue_job.reason,
        backoff_step = s.backoff_step + 1
    returning * into v_state;
    perform graphile_worker.add_job('dispatch', '{}'::json, run_at := v_state.paused_until,
      job_key := 'fila_dispatch_wakeup', job_key_mode := 'replace');
  end if;
  return v_job;
end;
$$;
comment on function fila.requeue_job(uuid, text) is
'Provider-wide trouble (capacity 421/415, account 802/812, unreachable): starting -> queued at its original FIFO place; pauses dispatch with a doubling back-off (settings.backoff_base..backoff_max, visible in queue_overview) and schedules the wake-up. Moves no credit. A job not starting is returned unchanged.';

create function fila.cancel_job(job_id uuid, user_id uuid) returns fila.jobs
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
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
    perform graphile_worker.add_job('cancel_provider_task',
      json_build_object('job_id', v_job.id, 'provider_task_id', v_job.provider_task_id), max_attempts := 3);
  end if;
  perform fila._dispatch_locked();
  return v_job;
end;
$$;
comment on function fila.cancel_job(uuid, uuid) is
'queued|starting|running -> canceled, refunded once; a provider task is canceled by the worker. user_id null = an operator. Another user''s job: FL004. Completed or failed: FL005. Already canceled: unchanged.';

create function fila.reap_stale_jobs(as_of timestamptz default now()) returns setof fila.jobs
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
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
      perform graphile_worker.add_job('cancel_provider_task',
        json_build_object('job_id', v_job.id, 'provider_task_id', v_job.provider_task_id), max_attempts := 3);
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
    update fila.jobs j set status = 'canceled', finished_at = now()
    where j.id = v_job.id
    returning * into v_job;
    perform fila._record(v_job.id, 'queued', 'canceled',
      format('abandoned: its page was not seen for %s (presence_timeout)', v_settings.presence_timeout));
    perform fila._refund(v_job, 'abandoned');
    return next v_job;
  end loop;

  perform fila._dispatch_locked();
end;
$$;
comment on function fila.reap_stale_jobs(timestamptz) is
'Fail (and refund) starting/running jobs past their hard deadline as of as_of, saying which deadline passed; cancel (and refund) queued jobs with presence unseen for presence_timeout; dispatch. Returns the jobs it ended. The worker''s reaper first asks the provider about jobs past their soft deadline.';

create function fila.active_job(user_id uuid) returns fila.jobs
language sql stable security definer set search_path = pg_catalog, fila, pg_temp as $$
  select * from fila.jobs j
  where j.user_id = active_job.user_id and j.status in ('queued', 'starting', 'running');
$$;
comment on function fila.active_job(uuid) is 'The user''s job in queued, starting or running, or null.';

create function fila.queue_position(job_id uuid) returns integer
language sql stable security definer set search_path = pg_catalog, fila, pg_temp as $$
  -- Tickets are gapless and leave the queue almost always from the head, so a job's place is its
  -- distance from the head minus the few that left out of order in between (cancels, jobs
  -- dispatched past a requeued head): two index probes and a short range scan at any depth.
  with me as (
    select j.queue_seq from fila.jobs j where j.id = queue_position.job_id and j.status = 'queued'
  ), head as (
    select min(j.queue_seq) as seq from fila.jobs j where j.status = 'queued'
  )
  select (me.queue_seq - head.seq + 1
          - (select count(*) from fila.jobs g
             where g.status <> 'queued' and g.queue_seq > head.seq and g.queue_seq < me.queue_seq))::integer
  from me, head;
$$;
comment on function fila.queue_position(uuid) is '1-based place of a queued job in the global FIFO; null when it is not queued.';

create function fila.touch_job(job_id uuid, user_id uuid) returns void
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
begin
  if not exists (select 1 from fila.jobs j where j.id = touch_job.job_id and j.user_id = touch_job.user_id) then
    perform fila._raise('FL004', 'Processamento não encontrado.', format('job %s', touch_job.job_id));
  end if;
  -- a write at most every two seconds per job, however many streams and heartbeats
  update fila.jobs j set last_seen_at = now()
  where j.id = touch_job.job_id and j.status = 'queued' and j.presence
    and j.last_seen_at < now() - interval '2 seconds';
end;
$$;
comment on function fila.touch_job(uuid, uuid) is 'Presence: the client of this queued job is still there (an open event stream or a heartbeat).';

create function fila.receive_webhook(job_id uuid, provider text, payload jsonb) returns bigint
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_id bigint;
begin
  if not exists (select 1 from fila.jobs j where j.id = receive_webhook.job_id) then
    perform fila._raise('FL004', 'Processamento não encontrado.', format('job %s', receive_webhook.job_id));
  end if;
  insert into fila.webhook_inbox (job_id, provider, payload)
  values (receive_webhook.job_id, receive_webhook.provider, receive_webhook.payload)
  returning id into v_id;
  perform graphile_worker.add_job('apply_webhook', json_build_object('inbox_id', v_id), max_attempts := 10);
  return v_id;
end;
$$;
comment on function fila.receive_webhook(uuid, text, jsonb) is 'Store a raw provider webhook in the inbox and enqueue apply_webhook, in one transaction; returns the inbox id.';

create function fila.credit_balance(user_id uuid) returns integer
language sql stable security definer set search_path = pg_catalog, fila, pg_temp as $$
  select coalesce((select b.balance from fila.balances b where b.user_id = credit_balance.user_id), 0);
$$;
comment on function fila.credit_balance(uuid) is 'The user''s balance in credits (0 for an unknown user).';

create function fila.grant_credits(user_id uuid, amount integer, reason text, idempotency_key text default null)
returns integer
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_prior fila.credit_entries;
begin
  if grant_credits.user_id is null or coalesce(grant_credits.amount, 0) = 0 or coalesce(grant_credits.reason, '') = '' then
    raise exception 'grant_credits needs a user, a non-zero amount and a reason' using errcode = '22023';
  end if;
  perform fila._lock_user(grant_credits.user_id);
  if grant_credits.idempotency_key is not null then
    select * into v_prior from fila.credit_entries e
    where e.user_id = grant_credits.user_id and e.kind = 'grant' and e.idempotency_key = grant_credits.idempotency_key;
    if found then
      if v_prior.amount <> grant_credits.amount then
        perform fila._raise('FL006', 'Esta chave de idempotência já foi usada para outro pedido.',
          format('key %s granted %s, not %s', grant_credits.idempotency_key, v_prior.amount, grant_credits.amount));
      end if;
      return fila.credit_balance(grant_credits.user_id);
    end if;
  end if;
  insert into fila.balances as b (user_id, balance) values (grant_credits.user_id, 0)
  on conflict on constraint balances_pkey do nothing;
  update fila.balances b set balance = b.balance + grant_credits.amount, updated_at = now()
  where b.user_id = grant_credits.user_id and b.balance + grant_credits.amount >= 0;
  if not found then
    perform fila._raise('FL002', 'Créditos insuficientes.',
      format('an adjustment of %s would leave a negative balance', grant_credits.amount));
  end if;
  insert into fila.credit_entries (user_id, kind, amount, reason, idempotency_key)
  values (grant_credits.user_id, 'grant', grant_credits.amount, grant_credits.reason, grant_credits.idempotency_key);
  return fila.credit_balance(grant_credits.user_id);
end;
$$;
comment on function fila.grant_credits(uuid, integer, text, text) is
'A credit top-up (positive) or adjustment (negative, never below zero: FL002): a ledger row plus the balance; returns the balance. The same idempotency key twice grants once.';

-- Reading one job (the API and the worker) -----------------------------------------------------

create function fila.job(job_id uuid, user_id uuid default null) returns fila.jobs
language plpgsql stable security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_job fila.jobs;
begin
  select * into v_job from fila.jobs j where j.id = job.job_id;
  if not found or (job.user_id is not null and v_job.user_id <> job.user_id) then
    perform fila._raise('FL004', 'Processamento não encontrado.', format('job %s', job.job_id));
  end if;
  return v_job;
end;
$$;
comment on function fila.job(uuid, uuid) is 'One job; FL004 when it does not exist or (user_id given) belongs to someone else. user_id null = operator or worker.';

create function fila.job_json(j fila.jobs) returns jsonb
language sql stable security definer set search_path = pg_catalog, fila, pg_temp as $$
  -- the job as the HTTP API shows it: the row's columns plus position and eta while queued
  with pos as (
    select case when j.status = 'queued' then fila.queue_position(j.id) end as position
  ), pace as (
    select coalesce(extract(epoch from avg(r.finished_at - r.started_at)), 60) as avg_seconds
    from (select f.finished_at, f.started_at from fila.jobs f
          -- `finished_at is not null` lets the planner walk jobs_finished_recent instead of the table
          where f.finished_at is not null and f.status = 'completed' and f.started_at is not null
          order by f.finished_at desc limit 50) r
  )
  select jsonb_build_object(
    'id', j.id, 'user_id', j.user_id, 'tool', j.tool, 'status', j.status, 'input', j.input,
    'credit_cost', j.credit_cost, 'provider_task_id', j.provider_task_id, 'outputs', j.outputs,
    'error', j.error, 'presence', j.presence, 'created_at', j.created_at, 'started_at', j.started_at,
    'running_at', j.running_at, 'finished_at', j.finished_at, 'deadline_at', j.deadline_at,
    'position', pos.position,
    'eta', case when pos.position is not null then
             ceil(pos.position * pace.avg_seconds / (select s.max_slots from fila.settings s))::integer end)
  from pos, pace;
$$;
comment on function fila.job_json(fila.jobs) is 'A job as JSON for the HTTP API: its columns, plus position and eta (seconds: position x recent average duration / slots) while queued.';

create function fila.webhook(inbox_id bigint) returns fila.webhook_inbox
language sql stable security definer set search_path = pg_catalog, fila, pg_temp as $$
  select * from fila.webhook_inbox w where w.id = webhook.inbox_id;
$$;
comment on function fila.webhook(bigint) is 'One stored webhook (the worker''s apply_webhook reads it).';

create function fila.mark_webhook_processed(inbox_id bigint, outcome text) returns void
language sql security definer set search_path = pg_catalog, fila, pg_temp as $$
  update fila.webhook_inbox w set processed_at = now(), outcome = mark_webhook_processed.outcome
  where w.id = mark_webhook_processed.inbox_id;
$$;
comment on function fila.mark_webhook_processed(bigint, text) is 'Record what apply_webhook did with a stored webhook.';
