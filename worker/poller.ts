// Prompt recovery, every few seconds (the reaper's minute is too coarse: a lost webhook would hold
// a slot for minutes after the task finished).
//  1. Running jobs whose webhook is late (running longer than their tool's typical_duration) are
//     asked about through /task/openapi/outputs. fila.claim_overdue_polls_by_account hands out,
//     per provider account, at most `maxJobs` asks within any `everySeconds` window and each job at
//     most once per window, whatever the number of workers: that bounds the request rate to each
//     account, and one account with many late webhooks does not take the others' turns.
//  2. Starting jobs whose create got no answer (the task may exist): a task id their own webhook
//     named is confirmed with the provider and, when no other job owns it, adopted
//     (fila.adopt_provider_task), which applies the waiting webhook.
//  3. After a burst of submits with every slot busy (no status change resolves their tickets),
//     fila.resolve_tickets, so that queue positions stay arithmetic, not a count of the burst.
// And, at start-up and every `accountEveryMs`, the account's status (/uc/openapi/accountStatus):
// RunningHub's running count is recorded beside fila's occupancy (fila.provider_account_check), per account.
import type pino from 'pino';
import type { FilaDb } from '../db/fila.ts';
import { applyTaskResult } from './apply-result.ts';
import { errorFields } from './deps.ts';
import { RunningHubError, RunningHubUnreachableError } from './runninghub/client.ts';
import { NoKeyForAccountError, type RunningHubAccounts } from './runninghub/accounts.ts';
import { classifyCode, taskNotFoundCodes } from './runninghub/codes.ts';

export interface PollerDeps {
  db: FilaDb;
  runninghub: RunningHubAccounts;
  logger: pino.Logger;
}

export interface PollOptions {
  /** pause between passes (default 3000 ms) */
  intervalMs?: number;
  /** the same job is asked about at most once per this many seconds (default 3) */
  everySeconds?: number;
  /** asks per provider account within any `everySeconds` window, over all workers (default 5) */
  maxJobs?: number;
  /** pause between account status reads (default 60 000 ms) */
  accountEveryMs?: number;
  /** tickets handed out since the last status change past which a pass resolves them (default 1000) */
  resolveTicketsPast?: number;
}

export interface PollResult {
  /** tickets resolved by this pass (fila.resolve_tickets) */
  resolvedTickets: number;
  asked: number;
  recovered: Array<{ job_id: string; status: string }>;
  adopted: Array<{ job_id: string; provider_task_id: string }>;
}

export async function pollOnce(deps: PollerDeps, opts: PollOptions = {}): Promise<PollResult> {
  const log = deps.logger.child({ task: 'poll' });
  const result: PollResult = { resolvedTickets: 0, asked: 0, recovered: [], adopted: [] };
  result.resolvedTickets = await deps.db.resolveTickets(opts.resolveTicketsPast ?? 1000);

  for (const job of await deps.db.claimOverduePollsByAccount(opts.maxJobs ?? 5, opts.everySeconds ?? 3)) {
    const taskId = job.provider_task_id;
    if (!taskId) continue;
    result.asked++;
    const jlog = log.child({ job_id: job.id, provider_task_id: taskId });
    try {
      // a task is known only to the account that created it: ask with that account's key
      const outputs = await deps.runninghub.for(job.account).outputs(taskId);
      if (outputs.kind === 'not-finished') continue;
      const applied = await applyTaskResult(deps.db, job.id, outputs, jlog, 'poll');
      if (applied.applied) {
        result.recovered.push({ job_id: job.id, status: applied.job.status });
        jlog.warn({ status: applied.job.status }, 'webhook late or lost: result recovered by asking the provider');
      }
    } catch (err) {
      logAskFailure(jlog, err);
    }
  }

  for (const cand of await deps.db.uncertainStarts()) {
    const jlog = log.child({ job_id: cand.job_id, provider_task_id: cand.provider_task_id });
    try {
      // any answer but "no such task" proves the task exists for our key
      await deps.runninghub.for(cand.account).outputs(cand.provider_task_id);
    } catch (err) {
      if (err instanceof RunningHubError && taskNotFoundCodes.has(err.code)) {
        jlog.warn('a webhook for an uncertain create names a task RunningHub does not know: not adopted');
        continue;
      }
      logAskFailure(jlog, err);
      continue;
    }
    const job = await deps.db.adoptProviderTask(cand.job_id, cand.provider_task_id);
    if (job.provider_task_id === cand.provider_task_id) {
      result.adopted.push({ job_id: cand.job_id, provider_task_id: cand.provider_task_id });
      jlog.warn({ status: job.status }, 'uncertain create settled: the provider confirmed the task its webhook named');
    }
  }
  return result;
}

/** Read the account's status and record it; a failure is logged, never fatal. */
export async function checkAccountStatus(deps: PollerDeps, account: string): Promise<boolean> {
  const log = deps.logger.child({ task: 'account_status', account });
  let status;
  try {
    status = await deps.runninghub.for(account).accountStatus();
  } catch (err) {
    if (err instanceof RunningHubError || err instanceof RunningHubUnreachableError) {
      log.error({ ...errorFields(err) }, 'could not read the RunningHub account status (is the API key right?)');
      return false;
    }
    throw err;
  }
  const text = (v: unknown): string | null => (v === null || v === undefined || v === '' ? null : String(v));
  const running = Number(status.currentTaskCounts ?? 0);
  await deps.db.recordAccountStatus(account, {
    currentTaskCounts: Number.isInteger(running) && running >= 0 ? running : 0,
    remainCoins: text(status.remainCoins), remainMoney: text(status.remainMoney), apiType: text(status.apiType),
  });
  const check = (await deps.db.providerAccountChecks()).find((c) => c.account === account);
  if (check?.disagrees) {
    log.warn({ provider_running: check.provider_running, fila_occupied: check.fila_occupied, max_slots: check.max_slots },
      'RunningHub runs a different number of tasks than fila holds slots for');
  }
  return true;
}

function logAskFailure(log: pino.Logger, err: unknown): void {
  if (err instanceof RunningHubError && classifyCode(err.code) === 'unknown') {
    log.error({ ...errorFields(err), payload: err.data }, 'RunningHub answered a code fila does not know: asking again later');
  } else if (err instanceof RunningHubError || err instanceof RunningHubUnreachableError || err instanceof NoKeyForAccountError) {
    log.warn({ ...errorFields(err) }, 'could not ask the provider: asking again later; the deadlines still apply');
  } else {
    throw err;
  }
}

/** Run pollOnce every intervalMs until stopped; one pass at a time. */
export function startPoller(deps: PollerDeps, opts: PollOptions = {}): { stop(): Promise<void> } {
  const intervalMs = opts.intervalMs ?? 3000;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  const tick = (): void => {
    timer = null;
    if (stopped) return;
    running = pollOnce(deps, opts).then(
      () => undefined,
      (err: unknown) => { deps.logger.error({ task: 'poll', ...errorFields(err) }, 'poll pass failed'); },
    ).finally(() => {
      running = null;
      if (!stopped) timer = setTimeout(tick, intervalMs);
    });
  };
  timer = setTimeout(tick, intervalMs);
  // the account's status now and then every accountEveryMs, one read at a time
  let accountTimer: NodeJS.Timeout | null = null;
  let accountRead: Promise<void> | null = null;
  const readAccount = (): void => {
    accountTimer = null;
    if (stopped) return;
    // every account this worker holds a key for, one after the other
    accountRead = deps.runninghub.names.reduce<Promise<unknown>>(
      (prev, account) => prev.then(() => checkAccountStatus(deps, account)), Promise.resolve()).then(
      () => undefined,
      (err: unknown) => { deps.logger.error({ task: 'account_status', ...errorFields(err) }, 'account status check failed'); },
    ).finally(() => {
      accountRead = null;
      if (!stopped) accountTimer = setTimeout(readAccount, opts.accountEveryMs ?? 60_000);
    });
  };
  readAccount();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (accountTimer) clearTimeout(accountTimer);
      await Promise.all([running, accountRead]);
    },
  };
}
