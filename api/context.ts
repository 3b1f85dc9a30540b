// What every request carries through the middleware chain.
import type pino from 'pino';
import type { Caller } from './auth.ts';

export interface AppEnv {
  Variables: {
    requestId: string;
    log: pino.Logger;
    caller: Caller;
  };
}
