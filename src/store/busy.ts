import { setTimeout as sleep } from 'node:timers/promises';
import { KilnError, ErrorCode } from '../core/index.ts';

/**
 * Waiting for SQLite's write lock without stalling the event loop. The connection's own
 * busy timeout is kept short (SQLite sleeps inside it, on the loop's thread); beyond it,
 * SQLITE_BUSY comes back here and async callers wait between attempts with a timer, so
 * a daemon keeps serving while another process holds the lock.
 */

/** How long SQLite itself may block the thread on a lock before reporting SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 2;
/** How long Kiln keeps trying before it reports the store as busy. */
export const LOCK_WAIT_MS = 60_000;

/** True for SQLITE_BUSY and SQLITE_LOCKED, including their extended codes. */
export function isBusy(err: unknown): boolean {
  const code = (err as { errcode?: unknown } | undefined)?.errcode;
  return typeof code === 'number' && ((code & 0xff) === 5 || (code & 0xff) === 6);
}

/** The delay before attempt `n` (from 1): doubling from 1 ms to 25 ms, with jitter so that waiters spread out. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(25, 2 ** Math.min(attempt - 1, 5));
  return base / 2 + random() * base / 2;
}

function busyError(what: string, cause: unknown): KilnError {
  return new KilnError(ErrorCode.CONFLICT, `the catalog stayed locked for ${LOCK_WAIT_MS / 1000} s while ${what}`, {
    cause,
    hint: 'another kiln process holds the store\'s write lock; wait for it to finish and run the command again',
  });
}

/** Clock and timer, injectable for tests. */
export interface RetryClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: RetryClock = { now: () => Date.now(), sleep: (ms) => sleep(ms) };

/** Runs `attempt` until it does not fail with SQLITE_BUSY, waiting on timers between tries. */
export async function retryBusy<T>(what: string, attempt: () => T, clock: RetryClock = realClock): Promise<T> {
  const deadline = clock.now() + LOCK_WAIT_MS;
  for (let n = 1; ; n++) {
    try {
      return attempt();
    } catch (err) {
      if (!isBusy(err)) throw err;
      if (clock.now() >= deadline) throw busyError(what, err);
      await clock.sleep(backoffMs(n));
    }
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * The blocking variant, for the synchronous methods (reads, duplicate, rename): it sleeps
 * on the thread between tries, as SQLite's own busy handler would. Async callers use
 * {@link retryBusy}.
 */
export function retryBusySync<T>(what: string, attempt: () => T): T {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (let n = 1; ; n++) {
    try {
      return attempt();
    } catch (err) {
      if (!isBusy(err)) throw err;
      if (Date.now() >= deadline) throw busyError(what, err);
      Atomics.wait(sleeper, 0, 0, backoffMs(n));
    }
  }
}
