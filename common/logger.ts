// The one way fila processes make a logger: pino JSON lines at LOG_LEVEL, with the RunningHub API
// key redacted wherever a log line could carry it.
import pino from 'pino';

/** pino's redaction of the RunningHub API key. */
export const apiKeyRedaction = {
  paths: ['apiKey', '*.apiKey', 'apikey', '*.apikey', 'runninghub.apiKey', 'env.RUNNINGHUB_API_KEY', 'RUNNINGHUB_API_KEY'],
  censor: '[redacted]',
};

export type Logger = pino.Logger;

export function createLogger(opts: { name?: string; level?: string | undefined; base?: Record<string, unknown> } = {},
  destination?: pino.DestinationStream): pino.Logger {
  const options: pino.LoggerOptions = {
    level: opts.level ?? 'info',
    redact: apiKeyRedaction,
    ...(opts.name ? { name: opts.name } : {}),
    ...(opts.base ? { base: opts.base } : {}),
  };
  return destination ? pino(options, destination) : pino(options);
}
