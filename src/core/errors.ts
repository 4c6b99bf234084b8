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
  CHECK_FAILED: 'CHECK_FAILED',
  AUTH: 'AUTH',
  NETWORK: 'NETWORK',
  BUILD_FAILED: 'BUILD_FAILED',
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  BOOT_FAILED: 'BOOT_FAILED',
} as const;

/** One of the literal codes in {@link ErrorCode}. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The hint a code gives when the thrower has nothing more specific to say. */
export const DEFAULT_HINTS: Readonly<Record<ErrorCode, string>> = {
  USAGE: 'run `kiln --help` for the commands and their options',
  INVALID_NAME: 'an image name is [<user>/]<name>[:<tag>] with <name> in a-z, 0-9 and "-"',
  NOT_FOUND: 'check the name or path; `kiln image show --all` lists the images',
  ALREADY_EXISTS: 'choose another name, or pass --force to replace it',
  BAD_ARCHIVE: 'the input is truncated, corrupt or not an image; create or export it again',
  DIGEST_MISMATCH: 'the content is corrupt or was modified; fetch or export it again',
  SIZE_MISMATCH: 'the content is truncated or corrupt; fetch or export it again',
  MISSING_BLOB: 'the image is incomplete; `kiln store verify` checks the store',
  UNSUPPORTED: 'convert the input to a form Kiln reads (see the README)',
  AMBIGUOUS: 'say which one you mean (see the options of the command)',
  TOOL_MISSING: 'install the tool named above',
  TOOL_FAILED: 'the tool\'s own message above says what went wrong',
  UNSAFE_PATH: 'the input is hostile or corrupt; nothing was extracted from it',
  CONFIG: 'fix the configuration file or the environment variable named above',
  CONFLICT: 'another kiln process changed the store at the same time; run the command again',
  IO: 'check the path, its permissions and free disk space',
  CHECK_FAILED: 'each failing requirement above ends with its fix; `kiln image check <image>` lists them all',
  AUTH: 'log in first: kiln login <label>',
  NETWORK: 'check that the server is running and reachable, and its host, port and protocol in kiln.yaml',
  BUILD_FAILED: 'fix the failing step named above; the steps before it stay cached and nothing was tagged',
  LIMIT_EXCEEDED: 'the input is larger than the configured limits allow; raise the setting named above if it is legitimate',
  BOOT_FAILED: 'the milestones above show how far the boot went, the console lines what stopped it',
};

/** Options of a {@link KilnError} beyond its code and message. */
export interface KilnErrorOptions {
  hint?: string;
  cause?: unknown;
}

/** The one error type Kiln throws on purpose: a code, what happened, and a hint for the user. */
export class KilnError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;

  constructor(code: ErrorCode, message: string, options: KilnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KilnError';
    this.code = code;
    this.hint = options.hint ?? DEFAULT_HINTS[code];
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
