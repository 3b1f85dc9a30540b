#!/usr/bin/env node
// The `fila` bin: loads tsx's ESM hooks so the TypeScript CLI runs without a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./cli.ts');
await main();
