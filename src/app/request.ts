import { silentLogger, silentProgress, type Logger, type Progress } from '../core/index.ts';
import { validateUser } from '../store/index.ts';

/**
 * What one call of the core carries: who acts, how to stop it, where progress and messages go.
 * The CLI makes one per command; the daemon will make one per HTTP request or node event.
 */
export interface Request {
  /** The acting user: owner of what they import, build or clone, and of names given without `<user>/`. */
  user: string;
  /** Stops the operation (Ctrl-C, a client that went away). */
  signal?: AbortSignal | undefined;
  /** Transfer progress of this request (the CLI passes a terminal display on a terminal). */
  progress?: Progress | undefined;
  /** Messages of this request; the core's own logger when absent. */
  logger?: Logger | undefined;
}

/** A source of time, injected so that tests and the daemon control it. */
export interface Clock {
  now(): number;
}

/** The request with its defaults filled in and its user validated. */
export interface Resolved {
  user: string;
  signal: AbortSignal | undefined;
  progress: Progress;
  logger: Logger;
}

/**
 * Fills a request's defaults. The user is checked here, for operations that act as someone
 * (`checkUser`), so a bad KILN_USER fails only those (not login, which stores the process owner's credentials).
 */
export function resolveRequest(req: Request, fallback: Logger = silentLogger, checkUser = true): Resolved {
  return { user: checkUser ? validateUser(req.user) : req.user, signal: req.signal, progress: req.progress ?? silentProgress, logger: req.logger ?? fallback };
}

/** `{ signal }` when there is one (exact optional properties). */
export function signalOf(req: { signal: AbortSignal | undefined }): { signal?: AbortSignal } {
  return req.signal ? { signal: req.signal } : {};
}
