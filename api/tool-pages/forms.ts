// A tool page's form, derived from the tool's input schema (the same zod schema the API validates
// with), so a new tool gets its page without page code: URL fields become file pickers, enums
// selects, numbers number inputs. `.meta({ title, fileKind })` on a field names it better.
import { z } from 'zod';

export type FileKind = 'image' | 'video';

export type FormField =
  | { kind: 'file'; name: string; label: string; required: boolean; accept: FileKind }
  | { kind: 'select'; name: string; label: string; required: boolean; options: string[]; default: string | null }
  | { kind: 'number'; name: string; label: string; required: boolean; min: number | null; max: number | null; step: number | null };

export interface ToolForm { tool: string; title: string; fields: FormField[] }

interface JsonProp {
  type?: string; format?: string; enum?: unknown[]; default?: unknown; minimum?: number; maximum?: number;
  title?: string; fileKind?: unknown;
}

/** "pose_changer" → "Pose Changer", "image_url" → "Image" (a label when the schema gives none). */
export function humanize(name: string): string {
  return name.replace(/_url$/, '').split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(' ');
}

export function toolForm(tool: string, schema: z.ZodType, title = humanize(tool)): ToolForm {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, JsonProp>; required?: string[] };
  const required = new Set(json.required ?? []);
  const fields: FormField[] = [];
  for (const [name, p] of Object.entries(json.properties ?? {})) {
    const label = p.title ?? humanize(name);
    const req = required.has(name);
    if (p.type === 'string' && p.format === 'uri') {
      const accept: FileKind = p.fileKind === 'video' || p.fileKind === 'image' ? p.fileKind : /video/.test(name) ? 'video' : 'image';
      fields.push({ kind: 'file', name, label, required: req, accept });
    } else if (Array.isArray(p.enum)) {
      fields.push({ kind: 'select', name, label, required: req, options: p.enum.map(String), default: typeof p.default === 'string' ? p.default : null });
    } else if (p.type === 'number' || p.type === 'integer') {
      const span = p.minimum !== undefined && p.maximum !== undefined ? p.maximum - p.minimum : null;
      fields.push({ kind: 'number', name, label, required: req, min: p.minimum ?? null, max: p.maximum ?? null, step: p.type === 'integer' ? 1 : span !== null && span <= 1 ? 0.05 : null });
    } else {
      // a field left off the form would make a page that can never send a valid job: say so at start-up
      throw new Error(`tool ${tool}: the form cannot draw input field "${name}" (${JSON.stringify(p)}); a URL field needs format "uri", a choice an enum, a number type number`);
    }
  }
  return { tool, title, fields };
}
