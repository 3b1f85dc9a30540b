// db/schema.sql and db/types.ts are what the migrations make: regenerate them with `npm run schema`
// when this fails.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { generateTypes } from '../generate-types.ts';
import { dumpSchema } from '../schema-dump.ts';

let t: TestDatabase;
beforeAll(async () => { t = await createTestDatabase(); });
afterAll(async () => { await t?.drop(); });

describe('db/schema.sql', () => {
  it('is the schema the migrations leave (run `npm run schema` after a migration)', async () => {
    const committed = readFileSync(path.resolve('db/schema.sql'), 'utf8');
    expect(await dumpSchema(t.admin)).toBe(committed);
  });

  it('holds the functions as they are now, the views and the comments a DBA reads first', () => {
    const committed = readFileSync(path.resolve('db/schema.sql'), 'utf8');
    expect(committed).toContain('CREATE OR REPLACE FUNCTION fila.submit_job(');
    expect(committed).toContain('create view fila.queue_overview as');
    expect(committed).toContain('comment on table fila.tools is');
    expect(committed).toContain('CREATE TRIGGER jobs_input_fits_tool BEFORE INSERT ON fila.jobs');
  });
});

describe('db/types.ts', () => {
  it('is what kysely-codegen makes of the migrated schema (run `npm run schema` after a migration)', async () => {
    const committed = readFileSync(path.resolve('db/types.ts'), 'utf8');
    expect(await generateTypes(t.admin)).toBe(committed);
  });

  it('types the views a DBA reads, with the columns they never leave null', () => {
    const committed = readFileSync(path.resolve('db/types.ts'), 'utf8');
    expect(committed).toContain('export interface StaleJobs {');
    expect(committed).toMatch(/export interface QueueOverview \{[^}]*\n  slots_used: number;/);
    expect(committed).toContain('  queue_overview: QueueOverview;');
  });
});
