// What a chaos run saw from the outside, handed to the checker: the users' own clock readings of
// each submit (when it began, when it was answered), what they did with their jobs, the fake
// provider's own record of its tasks, and when each fault was active. Plain data: the checker
// reads this and the database, nothing of fila's runtime.

export type Behaviour = 'wait' | 'cancel' | 'abandon';

export interface SubmitRecord {
  user: string;
  tool: string;
  behaviour: Behaviour;
  /** Date.now() when the user pressed submit (first attempt) */
  beganAt: number;
  /** Date.now() when the submit was answered with the job (null: never answered) */
  answeredAt: number | null;
  /** the job the answer named (null: never answered) */
  jobId: string | null;
  /** attempts that got no usable answer (network error, 5xx) before the answer */
  retries: number;
  /** Date.now() when the user closed the page of a queued job (behaviour abandon) */
  abandonedAt: number | null;
  /** Date.now() when the user asked to cancel (behaviour cancel) */
  cancelRequestedAt: number | null;
  /** every ETA (seconds) the page was shown while the job was queued, and when */
  etas?: Array<{ at: number; eta: number }>;
}

/** The fake provider's own record of one task (never what fila says about it). */
export interface ProviderTaskRecord {
  taskId: string;
  /** the job its webhook URL names */
  jobId: string | null;
  /** what the task was scripted to do: ok, fail, lose-webhook, duplicate-webhook, queue-maxed, hang, create-timeout */
  script: string;
  /** the failure message a fail script reports */
  failMessage: string | null;
  status: 'QUEUED' | 'RUNNING' | 'SUCCESS' | 'FAILED';
  canceled: boolean;
  createdAt: number;
  finishedAt: number | null;
}

export interface ProviderRecord {
  tasks: ProviderTaskRecord[];
  /** the highest number of tasks active at once, as the fake counted it at each create */
  peakActive: number;
  /** the same for each account's key (account name -> peak), when the run has several accounts */
  peakActiveByAccount?: Record<string, number>;
  /** create calls it answered with an error code (capacity refusals and the like), by code */
  refusals: Record<string, number>;
}

export interface Outage {
  kind: 'postgres' | 'provider' | 'api' | 'worker';
  from: number;
  to: number;
}

export interface ChaosRecord {
  submits: SubmitRecord[];
  provider: ProviderRecord;
  outages: Outage[];
  /** how often the reaper was meant to run (ms) */
  reaperPeriodMs: number;
  /** Date.now() at the start of each reaper pass as it really ran: the longest gap is "one reaper period" */
  reaperPasses?: number[];
}
