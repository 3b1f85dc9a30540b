-- 00025 — the ETA's pace is the time jobs really hold a slot, whatever their outcome.
-- Why: the ETA took the plain mean of recent completions' slot times. The demo (fault-free but
-- for its scripted cases) showed waiting users 1.6 times their real wait, median error 61 %:
--   - a failure gives its slot back too (often sooner), but only completions counted: a quarter
--     of the demo's jobs fail after 1.5 s, so the queue moved faster than the estimate;
--   - one lost webhook, completed by the reaper after its hold, is a completion with a long slot
--     time, and the plain mean followed it.
-- Now each tool's pace is a trimmed mean (the shortest and longest tenth left out) of the slot
-- times of its last 20 jobs that held a slot and ended (completed, failed, or canceled after
-- starting); the jobs ahead take those paces in the mix of the last 50 such jobs' tools. A job
-- that never started (canceled while queued) held no slot and does not count. A tool with no
-- such job lately is paced by its typical_duration (the operator's figure) instead of the other
-- tools' pace, and with no history at all the jobs ahead by the enabled tools' typical durations
-- instead of a fixed minute.

create function fila._typical_seconds(p_seconds float8[]) returns float8
language plpgsql immutable as $$
begin
  -- a mean without the tails: from 3 values on, the lowest and highest ceil(n / 10) are left out
  return (select avg(x.v)
          from (select v, row_number() over (order by v) as i, count(*) over () as n
                from unnest(p_seconds) v) x
          where x.n < 3 or (x.i > ceil(x.n * 0.1) and x.i <= x.n - ceil(x.n * 0.1)));
end;
$$;
comment on function fila._typical_seconds(float8[]) is 'A trimmed mean of slot times in seconds: from 3 values on, the lowest and highest tenth (rounded up) left out, so one long hold (a lost webhook recovered late, a hang) or a burst of instant refusals does not set the pace. Null for none.';
revoke execute on function fila._typical_seconds(float8[]) from public; -- an internal helper of fila._eta_basis

create or replace function fila._eta_basis() returns fila.eta_basis
language plpgsql stable set jit = off as $$
declare
  v_b fila.eta_basis;
  v_slots integer;
  v_pause float8;
  v_tools text[];
  v_paces float8[];
  v_holders float8[];
begin
  -- each tool's pace from its last 20 slot times among the last 200 jobs that gave a slot back;
  -- a tool not among them: its typical_duration, as its operator configured it
  with recent as materialized (
    select f.tool, extract(epoch from f.finished_at - f.started_at)::float8 as s,
           row_number() over (order by f.finished_at desc) as k
    from (select j.tool, j.finished_at, j.started_at from fila.jobs j
          where j.finished_at is not null and j.started_at is not null
          order by j.finished_at desc limit 200) f
  ), paces as (
    select t.tool, t.enabled,
           coalesce((select fila._typical_seconds((array_agg(r.s order by r.k))[1:20]) from recent r where r.tool = t.tool),
                    extract(epoch from t.typical_duration)::float8) as pace
    from fila.tools t
  )
  select array_agg(p.tool), array_agg(p.pace),
         -- the jobs ahead: the paces in the mix of the last 50 jobs' tools; with no history, the
         -- enabled tools' paces alike
         coalesce((select avg(p2.pace) from recent r2 join paces p2 on p2.tool = r2.tool where r2.k <= 50),
                  avg(p.pace) filter (where p.enabled))
  into v_tools, v_paces, v_b.d
  from paces p;
  v_b.d := greatest(coalesce(v_b.d, 60), 0.1);
  v_slots := fila._slots_total();
  -- dispatch waits only while every enabled account is paused: until the first of them resumes
  select greatest(coalesce(extract(epoch from min(a.paused_until) - clock_timestamp()), 0), 0) into v_pause
  from fila.provider_accounts a where a.enabled
  having bool_and(coalesce(a.paused_until > clock_timestamp(), false));
  v_pause := coalesce(v_pause, 0);
  -- a holder's remaining time: its tool's pace minus its time so far; past the pace, a tenth of
  -- it (it is late: soon, but not now)
  select coalesce(array_agg(greatest(x.pace - extract(epoch from clock_timestamp() - x.started_at), x.pace / 10)), '{}')
  into v_holders
  from (select h.started_at, coalesce(v_paces[array_position(v_tools, h.tool)], v_b.d) as pace
        from fila.jobs h where fila.holds_slot(h.status)) x;
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
comment on function fila._eta_basis() is 'What the ETA of every queued job needs, computed once per statement: when each slot opens (the holders'' remaining time at their tool''s pace, free slots now or at the end of a pause) and the pace of the jobs ahead. A pace is fila._typical_seconds of the slot times of jobs that held a slot and ended, whatever their outcome: per tool its last 20, for the jobs ahead the mix of the last 50.';
