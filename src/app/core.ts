import type { Config } from '../config/index.ts';
import type { Logger } from '../core/index.ts';
import type { Store } from '../store/index.ts';
import type { Clock } from './request.ts';
import type { ImageUsage } from './usage.ts';

/** What the operations share inside one Kiln: configuration, the store (opened on first use), and per-request helpers (a registry session: session.ts). */
export interface Core {
  config: Config;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  clock: Clock;
  store(): Store;
  usage(): ImageUsage;
  /** network_idle_timeout in ms, read when an operation goes on the network (a bad value fails only those). */
  idleTimeoutMs(): number;
}
