// fila's client: import { JobManager, FilaApiError } from '<fila>/api/client/index.ts'.
export { JobManager, type JobManagerOptions, type CreateJobOptions, type ListJobsQuery, type SubscribeOptions, type Uploader, type UploadProgress } from './job-manager.ts';
export { FilaApiError } from './errors.ts';
export { readEventStream, type SseEvent } from './sse.ts';
export { isSettled, isTerminalStatus, terminalStatuses, type Credits, type HistoryJob, type Job, type JobOutput, type JobPage, type JobStatus, type LedgerEntry, type Upload } from './types.ts';
