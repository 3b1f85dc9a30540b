-- 00010 — what RunningHub says an account is running, beside what fila thinks it occupies.
-- Why: fila's slots must agree with the account's real concurrency. A task fila lost track of (a
-- leaked task) or max_slots above the account's tier shows up as a difference between RunningHub's
-- currentTaskCounts (/uc/openapi/accountStatus, read by the worker at start-up and periodically)
-- and the jobs fila has starting or running.

create table fila.provider_account_status (
  account text primary key,
  current_task_counts integer not null constraint current_task_counts_not_negative check (current_task_counts >= 0),
  remain_coins text,
  remain_money text,
  api_type text,
  checked_at timestamptz not null default now()
);
comment on table fila.provider_account_status is 'The last /uc/openapi/accountStatus answer per provider account (currentTaskCounts, balance), written by the worker.';

create function fila.record_account_status(account text, current_task_counts integer, remain_coins text,
                                           remain_money text, api_type text)
returns void
language sql security definer set search_path = pg_catalog, fila, pg_temp as $$
  insert into fila.provider_account_status as s (account, current_task_counts, remain_coins, remain_money, api_type, checked_at)
  values (record_account_status.account, record_account_status.current_task_counts, record_account_status.remain_coins,
          record_account_status.remain_money, record_account_status.api_type, now())
  on conflict on constraint provider_account_status_pkey do update
  set current_task_counts = excluded.current_task_counts, remain_coins = excluded.remain_coins,
      remain_money = excluded.remain_money, api_type = excluded.api_type, checked_at = excluded.checked_at;
$$;
comment on function fila.record_account_status(text, integer, text, text, text) is 'The worker records what RunningHub says an account is running and holds.';

create view fila.provider_account_check as
select s.account, s.current_task_counts as provider_running, o.fila_occupied,
       a.max_slots,
       s.current_task_counts <> o.fila_occupied as disagrees,
       s.remain_coins, s.remain_money, s.checked_at
from fila.provider_account_status s
left join fila.provider_accounts a on a.account = s.account
cross join lateral (select count(*)::integer as fila_occupied from fila.jobs j
                    where j.account = s.account and j.status in ('starting', 'running')) o;
comment on view fila.provider_account_check is 'Per account: RunningHub''s running count against the slots fila holds; disagrees = true is worth a look (a leaked task, or max_slots above the account''s tier). A moment of difference while a task ends is normal.';

grant execute on function fila.record_account_status(text, integer, text, text, text) to fila_app;
grant select on fila.provider_account_check to fila_app;
revoke execute on all functions in schema fila from public;
