/** Error codes Kiln reports; the CLI maps each to an exit status. */
export const ErrorCode = {
  USAGE: 'USAGE',
  INVALID_NAME: 'INVALID_NAME',
  NOT_FOUND: 'NOT_FOUND',
  ALREADY_EXISTS: 'ALREADY_EXISTS',
  BAD_ARCHIVE: 'BAD_ARCHIVE',
  DIGEST_MISMATCH: 'DIGEST_MISMATCH',
  SIZE_MISMATCH: 'SIZE_MISMATCH',
  MISSING_BLOB: 'MISSING_BLOB',
  UNSUPPORTED: 'UNSUPPORTED',
  AMBIGUOUS: 'AMBIGUOUS',
  TOOL_MISSING: 'TOOL_MISSING',
  TOOL_FAILED: 'TOOL_FAILED',
  UNSAFE_PATH: 'UNSAFE_PATH',
  CONFIG: 'CONFIG',
  CONFLICT: 'CONFLICT',
  IO: 'IO',
} as const;

/** One of the literal codes in {@link ErrorCode}. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Options of a {@link KilnError} beyond its code and message. */
export interface KilnErrorOptions {
  hint?: string;
  cause?: unknown;
}

/** The one error type Kiln throws on purpose: a code, what happened, and a hint for the user. */
export class KilnError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: KilnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KilnError';
    this.code = code;
    this.hint = options.hint;
  }
}

/** True when `err` is a KilnError, optionally with the given code. */
export function isKilnError(err: unknown, code?: ErrorCode): err is KilnError {
  return err instanceof KilnError && (code === undefined || err.code === code);
}

/** True when `err` is a Node system error with the given errno code (ENOENT, EEXIST, …). */
export function isErrno(err: unknown, code: string): err is NodeJS.ErrnoException {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
