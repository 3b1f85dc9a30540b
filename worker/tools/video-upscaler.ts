import { z } from 'zod';
import { fileUrl } from './file-url.ts';

export const videoUpscalerInput = z.object({
  video_url: fileUrl,
}).strict();
