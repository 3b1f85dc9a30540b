-- 00015 — every public function of fila runs without JIT.
-- Why: fila's statements are index walks of a few rows; at depth the planner's cost estimates
-- crossed jit_above_cost and a JIT compile cost more than the statement (see 00005). Functions
-- added or replaced after 00005 start without that setting, so it is given to all of them here,
-- from the catalog rather than from a list that would fall behind.
do $$
declare
  r record;
begin
  for r in select p.oid::regprocedure as fn from pg_catalog.pg_proc p
           where p.pronamespace = 'fila'::regnamespace and p.prosecdef
             and not coalesce('jit=off' = any(p.proconfig), false)
  loop
    execute format('alter function %s set jit = off', r.fn);
  end loop;
end;
$$;
