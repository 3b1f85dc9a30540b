-- 00023 — a slot held for a task fila cannot name is given back on evidence, not on a clock alone.
-- Why: an ended job whose create got no answer holds its slot (fila.held_slots) until its webhook
-- names the task or until the create + the tool's hard deadline. A worker killed between sending
-- a create and reading its answer, with a task that then never ends (no webhook), lost that slot
-- at the deadline while the task ran on: the next dispatch put a seventh task on a provider
-- allowed six (the chaos short run, 2026-12-07). Past that deadline such a hold now lasts until
-- the account's own count (/uc/openapi/accountStatus, read by the worker every minute, kept in
-- fila.provider_account_status) says otherwise:
--   - until a reading taken after the deadline exists (at most 10 minutes more: a worker whose
--     readings fail does not lose its slots for longer than that);
--   - then while RunningHub counts more tasks on the account than fila's running jobs that were
--     running at that reading (at most one day past the deadline).
-- Both directions of error keep the slot: a starting job is not subtracted (its task may not
-- exist yet), a job that ended after the reading still inflates the count. The cost: a held slot
-- comes back up to a minute late when the create never reached RunningHub.

create or replace function fila._held_slot_count(p_account text default null) returns integer
language plpgsql stable as $$
declare
  v_now timestamptz := clock_timestamp();
begin
  -- per account: rows before held_until; past it, create-unanswered rows not read since (10
  -- minutes at most) and, of those read since, as many as RunningHub counted tasks beyond fila's
  -- jobs running at that reading
  return (
    select coalesce(sum(e.holding + e.unread + least(e.read, greatest(e.provider_running - coalesce(live.n, 0), 0))), 0)::integer
    from (select h.account, s.checked_at, coalesce(s.current_task_counts, 0) as provider_running,
                 count(*) filter (where h.held_until > v_now) as holding,
                 count(*) filter (where h.why = 'create unanswered' and h.held_until <= v_now
                                    and h.held_until > v_now - interval '10 minutes'
                                    and (s.checked_at is null or s.checked_at <= h.held_until)) as unread,
                 count(*) filter (where h.why = 'create unanswered' and h.held_until <= v_now
                                    and s.checked_at > h.held_until) as read
            from fila.held_slots h
            left join fila.provider_account_status s on s.account = h.account
           where h.held_until > v_now - interval '1 day'
             and (p_account is null or h.account = p_account)
           group by h.account, s.checked_at, s.current_task_counts) e
    left join lateral (select count(*) as n from fila.jobs j
                        where e.read > 0 and j.account = e.account and j.status = 'running' and j.running_at <= e.checked_at) live on true);
end;
$$;
comment on function fila._held_slot_count(text) is 'Slots held by ended jobs (fila.held_slots), of one account or all: rows before held_until; and past it, a create-unanswered row until the account''s status has been read after held_until (10 minutes at most), then while that reading counts more tasks than fila''s jobs running at it (one day at most).';

comment on view fila.held_slots is 'Ended jobs that still hold a slot of their account until held_until. why = create unanswered: a create was sent (or got no answer) and no task was named: the task may exist at the provider (held until its webhook records it as an orphan, or the create + the tool''s hard deadline; past that, until the account''s status is read again and, while RunningHub counts more tasks than fila runs, longer: fila._held_slot_count). why = provider cancel pending: the cancel of its task has not been answered (held until provider_task_ended, or the cancel + the tool''s hard deadline).';
