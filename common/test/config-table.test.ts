// The README's configuration table is the schema's (common/config.ts): every variable, its
// readers, its default and whether it is development only. `npm run readme:config` rewrites it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { envVars, repoRoot } from '../config.ts';
import { configurationTable, withConfigurationTable } from '../config-table.ts';

const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');

describe('the README\'s configuration table', () => {
  it('is the one rendered from common/config.ts (run `npm run readme:config` when this fails)', () => {
    expect(withConfigurationTable(readme)).toBe(readme);
  });

  it('has one row per variable of the schema, naming who reads it and its default', () => {
    const rows = configurationTable().split('\n').slice(2);
    expect(rows.map((r) => /^\| `([A-Z_]+)` \|/.exec(r)?.[1])).toEqual(Object.keys(envVars));
    expect(rows.find((r) => r.startsWith('| `PORT` |'))).toMatch(/^\| `PORT` \| API, `npm start` \| 8787 \|/);
    expect(rows.find((r) => r.startsWith('| `FILA_DATA_DIR` |'))).toContain('| yes |');
  });
});
