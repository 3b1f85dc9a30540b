import { z } from 'zod';
import { fileUrl } from './file-url.ts';

export const poseChangerInput = z.object({
  person_image_url: fileUrl,
  pose_image_url: fileUrl,
}).strict();
