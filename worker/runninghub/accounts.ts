// The RunningHub accounts a worker holds keys for: one client per account, so every provider call
// about a job (upload, create, status, outputs, cancel, the reaper's question) goes out with the key
// of the account dispatch started that job on. Which accounts exist and how many slots each has is
// the database's business (fila.provider_accounts); the keys are the environment's
// (RUNNINGHUB_ACCOUNTS=name=key,name2=key2, or RUNNINGHUB_API_KEY alone for one account `default`:
// common/config.ts providerKeys).
import { RunningHubClient } from './client.ts';

/** The keys do not match the accounts table: stops start-up with a message naming what to fix. */
export class AccountsConfigError extends Error {
  override readonly name = 'AccountsConfigError';
}

/** A job's account has no key in this worker (added to the table after the worker started). */
export class NoKeyForAccountError extends Error {
  override readonly name = 'NoKeyForAccountError';
  constructor(readonly account: string | null) {
    super(account === null
      ? 'the job has no provider account (it was never dispatched)'
      : `no API key for provider account "${account}" in this worker (RUNNINGHUB_ACCOUNTS)`);
  }
}

export interface AccountRow { account: string; enabled: boolean }

/**
 * The keys against the table: every enabled account needs a key (or its jobs could never start),
 * and a key for an account the table does not know is a typo or a forgotten `fila accounts set`.
 * A disabled account without a key is fine: nothing starts on it.
 */
export function checkAccountKeys(keys: Record<string, string>, rows: readonly AccountRow[]): void {
  const problems: string[] = [];
  const known = new Set(rows.map((r) => r.account));
  for (const r of rows) {
    if (r.enabled && !Object.hasOwn(keys, r.account)) problems.push(`enabled account "${r.account}" has no key in RUNNINGHUB_ACCOUNTS`);
  }
  for (const name of Object.keys(keys)) {
    if (!known.has(name)) problems.push(`RUNNINGHUB_ACCOUNTS has a key for "${name}", which fila.provider_accounts does not know (add it: npx fila accounts set ${name} --slots N)`);
  }
  if (problems.length) throw new AccountsConfigError(`provider accounts do not match the database: ${problems.join('; ')}`);
}

export class RunningHubAccounts {
  readonly #clients: ReadonlyMap<string, RunningHubClient>;

  constructor(clients: ReadonlyMap<string, RunningHubClient>) {
    this.#clients = clients;
  }

  static fromKeys(keys: Record<string, string>, opts: { baseUrl: string; timeoutMs?: number }): RunningHubAccounts {
    return new RunningHubAccounts(new Map(Object.entries(keys).map(([account, apiKey]) =>
      [account, new RunningHubClient({ baseUrl: opts.baseUrl, apiKey, timeoutMs: opts.timeoutMs })])));
  }

  get names(): string[] {
    return [...this.#clients.keys()].sort();
  }

  /** The client holding `account`'s key; NoKeyForAccountError when this worker has none. */
  for(account: string | null): RunningHubClient {
    const client = account === null ? undefined : this.#clients.get(account);
    if (!client) throw new NoKeyForAccountError(account);
    return client;
  }

  /** Never print a key: this object may end up in a log line. */
  toJSON(): { accounts: string[]; baseUrl: string | undefined } {
    return { accounts: this.names, baseUrl: this.#clients.values().next().value?.baseUrl };
  }
}
