// One event stream's response over a stand-in for Node's: what a client that stops reading is
// sent, and that a stream's reservation and gauge are released once, whichever way it ends.
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SseResponse } from '../event-stream.ts';
import { ssePing } from '../job-events.ts';
import { ApiMetrics } from '../metrics.ts';

/** A response whose socket takes `room` writes before it is full; 'drain' when told. */
class FakeResponse extends EventEmitter {
  written: string[] = [];
  ended = false;
  destroyed = false;
  constructor(public room: number) { super(); }
  write(text: string): boolean {
    this.written.push(text);
    return this.written.length < this.room;
  }
  end(): void {
    this.ended = true;
    setImmediate(() => this.emit('close'));
  }
  drain(room: number): void {
    this.room = this.written.length + room;
    this.emit('drain');
  }
}

async function gauge(metrics: ApiMetrics): Promise<number> {
  return (await metrics.sseStreams.get()).values[0]?.value ?? 0;
}

function open(res: FakeResponse) {
  const metrics = new ApiMetrics();
  const released: number[] = [];
  const detached: number[] = [];
  const sink = new SseResponse(res as unknown as ServerResponse, () => released.push(1), metrics, pino({ level: 'silent' }),
    { req_id: 'r', user_id: 'u', job_id: 'j' });
  sink.attached(() => detached.push(1));
  return { sink, metrics, released, detached };
}

describe('SseResponse', () => {
  it('keeps no backlog for a client that stops reading: the latest event waits, heartbeats are skipped, then it ends', async () => {
    const res = new FakeResponse(2);
    const { sink, metrics, released, detached } = open(res);
    expect(await gauge(metrics)).toBe(1);
    sink.write('event: job\ndata: 1\n\n');
    sink.write('event: job\ndata: 2\n\n'); // the socket is full after this one
    sink.write('event: job\ndata: 3\n\n');
    sink.write(ssePing);
    sink.write('event: job\ndata: 4\n\n');
    sink.close(); // settled: ends once the last event is out
    expect(res.written).toEqual(['event: job\ndata: 1\n\n', 'event: job\ndata: 2\n\n']);
    expect(res.ended).toBe(false);
    res.drain(10);
    expect(res.written).toEqual(['event: job\ndata: 1\n\n', 'event: job\ndata: 2\n\n', 'event: job\ndata: 4\n\n']);
    expect(res.ended).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect([released.length, detached.length, await gauge(metrics)]).toEqual([1, 1, 0]);
  });

  it('releases once when the client goes away, and writes nothing after', async () => {
    const res = new FakeResponse(100);
    const { sink, metrics, released, detached } = open(res);
    sink.write('event: job\ndata: 1\n\n');
    res.destroyed = true;
    res.emit('close');
    sink.write('event: job\ndata: 2\n\n');
    sink.close();
    expect(res.written).toEqual(['event: job\ndata: 1\n\n']);
    expect([released.length, detached.length, await gauge(metrics)]).toEqual([1, 1, 0]);
  });

  it('releases at once when the client left before the stream opened', async () => {
    const res = new FakeResponse(100);
    res.destroyed = true;
    const { sink, metrics, released, detached } = open(res);
    sink.write('event: job\ndata: 1\n\n');
    expect(res.written).toEqual([]);
    expect([released.length, detached.length, await gauge(metrics)]).toEqual([1, 1, 0]);
  });
});
