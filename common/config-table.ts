// The README's configuration table, rendered from the one schema of every environment variable
// (config.ts). `npm run readme:config` writes it between the README's
// markers; common/test/config-table.test.ts fails when the README and the schema disagree.
import { envVars, type ProcessKind } from './config.ts';

export const tableStart = '<!-- configuration table: generated from common/config.ts -->';
export const tableEnd = '<!-- end of configuration table -->';

const processNames: Record<ProcessKind, string> = {
  api: 'API', worker: 'worker', start: '`npm start`', cli: 'CLI', reap: '`fila reap`', demo: 'demo', chaos: 'chaos run', tests: 'tests',
};

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** One markdown row per variable: name, who reads it, default, development only, meaning. */
export function configurationTable(): string {
  const rows = Object.entries(envVars).map(([name, spec]) => [
    `\`${name}\``,
    spec.usedBy.map((p) => processNames[p]).join(', '),
    spec.default ?? '',
    spec.developmentOnly ? 'yes' : '',
    spec.description,
  ].map(cell).join(' | '));
  return [
    '| variable | used by | default | development only | meaning |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r} |`),
  ].join('\n');
}

/** The README with its table section replaced by the rendered table. */
export function withConfigurationTable(readme: string): string {
  const start = readme.indexOf(tableStart);
  const end = readme.indexOf(tableEnd);
  if (start < 0 || end < start) throw new Error(`README.md has no "${tableStart}" … "${tableEnd}" section`);
  return `${readme.slice(0, start + tableStart.length)}\n${configurationTable()}\n${readme.slice(end)}`;
}
