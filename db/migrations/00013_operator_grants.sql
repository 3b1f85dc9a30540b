-- 00006 — an operator's grant names the operator.
-- Why: the API granted credits through fila.grant_credits, which anyone holding the API's role
-- could call for any amount and which recorded no one. The API now holds only
-- grant_credits_by_operator, which requires the operator's id and keeps it on the ledger entry;
-- grant_credits itself stays for the DBA and the CLI (run as the database owner).

alter table fila.credit_entries add column operator_id uuid;
comment on column fila.credit_entries.operator_id is 'The operator (their user id, from their token) who made this grant through the API; null for a DBA''s or the CLI''s grant, and for debits and refunds.';
alter table fila.credit_entries add constraint operator_only_on_grants check (operator_id is null or kind = 'grant');

create function fila._grant_credits(p_user_id uuid, p_amount integer, p_reason text, p_idempotency_key text, p_operator_id uuid)
returns integer
language plpgsql as $$
declare
  v_prior fila.credit_entries;
begin
  if p_user_id is null or coalesce(p_amount, 0) = 0 or coalesce(p_reason, '') = '' then
    raise exception 'grant_credits needs a user, a non-zero amount and a reason' using errcode = '22023';
  end if;
  perform fila._lock_user(p_user_id);
  if p_idempotency_key is not null then
    select * into v_prior from fila.credit_entries e
    where e.user_id = p_user_id and e.kind = 'grant' and e.idempotency_key = p_idempotency_key;
    if found then
      if v_prior.amount <> p_amount then
        perform fila._raise('FL006', 'Esta chave de idempotência já foi usada para outro pedido.',
          format('key %s granted %s, not %s', p_idempotency_key, v_prior.amount, p_amount));
      end if;
      return fila.credit_balance(p_user_id);
    end if;
  end if;
  insert into fila.balances as b (user_id, balance) values (p_user_id, 0)
  on conflict on constraint balances_pkey do nothing;
  if (select b.balance::bigint + p_amount from fila.balances b where b.user_id = p_user_id) > 2147483647 then
    perform fila._raise('FL012', 'Saldo máximo excedido: este crédito passaria do limite de um saldo.',
      format('an adjustment of %s would pass the largest balance (2147483647)', p_amount));
  end if;
  update fila.balances b set balance = b.balance + p_amount, updated_at = now()
  where b.user_id = p_user_id and b.balance + p_amount::bigint >= 0;
  if not found then
    perform fila._raise('FL002', 'Créditos insuficientes.',
      format('an adjustment of %s would leave a negative balance', p_amount));
  end if;
  insert into fila.credit_entries (user_id, kind, amount, reason, idempotency_key, operator_id)
  values (p_user_id, 'grant', p_amount, p_reason, p_idempotency_key, p_operator_id);
  return fila.credit_balance(p_user_id);
end;
$$;
comment on function fila._grant_credits(uuid, integer, text, text, uuid) is 'The one body of grant_credits and grant_credits_by_operator.';

create or replace function fila.grant_credits(user_id uuid, amount integer, reason text, idempotency_key text default null)
returns integer
language sql security definer set search_path = pg_catalog, fila, pg_temp as $$
  select fila._grant_credits(grant_credits.user_id, grant_credits.amount, grant_credits.reason, grant_credits.idempotency_key, null);
$$;

create function fila.grant_credits_by_operator(
  operator_id uuid, user_id uuid, amount integer, reason text, idempotency_key text default null
) returns integer
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
begin
  if grant_credits_by_operator.operator_id is null then
    raise exception 'grant_credits_by_operator needs the operator''s id' using errcode = '22023';
  end if;
  return fila._grant_credits(grant_credits_by_operator.user_id, grant_credits_by_operator.amount,
    grant_credits_by_operator.reason, grant_credits_by_operator.idempotency_key, grant_credits_by_operator.operator_id);
end;
$$;
comment on function fila.grant_credits_by_operator(uuid, uuid, integer, text, text) is
'grant_credits on an operator''s behalf (the API''s only way to move credits): the ledger entry records operator_id.';

create or replace view fila.credit_ledger as
select e.id, e.user_id, e.job_id, e.kind, e.amount, e.reason, e.created_at, e.operator_id
from fila.credit_entries e;
