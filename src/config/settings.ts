import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { KilnError, ErrorCode } from '../core/index.ts';

/** One setting: its kiln.yaml key, environment variable and documentation, in one table. */
export interface Setting {
  key: string;
  env: string;
  doc: string;
  default: (env: NodeJS.ProcessEnv) => string;
}

/** Every setting Kiln reads; drives kiln.yaml validation, the environment overrides and `kiln config`. */
export const SETTINGS = [
  {
    key: 'home',
    env: 'KILN_HOME',
    doc: 'state directory: store/ (OCI layout), kiln.db (catalog), tmp/',
    default: (env) => (process.getuid?.() === 0 ? '/var/lib/kiln' : join(env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'kiln')),
  },
  {
    key: 'user',
    env: 'KILN_USER',
    doc: 'owner of the images you import, build and clone (default: your login name)',
    default: () => userInfo().username,
  },
  {
    key: 'max_layer_entries',
    env: 'KILN_MAX_LAYER_ENTRIES',
    doc: 'most tar members one layer or rootfs tarball may hold; more is a LIMIT_EXCEEDED error',
    default: () => '10000000',
  },
  {
    key: 'max_layer_size',
    env: 'KILN_MAX_LAYER_SIZE',
    doc: 'most bytes one layer or rootfs tarball may span once decompressed (suffixes K, M, G, T: powers of 1024)',
    default: () => '64G',
  },
  {
    key: 'max_file_size',
    env: 'KILN_MAX_FILE_SIZE',
    doc: 'largest size a tar member may declare (suffixes K, M, G, T: powers of 1024)',
    default: () => '16G',
  },
  {
    key: 'network_idle_timeout',
    env: 'KILN_NETWORK_IDLE_TIMEOUT',
    doc: 'seconds a registry, Docker daemon or S3 server may stay silent during a transfer before Kiln gives up (NETWORK error; a re-run resumes)',
    default: () => '60',
  },
  {
    key: 'export_compression_level',
    env: 'KILN_EXPORT_COMPRESSION_LEVEL',
    doc: 'gzip level (1-9) of SquashFS exports, when --compression-level is not given; 6 is 4x faster than 9 for about 0.2% more bytes',
    default: () => '6',
  },
  {
    key: 'export_block_cache_size',
    env: 'KILN_EXPORT_BLOCK_CACHE_SIZE',
    doc: 'most bytes the SquashFS block packs of exports keep (suffixes K, M, G, T: powers of 1024); least recently used packs go first',
    default: () => '8G',
  },
] as const satisfies readonly Setting[];

/** Keys of {@link SETTINGS}. */
export type SettingKey = (typeof SETTINGS)[number]['key'];

/** network_idle_timeout in milliseconds; a CONFIG error when it is not a positive number of seconds. */
export function networkIdleTimeoutMs(value: string): number {
  const seconds = Number(value.trim());
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds <= 0) {
    throw new KilnError(ErrorCode.CONFIG, `network_idle_timeout "${value}" is not a positive number of seconds`, {
      hint: 'set network_idle_timeout in kiln.yaml (or KILN_NETWORK_IDLE_TIMEOUT) to e.g. 60',
    });
  }
  return Math.round(seconds * 1000);
}
