// A tool page's form comes from the tool's input schema (api/tool-pages/forms.ts). Every input
// field must become something a person can fill: a URL field a file picker, an enum a select, a
// number a number input. A field the form cannot draw would leave a page that can never submit
// (a merge once did exactly that: the URL fields lost their `format` and every page lost its files).
import { describe, expect, it } from 'vitest';
// the z of @hono/zod-openapi before the tool registry's schemas (see scripts/system.ts)
import { z } from '@hono/zod-openapi';
import { toolForm } from '../tool-pages/forms.ts';
import { toolInputSchemas, toolNames } from '../../common/tools/index.ts';

const files: Record<string, Record<string, 'image' | 'video'>> = {
  upscaler: { image_url: 'image' },
  pose_changer: { person_image_url: 'image', pose_image_url: 'image' },
  veste_ai: { person_image_url: 'image', garment_image_url: 'image' },
  video_upscaler: { video_url: 'video' },
};

describe('tool forms', () => {
  const schemas = toolInputSchemas();

  for (const tool of toolNames) {
    it(`turns every input file of ${tool} into a file picker of the right kind`, () => {
      const form = toolForm(tool, schemas[tool]);
      const pickers = Object.fromEntries(form.fields.flatMap((f) => f.kind === 'file' ? [[f.name, f.accept]] : []));
      expect(pickers).toEqual(files[tool]);
    });

    it(`draws a field for every input property of ${tool}, leaving none out`, () => {
      const json = z.toJSONSchema(schemas[tool], { io: 'input' }) as { properties: Record<string, unknown> };
      expect(toolForm(tool, schemas[tool]).fields.map((f) => f.name).sort()).toEqual(Object.keys(json.properties).sort());
    });
  }

  it('refuses a schema with a field it cannot draw, instead of a page that can never submit', () => {
    expect(() => toolForm('odd', z.object({ mood: z.string() }))).toThrow(/odd.*mood/);
  });

  it('still reads a URL field whose format a pattern replaced, when the schema says it is a URL', () => {
    const url = z.url().regex(/^https:\/\//).meta({ format: 'uri' });
    expect(toolForm('t', z.object({ clip_url: url })).fields).toEqual([{ kind: 'file', name: 'clip_url', label: 'Clip', required: true, accept: 'image' }]);
  });
});
