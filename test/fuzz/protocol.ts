// What the campaign and its worker processes share: the worker's configuration, the slots of the
// progress file the watchdog reads, and the messages a worker sends.

import type { Seed } from './corpus.js';
import type { Finding } from './targets.js';

export interface WorkerConfig {
  seeds: Seed[];
  campaignSeed: number;
  /** First loop position, and the step between positions (lanes interleave). */
  start: number;
  step: number;
  /** Exclusive upper bound on the position. */
  end: number;
  /** When set, position k runs input indices[k] (re-running chosen inputs); otherwise input k. */
  indices?: number[];
  /** Date.now() after which no new input is started. */
  deadline: number;
  /** A 16-byte file the worker keeps PROGRESS in (written synchronously, so that it is current even
   * when the worker is stuck in a loop and its messages are not flushed). */
  progressFile: string;
  t0: number;
  /** Peak RSS growth allowed for one stage: base + perByte × input size. */
  memBaseMb: number;
  memPerByte: number;
  useVmlinux: boolean;
  /** Stages not to run. */
  skip: string[];
  /** Harness self-test: misbehave on purpose at this input (a hang, a TypeError, a memory spike). */
  inject?: { index: number; what: 'hang' | 'throw' | 'memory' | 'segv' };
}

/** Slots (little-endian int32) of the progress file. */
export const PROGRESS = {
  /** Index of the running input, -1 between inputs. */
  INDEX: 0,
  /** Its start, in ms since t0. */
  INPUT_START: 1,
  /** Index in STAGES of the running stage, -1 outside stages. */
  STAGE: 2,
  /** Loop position of the running input (see WorkerConfig.indices). */
  POS: 3,
  SLOTS: 4,
} as const;

export interface StatsDelta {
  inputs: number;
  byKind: Record<string, number>;
  stages: Record<string, { ok: number; error: number; crash: number }>;
  labels: Record<string, number>;
  errors: Record<string, number>;
  bytes: number;
  /** The slowest input in this delta: [ms, index]. */
  slowest: [number, number];
  /** Time per stage, ms. */
  times: Record<string, number>;
  /** The largest peak-RSS growth of a stage: [MiB, index, stage]. */
  peak: [number, number, string];
}

export type WorkerMessage =
  | { type: 'stats'; delta: StatsDelta }
  | { type: 'finding'; index: number; seed: string; labels: string[]; size: number; finding: Finding }
  | { type: 'memory'; index: number; stage: string; seed: string; labels: string[]; size: number; grewMb: number }
  | { type: 'done'; next: number };
