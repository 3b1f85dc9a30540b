// The demo's cast: who submits what, and what the fake provider is scripted to do with it
// (`#fake=<outcome>` on the input URL, see DESIGN.md "The fake RunningHub").
import { randomUUID } from 'node:crypto';
import type { ToolName } from '../../common/tools/index.ts';

export type Role =
  | 'ok'            // succeeds
  | 'fail'          // the provider reports a real failure message
  | 'lost-webhook'  // the provider finishes but never calls back: the reaper recovers it
  | 'capacity'      // the provider's queue is full at first (421): requeued at the head, then runs
  | 'cancel'        // cancels while still queued
  | 'second-job';   // tries a second job while the first is active: 409 with the exact message

export interface DemoUser {
  index: number;
  name: string;
  id: string;
  tool: ToolName;
  role: Role;
  /** the `#fake=` outcome */
  outcome: string;
  /** the failure message the provider will report (role fail) */
  failMessage: string | null;
  input: Record<string, unknown>;
  /** ms after the start of the run */
  arriveAt: number;
}

export const failMessages = [
  'Nenhum rosto detectado na imagem de referência.',
  'CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.65 GiB total capacity)',
  'Arquivo de vídeo inválido: moov atom not found',
  'A imagem da roupa precisa mostrar a peça inteira (garment mask vazio).',
];

const tools: ToolName[] = ['upscaler', 'pose_changer', 'veste_ai', 'video_upscaler'];
const categories = ['pessoas', 'produto', 'comida', 'logo'];

export interface PlanOptions { users: number; fast: boolean; lostWebhook: boolean }

function inputFor(tool: ToolName, name: string, i: number, outcome: string): Record<string, unknown> {
  const base = `https://demo.fila.test/${name}`;
  const frag = `#fake=${outcome}`;
  switch (tool) {
    case 'upscaler':
      return { image_url: `${base}/photo.png${frag}`, category: categories[i % categories.length], version: i % 3 === 0 ? 'pro' : 'standard' };
    case 'pose_changer':
      return { person_image_url: `${base}/person.png${frag}`, pose_image_url: `${base}/pose.png` };
    case 'veste_ai':
      return { person_image_url: `${base}/person.png${frag}`, garment_image_url: `${base}/garment.png` };
    case 'video_upscaler':
      return { video_url: `${base}/clip.mp4${frag}` };
  }
}

export function buildPlan(opts: PlanOptions): DemoUser[] {
  const n = opts.users;
  const ms = (lo: number, hi: number, i: number) => Math.round(lo + ((i * 7919) % 97) / 96 * (hi - lo));
  const [okLo, okHi] = opts.fast ? [150, 600] : [1500, 5000];
  const gap = opts.fast ? 40 : 250;
  // the scripted specials sit early enough that every small run has them
  const special = new Map<number, Role>([[2, 'fail'], [4, 'second-job'], [7, 'capacity'], [9, 'cancel']]);
  if (opts.lostWebhook) special.set(5, 'lost-webhook');
  const users: DemoUser[] = [];
  let fails = 0;
  for (let i = 0; i < n; i++) {
    const role: Role = special.get(i) ?? (i % 6 === 1 ? 'fail' : 'ok');
    const tool = tools[i % tools.length]!;
    const slow = tool === 'video_upscaler' ? 1.5 : 1;
    let outcome: string;
    let failMessage: string | null = null;
    switch (role) {
      case 'fail':
        failMessage = failMessages[fails++ % failMessages.length]!;
        outcome = `fail:${encodeURIComponent(failMessage)}`;
        break;
      case 'lost-webhook': outcome = 'lose-webhook'; break;
      case 'capacity': outcome = 'queue-maxed:1'; break;
      // long enough to still be active when the second attempt comes
      case 'second-job': outcome = `ok:${opts.fast ? 1200 : 6000}`; break;
      default: outcome = `ok:${Math.round(ms(okLo, okHi, i) * slow)}`;
    }
    const name = `user-${String(i + 1).padStart(2, '0')}`;
    users.push({ index: i, name, id: randomUUID(), tool, role, outcome, failMessage, input: inputFor(tool, name, i, outcome), arriveAt: i * gap });
  }
  return users;
}
