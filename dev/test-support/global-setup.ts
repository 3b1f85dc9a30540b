// Once per `vitest run`: a real PostgreSQL (embedded unless DATABASE_URL) and a template database
// with every migration applied; each test file clones it (see database.ts).
import pg from 'pg';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbedded, type EmbeddedServer } from '../embedded-postgres.ts';
import { migrate } from '../../db/migrate.ts';
import { databaseUrl } from './urls.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    filaServerUrl: string;
    filaTemplate: string;
    filaConnectionBudget: number;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let server: EmbeddedServer | null = null;
  let serverUrl = process.env.DATABASE_URL ?? '';
  if (!serverUrl) {
    server = await startEmbedded({ dataDir: mkdtempSync(path.join(tmpdir(), 'fila-test-pg-')), persistent: false, maxConnections: 300 });
    serverUrl = server.url;
  }
  const template = `fila_template_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${template}`);
  const maxConnections = Number((await admin.query<{ max_connections: string }>('show max_connections')).rows[0]?.max_connections ?? 100);
  await admin.end();
  await migrate(databaseUrl(serverUrl, template));

  const workers = Number(project.config.maxWorkers) || 2;
  project.provide('filaServerUrl', serverUrl);
  project.provide('filaTemplate', template);
  // what one test file may open at once without starving the others: 10 kept for everything else,
  // and each file's own pools from createTestDatabase (admin 5, app 10) kept beside its budget (a
  // server run with 100 connections hit "too many clients" when two heavy files overlapped)
  project.provide('filaConnectionBudget', Math.max(10, Math.floor((maxConnections - 10) / workers) - 15));

  return async () => {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    await c.query(`drop database if exists ${template} with (force)`);
    await c.end();
    if (server) await server.stop();
  };
}
