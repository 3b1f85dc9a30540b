// One way for every fila process to stop on SIGINT/SIGTERM. Ctrl-C in a terminal reaches the
// whole foreground process group, and npm and tsx forward the signal to their child once more, so
// one keypress arrives two or three times: repeats within `graceMs` are the same request. A signal
// after that means "now": exit at once.

export function onShutdown(
  stop: (signal: NodeJS.Signals) => Promise<void>,
  opts: { onForced?: (signal: NodeJS.Signals) => void; graceMs?: number } = {},
): void {
  let firstAt: number | null = null;
  const handle = (signal: NodeJS.Signals): void => {
    if (firstAt !== null) {
      if (Date.now() - firstAt < (opts.graceMs ?? 3000)) return;
      opts.onForced?.(signal);
      process.exit(1);
    }
    firstAt = Date.now();
    stop(signal).then(
      () => process.exit(process.exitCode ?? 0),
      () => process.exit(1), // stop() reports its own failure before rejecting
    );
  };
  process.on('SIGINT', handle);
  process.on('SIGTERM', handle);
}
