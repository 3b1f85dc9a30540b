// fila's client: import { JobManager, FilaApiError } from '<fila>/api/client/index.ts'.
export { JobManager, type JobManagerOptions, type CreateJobOptions, type SubscribeOptions, type Uploader } from './job-manager.ts';
export { FilaApiError } from './errors.ts';
export { readEventStream, type SseEvent } from './sse.ts';
export { isTerminalStatus, terminalStatuses, type Credits, type Job, type JobOutput, type JobStatus, type LedgerEntry, type Upload } from './types.ts';
