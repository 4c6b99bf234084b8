import { KilnError, ErrorCode } from './errors.ts';

/** Bounds on what a tar walk accepts, so that a hostile archive fails with an error rather than exhausting memory or disk. */
export interface TarLimits {
  /** Members (of any type) one archive or layer may hold. */
  maxEntries: number;
  /** Bytes of uncompressed tar one archive or layer may span. */
  maxLayerSize: number;
  /** Declared data size of one member. */
  maxFileSize: number;
}

const GIB = 1024 ** 3;

/** The limits used when none are configured. */
export const DEFAULT_TAR_LIMITS: Readonly<TarLimits> = { maxEntries: 10_000_000, maxLayerSize: 64 * GIB, maxFileSize: 16 * GIB };

/** The settings that change each limit, named in the hints. */
const SETTING_OF: Record<keyof TarLimits, { key: string; env: string }> = {
  maxEntries: { key: 'max_layer_entries', env: 'KILN_MAX_LAYER_ENTRIES' },
  maxLayerSize: { key: 'max_layer_size', env: 'KILN_MAX_LAYER_SIZE' },
  maxFileSize: { key: 'max_file_size', env: 'KILN_MAX_FILE_SIZE' },
};

let current: TarLimits = { ...DEFAULT_TAR_LIMITS };

/** Sets the limits every later tar walk of this process applies (the CLI calls it from the configuration). */
export function configureTarLimits(limits: Partial<TarLimits>): void {
  current = { ...DEFAULT_TAR_LIMITS, ...limits };
}

/** The limits in force. */
export function tarLimits(): Readonly<TarLimits> {
  return current;
}

/** The error for a limit passed: what, by how much, and which setting raises it. */
export function limitExceeded(what: string, limit: keyof TarLimits, value: number, max: number): KilnError {
  const names = { maxEntries: 'entries', maxLayerSize: 'bytes of uncompressed tar', maxFileSize: 'bytes in one member' } as const;
  const { key, env } = SETTING_OF[limit];
  return new KilnError(ErrorCode.LIMIT_EXCEEDED, `${what}: more than ${max} ${names[limit]} (${value})`, {
    hint: `raise ${key} in kiln.yaml or ${env} if the archive is legitimate`,
  });
}
