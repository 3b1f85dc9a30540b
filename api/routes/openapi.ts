// What every route module shares: its context and the pieces of an OpenAPI route description.
import type { OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { ToolName } from '../../common/tools/index.ts';
import type { AppDeps } from '../app.ts';
import type { AppEnv } from '../context.ts';
import * as s from '../schemas.ts';

export interface RouteContext {
  app: OpenAPIHono<AppEnv>;
  deps: AppDeps & { inputSchemas: Record<ToolName, z.ZodType<Record<string, unknown>>> };
  /** a valid bearer token */
  auth: MiddlewareHandler<AppEnv>;
  /** after auth: the caller is an operator */
  operator: MiddlewareHandler<AppEnv>;
  /** whose jobs the caller may see: their own (their id) or, for an operator, any (null) */
  scope(caller: { userId: string; operator: boolean }): string | null;
}

export const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });
export const err = (description: string) => ({ description, content: json(s.ErrorSchema) });
export const authErrors = { 401: err('Missing, invalid or expired bearer token') };
/** A route that reads a JSON body: too large (before it is read), or not JSON at all. */
export const bodyErrors = {
  413: err('payload_too_large'),
  415: err('The body is not application/json'),
};
/** Every route: a fault of fila's own (logged; the message says nothing more). */
export const serverErrors = { 500: err('internal_error') };
export const bearer = [{ bearer: [] }];
