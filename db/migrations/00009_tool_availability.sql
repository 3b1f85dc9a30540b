-- 00009 — a disabled tool says why, and its queued jobs wait instead of blocking the queue.
-- Why: when RunningHub refuses a tool's workflow (not saved, wrong nodes) every job of that tool
-- would fail the same way. disable_tool (00008) stops new submits with the reason; dispatch skips
-- the tool's queued jobs, which keep their FIFO places until enable_tool; everyone else moves on.
-- Both functions are the versions of 00005 (submit_job) and 00007 (_dispatch_locked) with only those lines changed.

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
    -- a disabled tool's jobs keep their places and wait for enable_tool; the rest of the queue moves
    select * into v_job from fila.jobs j
    where j.status = 'queued'
      and not exists (select 1 from fila.tools t where t.tool = j.tool and not t.enabled)
    order by j.queue_seq limit 1 for update;
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
  if not found then
    perform fila._raise('FL003', format('Ferramenta desconhecida: %s.', submit_job.tool));
  end if;
  if not v_tool.enabled then
    perform fila._raise('FL003', format('Ferramenta indisponível: %s. %s', submit_job.tool,
      coalesce(v_tool.disabled_reason, 'Desativada por um operador.')));
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
'Price (server-side, fila.tool_prices), debit, insert queued, dispatch: one transaction. Same idempotency key + same user returns the same job (checked before FL001); same key with another tool or input: FL006. Refusals: FL001 user_has_active_job, FL002 insufficient_credits, FL003 unknown_tool or a disabled tool (the message carries the reason: "Ferramenta indisponível").';
