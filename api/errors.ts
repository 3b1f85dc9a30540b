// The API's error shape, `{ "error": { "code", "message", "details"? } }`, and the one place that
// turns whatever a handler threw into it. SQL refusals keep their own code, message and status
// (db/errors.ts holds the SQLSTATE -> HTTP table); nothing else leaks its internals.
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { FilaError } from '../db/errors.ts';

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** A refusal decided in the API itself (auth, validation, uploads). */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export interface IssueDetail { path: string; message: string; code: string }

/** zod issues as `details`: where (dotted path), what, and zod's code. */
export function zodDetails(error: ZodError, prefix: readonly (string | number)[] = []): IssueDetail[] {
  return error.issues.map((i) => ({
    path: [...prefix, ...i.path.map(String)].join('.'),
    message: i.message,
    code: i.code,
  }));
}

export function invalidInput(details: unknown, message = 'Dados inválidos.'): ApiError {
  return new ApiError(400, 'invalid_input', message, details);
}

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** Map anything thrown to a status and body; unknown errors are 500 and must be logged by the caller. */
export function toErrorResponse(err: unknown): { status: ContentfulStatusCode; body: ErrorBody; unexpected: boolean } {
  if (err instanceof ApiError) {
    return { status: err.status, body: errorBody(err.code, err.message, err.details), unexpected: false };
  }
  if (err instanceof FilaError) {
    const status = err.httpStatus as ContentfulStatusCode;
    return { status, body: errorBody(err.code, err.message), unexpected: status >= 500 };
  }
  if (err instanceof HTTPException) {
    // Hono's own: malformed JSON (400), and the like
    const code = err.status === 400 ? 'invalid_input' : err.status === 413 ? 'payload_too_large' : 'http_error';
    return { status: err.status, body: errorBody(code, err.message || 'Requisição inválida.'), unexpected: err.status >= 500 };
  }
  return { status: 500, body: errorBody('internal_error', 'Erro interno. Tente novamente.'), unexpected: true };
}

export function sendError(c: Context, status: ContentfulStatusCode, code: string, message: string, details?: unknown): Response {
  return c.json(errorBody(code, message, details), status);
}
