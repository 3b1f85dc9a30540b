-- The database refuses a job its tool cannot run. Each tool's input schema (a small subset of JSON
-- Schema: object, required, properties, additionalProperties false, type, enum, minimum, maximum,
-- minLength, maxLength, pattern; annotations such as format are the API's alone) is written into fila.tool_inputs from the
-- tool registry at migrate time (db/migrate.ts), and a trigger checks every new job against it, so
-- that submit_job called in SQL (by a DBA, a script, another backend) refuses what the API refuses,
-- with FL008 invalid_input, in the same transaction as the debit: nothing is kept.

create table fila.tool_inputs (
  tool text primary key references fila.tools (tool) on update cascade on delete cascade,
  schema jsonb not null constraint schema_is_object check (jsonb_typeof(schema) = 'object'),
  updated_at timestamptz not null default now()
);
comment on table fila.tool_inputs is 'Each tool''s input schema (a JSON Schema subset), written from the tool registry at migrate time. A new job''s input must fit its tool''s schema (FL008 invalid_input); a tool without a row is not checked.';

-- One value against one schema node; returns the first problem as text, or null when it fits.
-- The path names the field in messages ("input.category").
create function fila._tool_input_problem(p_schema jsonb, p_value jsonb, p_path text) returns text
language plpgsql immutable set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_type text := p_schema ->> 'type';
  v_actual text := jsonb_typeof(p_value);
  v_key text;
  v_problem text;
begin
  if v_type is not null then
    if v_type = 'integer' then
      if v_actual <> 'number' or (p_value #>> '{}')::numeric <> trunc((p_value #>> '{}')::numeric) then
        return format('%s must be an integer', p_path);
      end if;
    elsif v_actual is distinct from v_type then
      return format('%s must be of type %s, not %s', p_path, v_type, v_actual);
    end if;
  end if;
  if p_schema ? 'enum' and not (p_schema -> 'enum') @> jsonb_build_array(p_value) then
    return format('%s must be one of %s', p_path, p_schema -> 'enum');
  end if;
  if v_actual = 'number' then
    if p_schema ? 'minimum' and (p_value #>> '{}')::numeric < (p_schema ->> 'minimum')::numeric then
      return format('%s must be at least %s', p_path, p_schema ->> 'minimum');
    end if;
    if p_schema ? 'maximum' and (p_value #>> '{}')::numeric > (p_schema ->> 'maximum')::numeric then
      return format('%s must be at most %s', p_path, p_schema ->> 'maximum');
    end if;
  end if;
  if v_actual = 'string' then
    if p_schema ? 'minLength' and length(p_value #>> '{}') < (p_schema ->> 'minLength')::int then
      return format('%s must have at least %s characters', p_path, p_schema ->> 'minLength');
    end if;
    if p_schema ? 'maxLength' and length(p_value #>> '{}') > (p_schema ->> 'maxLength')::int then
      return format('%s must have at most %s characters', p_path, p_schema ->> 'maxLength');
    end if;
    -- the registry writes patterns that mean the same in JavaScript and in PostgreSQL's regexes
    if p_schema ? 'pattern' and (p_value #>> '{}') !~ (p_schema ->> 'pattern') then
      return format('%s does not have the expected form (%s)', p_path, p_schema ->> 'pattern');
    end if;
  end if;
  if v_actual = 'object' then
    for v_key in select jsonb_array_elements_text(coalesce(p_schema -> 'required', '[]')) loop
      if not p_value ? v_key then
        return format('%s.%s is required', p_path, v_key);
      end if;
    end loop;
    for v_key in select jsonb_object_keys(p_value) loop
      if p_schema -> 'properties' ? v_key then
        v_problem := fila._tool_input_problem(p_schema -> 'properties' -> v_key, p_value -> v_key, p_path || '.' || v_key);
        if v_problem is not null then
          return v_problem;
        end if;
      elsif p_schema -> 'additionalProperties' = 'false'::jsonb then
        return format('%s.%s is not a field of this tool', p_path, v_key);
      end if;
    end loop;
  end if;
  return null;
end;
$$;
comment on function fila._tool_input_problem(jsonb, jsonb, text) is
'The first way a value breaks a tool input schema (the JSON Schema subset fila.tool_inputs holds), as a message naming the field; null when it fits.';

create function fila._check_tool_input() returns trigger
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_schema jsonb;
  v_problem text;
begin
  select ti.schema into v_schema from fila.tool_inputs ti where ti.tool = new.tool;
  if found then
    v_problem := fila._tool_input_problem(v_schema, new.input, 'input');
    if v_problem is not null then
      perform fila._raise('FL008', format('Entrada inválida para %s: %s.', new.tool, v_problem), v_problem);
    end if;
  end if;
  return new;
end;
$$;
comment on function fila._check_tool_input() is
'Before a job is inserted (by submit_job or anything else): its input must fit its tool''s schema in fila.tool_inputs, or FL008 invalid_input. Raised inside submit_job''s transaction, so the debit before it is undone.';

create trigger jobs_input_fits_tool before insert on fila.jobs
  for each row execute function fila._check_tool_input();

revoke all on function fila._tool_input_problem(jsonb, jsonb, text) from public;
revoke all on function fila._check_tool_input() from public;
