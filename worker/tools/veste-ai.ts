import { z } from 'zod';
import { fileUrl } from './file-url.ts';

export const vesteAiInput = z.object({
  person_image_url: fileUrl,
  garment_image_url: fileUrl,
}).strict();
