import { z } from 'zod';

/** An input file: an http(s) URL (an upload's URL, the app's storage, or a provider file name's URL). */
export const fileUrl = z.url({ protocol: /^https?$/ }).max(2048);
