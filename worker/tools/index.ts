// The four tools: each one's input schema (the API validates with it, the worker maps the stored
// input with it). The mapping to RunningHub workflows lives beside each schema.
import type { z } from 'zod';
import { upscalerInput } from './upscaler.ts';
import { poseChangerInput } from './pose-changer.ts';
import { vesteAiInput } from './veste-ai.ts';
import { videoUpscalerInput } from './video-upscaler.ts';

export const toolNames = ['upscaler', 'pose_changer', 'veste_ai', 'video_upscaler'] as const;
export type ToolName = (typeof toolNames)[number];

export function isToolName(s: string): s is ToolName {
  return (toolNames as readonly string[]).includes(s);
}

export function toolInputSchemas(opts: { upscalerCategories?: readonly string[] } = {}): Record<ToolName, z.ZodType<Record<string, unknown>>> {
  return {
    upscaler: upscalerInput(opts.upscalerCategories),
    pose_changer: poseChangerInput,
    veste_ai: vesteAiInput,
    video_upscaler: videoUpscalerInput,
  };
}
