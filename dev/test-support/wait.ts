// The one way a test waits: poll what it checks, with a bound, and say what it waited for when the
// bound passes. Never a sleep-and-hope.

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Calls `fn` until it returns something other than null, undefined or false, and returns that. */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20_000): Promise<Exclude<T, null | undefined | false>> {
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined && v !== false) return v as Exclude<T, null | undefined | false>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(delay);
    delay = Math.min(delay * 1.5, 200);
  }
}
