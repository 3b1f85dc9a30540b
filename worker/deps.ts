// What every task needs; built once per worker process by runner.ts.
import type pino from 'pino';
import type { FilaDb } from '../db/fila.ts';
import type { RunningHubAccounts } from './runninghub/accounts.ts';
import type { ToolsConfig } from '../common/tools/index.ts';
import type { InputFileSource } from './input-files.ts';
import type { OutputCopyOptions } from './output-copies.ts';

export interface WorkerDeps {
  db: FilaDb;
  /** one RunningHub client per provider account: a job's calls use `runninghub.for(job.account)` */
  runninghub: RunningHubAccounts;
  tools: ToolsConfig;
  /** base URL the provider calls back (FILA_PUBLIC_URL) */
  publicUrl: string;
  webhookSecret: string;
  logger: pino.Logger;
  /** where input files come from: fila's own uploads from the store, the rest from public addresses */
  inputFiles?: InputFileSource;
  /** copies of results into fila's file store (absent: none are made; users keep the provider's URLs) */
  outputCopies?: OutputCopyOptions;
}

export function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown; msg?: unknown; reason?: unknown };
    return { err: { type: e.name, message: e.message, code: e.code, msg: e.msg, reason: e.reason } };
  }
  return { err: String(err) };
}
