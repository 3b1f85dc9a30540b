// An observer of committed states, for race tests: sample after sample, no committed state may
// have more slot holders than slots, or a queued job beside a free slot (a lost wake-up).
import type pg from 'pg';

export interface SlotObserver {
  /** stop sampling; resolves with how many samples were taken and every violation seen */
  stop(): Promise<{ samples: number; violations: string[] }>;
}

export function observeSlots(admin: pg.Pool): SlotObserver {
  const violations: string[] = [];
  let running = true;
  const loop = (async () => {
    let samples = 0;
    while (running) {
      const { rows: [s] } = await admin.query<{ busy: number; queued: number; slots: number }>(
        `select (select count(*) from fila.jobs where status in ('starting','running'))::int as busy,
                (select count(*) from fila.jobs where status = 'queued')::int as queued,
                (select max_slots from fila.settings) as slots`);
      samples++;
      if (s!.busy > s!.slots) violations.push(`over-admitted: ${s!.busy} busy of ${s!.slots}`);
      if (s!.queued > 0 && s!.busy < s!.slots) violations.push(`lost wake-up: ${s!.queued} queued, ${s!.busy}/${s!.slots} busy`);
    }
    return samples;
  })();
  return {
    async stop() {
      running = false;
      return { samples: await loop, violations };
    },
  };
}
