// What every request carries through the middleware chain.
import type { ServerResponse } from 'node:http';
import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import type pino from 'pino';
import type { Caller } from './auth.ts';

export interface AppEnv {
  Variables: {
    requestId: string;
    log: pino.Logger;
    caller: Caller;
  };
}

/** Node's response under this request (the app on @hono/node-server); null when there is none
 *  (app.request() in a test). A route that writes it itself returns RESPONSE_ALREADY_SENT. */
export function nodeResponse(c: Context): ServerResponse | null {
  const env = c.env as Partial<HttpBindings> | undefined;
  return (env?.outgoing as ServerResponse | undefined) ?? null;
}
