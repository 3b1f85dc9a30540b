// The database refuses a job its tool cannot run, with the same verdict as the API, and its tool
// rows agree with the tool registry.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defaultWorkflowsFile, parseToolsConfig, toolInputSchemas, toolNames, tools, type ToolName } from '../../common/tools/index.ts';
import { UncheckableSchemaError, databaseJsonSchema, toolInputJsonSchemas } from '../../common/tools/json-schema.ts';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';
import { FilaError } from '../errors.ts';

let t: TestDatabase;
beforeAll(async () => { t = await createTestDatabase(); });
afterAll(async () => { await t?.drop(); });

async function counts(user: string) {
  const r = await t.admin.query<{ jobs: number; entries: number; balance: number }>(
    `select (select count(*)::int from fila.jobs where user_id = $1) as jobs,
            (select count(*)::int from fila.credit_entries where user_id = $1) as entries,
            (select balance from fila.balances where user_id = $1) as balance`, [user]);
  return r.rows[0]!;
}

describe('fila.submit_job called in SQL', () => {
  it('refuses an upscaler job without its category with FL008 invalid_input, and keeps nothing: no job, no debit', async () => {
    const user = await fundedUser(t.fila, 10);
    const before = await counts(user);
    const err = await t.fila.submitJob({ userId: user, tool: 'upscaler', input: { image_url: 'https://files.test/a.png' } })
      .then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(FilaError);
    expect(err).toMatchObject({ sqlstate: 'FL008', code: 'invalid_input', httpStatus: 400 });
    expect((err as FilaError).message).toContain('input.category is required');
    expect(await counts(user)).toEqual(before);
  });

  it('refuses as a DBA would call it (superuser, plain SQL): a wrong type, a value outside the list, an unknown field', async () => {
    const user = await fundedUser(t.fila, 10);
    const cases: [Record<string, unknown>, string][] = [
      [{ image_url: 42, category: 'pessoas' }, 'input.image_url must be of type string'],
      [{ image_url: 'https://files.test/a.png', category: 'gatos' }, 'input.category must be one of'],
      [{ ...upscaleInput(), surprise: true }, 'input.surprise is not a field of this tool'],
      [{ ...upscaleInput(), editing_level: 2 }, 'input.editing_level must be at most 1'],
      [{ image_url: 'ftp://files.test/a.png', category: 'pessoas' }, 'input.image_url does not have the expected form'],
    ];
    for (const [input, message] of cases) {
      await expect(t.admin.query('select fila.submit_job($1, $2, $3)', [user, 'upscaler', JSON.stringify(input)]))
        .rejects.toMatchObject({ code: 'FL008', message: expect.stringContaining(message) });
    }
    expect(await counts(user)).toMatchObject({ jobs: 0, balance: 10 });
  });

  it('accepts what the tool takes, defaults left out', async () => {
    const user = await fundedUser(t.fila, 10);
    const { job } = await t.fila.submitJob({ userId: user, tool: 'upscaler', input: upscaleInput() });
    expect(job.status === 'queued' || job.status === 'starting').toBe(true);
    await t.fila.cancelJob(job.id, null);
  });
});

// A small seeded generator: valid inputs, and each way an input goes wrong.
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const urls = [
  'https://files.example.com/a.png', 'http://x.y:8080/p?q=1#f', 'https://cdn.test/v.mp4#fake=ok:300', 'https://a-b.c/x/y/z',
  'ftp://files.example.com/a.png', 'not a url', 'https://', 'http:///path', 'https://exa mple.com/a', 'javascript:alert(1)',
  'HTTPS://files.example.com/a.png', 'https://files.example.com/a b.png', '', `https://files.example.com/${'a'.repeat(2100)}`,
  'http://files.example.com:99/ok', 'https://files.example.com/\u00e7.png',
];
const odd: unknown[] = [null, true, 0, -1, 0.5, 1.5, 1e-9, 'pessoas', 'pro', 'standard', [], {}, ['https://files.example.com/a.png'], 'x'.repeat(3000)];

function generate(tool: ToolName, rnd: () => number): Record<string, unknown> {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const schema = toolInputJsonSchemas()[tool] as { properties: Record<string, { enum?: unknown[]; type?: string }>; required: string[] };
  const input: Record<string, unknown> = {};
  for (const [field, spec] of Object.entries(schema.properties)) {
    const required = schema.required.includes(field);
    if (!required && rnd() < 0.4) continue;
    const r = rnd();
    if (r < 0.12) continue; // missing
    if (r < 0.3) { input[field] = pick(odd); continue; }
    if (spec.enum) input[field] = rnd() < 0.85 ? pick(spec.enum) : `${String(pick(spec.enum))}x`;
    else if (spec.type === 'number') input[field] = pick([0, 0.35, 1, -0.01, 1.01, 0.999]);
    else input[field] = pick(urls);
  }
  if (rnd() < 0.1) input[pick(['extra', 'category', 'video_url', 'image_url', '__proto__x'])] = pick(odd);
  return input;
}

describe('the database and the API', () => {
  it('give the same verdict on 400 generated inputs per tool', async () => {
    const rnd = random(20261129);
    const api = toolInputSchemas();
    for (const tool of toolNames) {
      const inputs = Array.from({ length: 400 }, () => generate(tool, rnd));
      const { rows } = await t.admin.query<{ i: number; problem: string | null }>(
        `select (x.ord - 1)::int as i, fila._tool_input_problem(ti.schema, x.input, 'input') as problem
         from fila.tool_inputs ti, jsonb_array_elements($2::jsonb) with ordinality as x(input, ord)
         where ti.tool = $1 order by x.ord`, [tool, JSON.stringify(inputs)]);
      expect(rows).toHaveLength(inputs.length);
      const disagreements = rows.flatMap(({ i, problem }) => {
        const apiOk = api[tool].safeParse(inputs[i]).success;
        return apiOk === (problem === null) ? [] : [{ input: inputs[i], api: apiOk ? 'accepts' : 'refuses', db: problem ?? 'accepts' }];
      });
      expect(disagreements, tool).toEqual([]);
      // the generator reaches both verdicts, or agreement would prove little
      const accepted = rows.filter((r) => r.problem === null).length;
      expect(accepted, tool).toBeGreaterThan(10);
      expect(inputs.length - accepted, tool).toBeGreaterThan(10);
    }
  });

  it('give the same verdict through submit_job itself (the trigger), not only the check function', async () => {
    const rnd = random(7);
    const api = toolInputSchemas();
    let refused = 0;
    let accepted = 0;
    for (let n = 0; n < 24; n++) {
      const tool = toolNames[n % toolNames.length]!;
      const input = generate(tool, rnd);
      const user = await fundedUser(t.fila, 20);
      const outcome = await t.fila.submitJob({ userId: user, tool, input }).then(
        async ({ job }) => { await t.fila.cancelJob(job.id, null); return 'accepted'; },
        (e: unknown) => { if (e instanceof FilaError && e.sqlstate === 'FL008') return 'refused'; throw e; });
      expect(outcome, JSON.stringify({ tool, input })).toBe(api[tool].safeParse(input).success ? 'accepted' : 'refused');
      if (outcome === 'refused') refused++; else accepted++;
    }
    expect(refused).toBeGreaterThan(0);
    expect(accepted).toBeGreaterThan(0);
  });
});

describe('the tool registry', () => {
  it('agrees with fila.tools, fila.tool_prices, fila.tool_inputs and workflows.json', async () => {
    const dbTools = (await t.admin.query<{ tool: string; soft: string; hard: string }>(
      `select tool, extract(epoch from soft_deadline)::int::text as soft, extract(epoch from hard_deadline)::int::text as hard
       from fila.tools order by tool`)).rows;
    const seconds = async (interval: string) =>
      (await t.admin.query<{ s: string }>('select extract(epoch from $1::interval)::int::text as s', [interval])).rows[0]!.s;
    const expected = await Promise.all(toolNames.map(async (name) => ({
      tool: name, soft: await seconds(tools[name].deadlines.soft), hard: await seconds(tools[name].deadlines.hard),
    })));
    expect(dbTools).toEqual(expected.sort((a, b) => a.tool.localeCompare(b.tool)));

    const prices = (await t.admin.query<{ tool: string; match: Record<string, unknown>; priority: number; price: number }>(
      'select tool, match, priority, price from fila.tool_prices order by tool, priority')).rows;
    expect(prices).toEqual(toolNames.flatMap((tool) => tools[tool].prices.map((p) => ({ tool, ...p })))
      .sort((a, b) => a.tool.localeCompare(b.tool) || a.priority - b.priority));

    const inputs = (await t.admin.query<{ tool: string; schema: unknown }>('select tool, schema from fila.tool_inputs order by tool')).rows;
    const registry = toolInputJsonSchemas();
    expect(inputs).toEqual(Object.keys(registry).sort().map((tool) => ({ tool, schema: registry[tool as ToolName] })));

    const workflows = JSON.parse(readFileSync(defaultWorkflowsFile, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(workflows).filter((k) => !k.startsWith('$')).sort()).toEqual([...toolNames].sort());
    expect(() => parseToolsConfig(workflows, defaultWorkflowsFile)).not.toThrow();
  });

  it('refuses, at migrate time, an input rule the database could not check', () => {
    expect(() => toolInputJsonSchemas({ upscalerCategories: ['a'] })).not.toThrow();
    const withList = z.object({ video_url: z.string(), tags: z.array(z.string()) }).strict();
    expect(() => databaseJsonSchema('video_upscaler', withList)).toThrow(UncheckableSchemaError);
    expect(() => databaseJsonSchema('video_upscaler', withList)).toThrow('video_upscaler.tags: the database cannot check "items"');
  });
});
