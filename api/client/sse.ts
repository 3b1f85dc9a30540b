// A Server-Sent Events reader over fetch (EventSource cannot send the bearer header).
export interface SseEvent { event: string; data: string; id?: string }

/**
 * Read `body` as an event stream, calling `onEvent` for each event (return true to stop reading)
 * and `onActivity` for every chunk, comments included: heartbeats prove the stream is alive.
 * Resolves when the stream ends or is stopped; rejects when it breaks.
 */
export async function readEventStream(
  body: ReadableStream<Uint8Array>,
  onEvent: (e: SseEvent) => boolean | void,
  onActivity: () => void = () => undefined,
): Promise<'ended' | 'stopped'> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = 'message';
  let data: string[] = [];
  let id: string | undefined;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return 'ended';
    onActivity();
    buffer += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
      // a lone \r at the end may be the first half of \r\n: wait for the next chunk
      if (buffer[nl] === '\r' && nl === buffer.length - 1) break;
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1));
      if (line === '') {
        if (data.length > 0) {
          const stop = onEvent({ event, data: data.join('\n'), ...(id !== undefined ? { id } : {}) });
          if (stop === true) {
            // we have what we wanted: stop the download (a failure here surfaces to the caller)
            await reader.cancel();
            return 'stopped';
          }
        }
        event = 'message';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue; // a comment: a heartbeat
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const fieldValue = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = fieldValue;
      else if (field === 'data') data.push(fieldValue);
      else if (field === 'id') id = fieldValue;
    }
  }
}
