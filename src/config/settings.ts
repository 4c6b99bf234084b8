import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';

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
] as const satisfies readonly Setting[];

/** Keys of {@link SETTINGS}. */
export type SettingKey = (typeof SETTINGS)[number]['key'];
