import { z } from 'zod';
import { fileUrl } from './file-url.ts';

/** Categories come from configuration (tools config); these are the defaults. */
export const defaultUpscalerCategories = ['pessoas', 'produto', 'comida', 'logo'] as const;

export function upscalerInput(categories: readonly string[] = defaultUpscalerCategories) {
  const [first, ...rest] = categories;
  if (!first) throw new Error('upscaler: the configured category list is empty');
  return z.object({
    image_url: fileUrl,
    version: z.enum(['standard', 'pro']).default('standard'),
    category: z.enum([first, ...rest]),
    framing_mode: z.enum(['perto', 'longe']).default('perto'),
    editing_level: z.number().min(0).max(1).optional(),
  }).strict();
}
