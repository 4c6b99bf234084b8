// Signals that stop a running command: one place for every command that runs until done or interrupted.

export interface StopOptions {
  /** The signals that abort (default SIGINT and SIGTERM). */
  signals?: readonly NodeJS.Signals[];
  /** Signals the command ignores meanwhile (an interactive shell gets Ctrl-C itself). */
  ignore?: readonly NodeJS.Signals[];
  /** Each signal aborts again (default: once, so that a second one gets Node's default: exit). */
  repeat?: boolean;
  /** The abort reason (default: the AbortController's). */
  reason?: () => unknown;
}

/** Runs `body` with a signal that the given process signals abort; the handlers go when it ends. */
export async function untilStopped<T>(body: (signal: AbortSignal) => Promise<T>, options: StopOptions = {}): Promise<T> {
  const abort = new AbortController();
  const onSignal = (): void => abort.abort(options.reason?.());
  const ignore = (): void => undefined;
  const signals = options.signals ?? ['SIGINT', 'SIGTERM'];
  for (const s of signals) (options.repeat ? process.on : process.once).call(process, s, onSignal);
  for (const s of options.ignore ?? []) process.on(s, ignore);
  try {
    return await body(abort.signal);
  } finally {
    for (const s of signals) process.off(s, onSignal);
    for (const s of options.ignore ?? []) process.off(s, ignore);
  }
}
