// `fila accounts`: the provider accounts as operators see and change them, through the real bin.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';
import { fila } from '../../dev/test-support/processes.ts';

let t: TestDatabase;
let env: Record<string, string>;
beforeAll(async () => {
  t = await createTestDatabase();
  env = { DATABASE_URL: t.url, FILA_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'fila-cli-accounts-')) };
});
afterAll(async () => { await t.drop(); });

describe('fila accounts', () => {
  it('set adds an account (its room goes to the queue at once), --disable drains it, and the list shows slots, use and pauses', async () => {
    await t.admin.query('update fila.settings set max_slots = 10');
    for (let i = 0; i < 5; i++) await t.fila.submitJob({ userId: await fundedUser(t.fila), tool: 'upscaler', input: upscaleInput(i) });
    expect((await t.fila.queueOverview()).queued).toBe(2);

    const added = await fila(['accounts', 'set', 'backup', '--slots', '2'], env);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toBe('account backup: 2 slot(s), enabled\n');
    expect((await t.fila.queueOverview()).queued).toBe(0);

    const off = await fila(['accounts', 'set', 'backup', '--disable'], env); // keeps its 2 slots
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).toContain('account backup: 2 slot(s), disabled');
    const list = await fila(['accounts'], env);
    expect(list.code, list.stderr).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^account\s+state\s+slots\s+paused_until\s+pause_reason\s+backoff_step\s+pauses\s+refusals$/);
    expect(lines.find((l) => l.startsWith('backup '))).toMatch(/^backup\s+disabled\s+2\/2\s/); // its jobs still run
    expect(lines.find((l) => l.startsWith('default '))).toMatch(/^default\s+ok\s+3\/3\s/);

    const asJson = JSON.parse((await fila(['accounts', '--json'], env)).stdout) as Array<{ account: string; enabled: boolean }>;
    expect(asJson.map((a) => [a.account, a.enabled])).toEqual([['backup', false], ['default', true]]);
  });

  it('refuses bad input with one line and changes nothing', async () => {
    const before = await t.fila.providerAccounts();
    const cases: Array<[string[], RegExp, number]> = [
      [['accounts', 'set', 'x', '--slots', '0'], /--slots must be a positive integer, not "0"/, 2],
      [['accounts', 'set', 'x', '--slots', '-3'], /--slots must be a positive integer, not "-3"/, 2],
      [['accounts', 'set', 'nobody-yet'], /does not exist yet: give it --slots N/, 2],
      [['accounts', 'set'], /missing account name/, 2],
      [['accounts', 'frob'], /unknown subcommand "frob"/, 2],
      [['accounts', 'set', 'Bad=Name', '--slots', '1'], /account name is 1 to 63 characters/, 1],
    ];
    for (const [args, message, code] of cases) {
      const r = await fila(args, env);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(await t.fila.providerAccounts()).toEqual(before);
  });
});
