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
] as const satisfies readonly Setting[];

/** Keys of {@link SETTINGS}. */
export type SettingKey = (typeof SETTINGS)[number]['key'];
