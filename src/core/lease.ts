import { lstat, utimes } from 'node:fs/promises';
import { isErrno } from './errors.ts';
import { isProcessAlive } from './fs.ts';

/**
 * Leases on work files and directories (staging areas, partial downloads, build and
 * export work). The pid in a work name tells a dead owner from a live one, but a
 * long-running process (`kiln serve`) never dies: so the owner also touches its work's
 * mtime every {@link LEASE_HEARTBEAT_MS} while the work lives, and work whose mtime is
 * older than {@link LEASE_MAX_AGE_MS} is stale even when its pid still runs.
 */

/** How often an owner renews the leases it holds. */
export const LEASE_HEARTBEAT_MS = 60_000;
/** Work not renewed for this long is stale (many heartbeats: a busy loop or a slow disk is not a death). */
export const LEASE_MAX_AGE_MS = 15 * 60_000;

/** What {@link isStaleWork} may be told instead of the real clock and process table. */
export interface StaleWorkOptions {
  now?: () => number;
  maxAgeMs?: number;
  isAlive?: (pid: number) => boolean;
}

/**
 * Whether the work at `path`, owned by process `pid` (parsed from its name by the caller),
 * is stale: its owner no longer runs, or its lease expired. Absent work is not stale (it is
 * gone already); a name without a pid (`undefined`, NaN) is not work and never stale.
 */
export async function isStaleWork(path: string, pid: number | undefined, options: StaleWorkOptions = {}): Promise<boolean> {
  if (pid === undefined || !Number.isInteger(pid)) return false;
  if (!(options.isAlive ?? isProcessAlive)(pid)) return true;
  let mtimeMs: number;
  try {
    mtimeMs = (await lstat(path)).mtimeMs;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
  return (options.now ?? Date.now)() - mtimeMs > (options.maxAgeMs ?? LEASE_MAX_AGE_MS);
}

/** The owner's side: leases held by this process, renewed together by one timer. */
export interface LeaseKeeper {
  /** Holds the lease of `path` until {@link release} (or until the path is gone). */
  hold(path: string): void;
  release(path: string): void;
  /** Renews every held lease now (the timer calls it; tests call it with their clock). */
  renew(): Promise<void>;
  /** The paths whose lease is held. */
  held(): string[];
}

/** A lease keeper; with `intervalMs`, an unref'd timer renews its leases (it never keeps the process alive). */
export function createLeaseKeeper(options: { now?: () => number; intervalMs?: number } = {}): LeaseKeeper {
  const now = options.now ?? Date.now;
  const paths = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const renew = async (): Promise<void> => {
    const at = now() / 1000;
    await Promise.all([...paths].map(async (path) => {
      try {
        await utimes(path, at, at);
      } catch (err) {
        // Work removed without release(): the lease ends with it. Other errors leave the
        // lease held: the next beat tries again, and at worst gc sees the work as stale.
        if (isErrno(err, 'ENOENT')) paths.delete(path);
      }
    }));
    if (paths.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  return {
    hold: (path) => {
      paths.add(path);
      if (options.intervalMs !== undefined && !timer) {
        timer = setInterval(() => void renew(), options.intervalMs);
        timer.unref();
      }
    },
    release: (path) => {
      paths.delete(path);
    },
    renew,
    held: () => [...paths],
  };
}

/** This process's leases, renewed every {@link LEASE_HEARTBEAT_MS}. */
export const leases: LeaseKeeper = createLeaseKeeper({ intervalMs: LEASE_HEARTBEAT_MS });
