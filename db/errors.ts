// fila's refusals: one list of SQLSTATEs, their codes and HTTP statuses (the API maps with it).
export const refusals = {
  FL001: { code: 'user_has_active_job', http: 409 },
  FL002: { code: 'insufficient_credits', http: 402 },
  FL003: { code: 'unknown_tool', http: 422 },
  FL004: { code: 'job_not_found', http: 404 },
  FL005: { code: 'invalid_transition', http: 409 },
  FL006: { code: 'idempotency_key_reused', http: 409 },
  FL007: { code: 'ledger_append_only', http: 500 },
  FL008: { code: 'invalid_input', http: 400 },
  FL011: { code: 'upload_quota_exceeded', http: 429 },
  FL012: { code: 'balance_limit', http: 422 },
} as const;

export type RefusalState = keyof typeof refusals;
export type RefusalCode = (typeof refusals)[RefusalState]['code'];

/** A rule said no. `message` is the database's own (FL001's is the one users read). */
export class FilaError extends Error {
  override readonly name = 'FilaError';
  constructor(
    readonly sqlstate: RefusalState,
    readonly code: RefusalCode,
    message: string,
    readonly detail: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  get httpStatus(): number {
    return refusals[this.sqlstate].http;
  }
}

function isRefusalState(s: unknown): s is RefusalState {
  return typeof s === 'string' && Object.hasOwn(refusals, s);
}

/** A pg error with an FL00x SQLSTATE becomes a FilaError; anything else passes unchanged. */
export function translateError(err: unknown): unknown {
  if (err && typeof err === 'object' && 'code' in err && isRefusalState(err.code)) {
    const pgErr = err as { code: RefusalState; message: string; detail?: string };
    return new FilaError(pgErr.code, refusals[pgErr.code].code, pgErr.message, pgErr.detail || undefined, { cause: err });
  }
  return err;
}
