// Writes the README's configuration table from common/config.ts (the one schema of the environment).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../common/config.ts';
import { withConfigurationTable } from '../common/config-table.ts';

const file = path.join(repoRoot, 'README.md');
writeFileSync(file, withConfigurationTable(readFileSync(file, 'utf8')));
process.stdout.write('README.md: configuration table written from common/config.ts\n');
