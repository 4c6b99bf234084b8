import { KilnError, ErrorCode, isKilnError, redactUrls } from '../core/index.ts';
import type { Command } from './command.ts';

/** Exit status of each error code: usage problems are 2, everything else 1. */
export function exitStatus(err: unknown): number {
  return isKilnError(err, ErrorCode.USAGE) || isKilnError(err, ErrorCode.INVALID_NAME) ? 2 : 1;
}

/** A usage error, with the command's usage line (or the way to the list of commands) as its hint. */
export function usageError(message: string, command?: Command): KilnError {
  return new KilnError(ErrorCode.USAGE, message, { hint: command ? `usage: ${command.usage}` : 'run `kiln --help` for the commands' });
}

/** Prints an error on stderr: code, message and hint for Kiln's own, a short line for I/O errors, the stack for bugs. */
export function report(err: unknown): void {
  // Whatever a message quotes (a spec's parent, an endpoint, a server's answer), credentials in URLs stay out of it.
  const write = (text: string): void => void process.stderr.write(redactUrls(text));
  if (err instanceof KilnError) {
    write(`kiln: error [${err.code}]: ${err.message}\n`);
    if (err.hint) write(`  hint: ${err.hint}\n`);
    if (process.env.KILN_DEBUG && err.cause) write(`  cause: ${String((err.cause as Error).stack ?? err.cause)}\n`);
    return;
  }
  const errno = err as NodeJS.ErrnoException;
  if (typeof errno?.code === 'string' && typeof errno.syscall === 'string') {
    write(`kiln: error [IO]: ${errno.message}\n  hint: check the path, its permissions and free disk space\n`);
    return;
  }
  write(`kiln: internal error: ${(err as Error)?.stack ?? String(err)}\n  hint: this is a bug in kiln; please report it with the command you ran\n`);
}
