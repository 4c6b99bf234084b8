import { silentLogger, silentProgress, type Logger, type Progress } from '../core/index.ts';
import type { RegistryConfig } from '../config/index.ts';
import { authFiles, authKeys, readCredentials, type AuthFiles, type Credentials } from './auth-file.ts';
import { findRegistry } from './clone-url.ts';
import { createDockerDaemon, type DockerDaemon } from './docker-daemon.ts';
import { idleError } from './errors.ts';
import { DEFAULT_IDLE_TIMEOUT, fetchWithIdleTimeout } from './idle.ts';
import type { FetchLike } from './node-fetch.ts';
import { createTransport, type RegistryTransport } from './transport.ts';

/** What the registry operations of one command share: configuration, environment, output and open connections. */
export interface RegistrySession {
  readonly registries: readonly RegistryConfig[];
  readonly env: NodeJS.ProcessEnv;
  readonly logger: Logger;
  readonly progress: Progress;
  readonly authFiles: AuthFiles;
  /** The transport of a configured registry (one per label, so tokens are shared). */
  transport(label: string): RegistryTransport;
  /** A transport with the given credentials instead of the auth file's (login checks them). */
  transportWith(registry: RegistryConfig, credentials: Credentials): RegistryTransport;
  /** The Docker Engine API of DOCKER_HOST. */
  daemon(): DockerDaemon;
  /** fetch for plain HTTPS APIs (Docker Hub's search). */
  readonly fetch: FetchLike;
}

/** Options of {@link createRegistrySession}. */
export interface SessionOptions {
  registries: readonly RegistryConfig[];
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  progress?: Progress;
  fetch?: FetchLike;
  /** network_idle_timeout (ms) of every transfer of the session. */
  idleTimeoutMs?: number | undefined;
}

/** Names under which a registry's credentials are stored in the auth files. */
export function credentialKeys(registry: RegistryConfig): string[] {
  return authKeys(registry.host, registry.port, registry.api === 'docker-hub');
}

/** Creates the session of one command. */
export function createRegistrySession(options: SessionOptions): RegistrySession {
  const env = options.env ?? process.env;
  const logger = options.logger ?? silentLogger;
  const files = authFiles(env);
  const transports = new Map<string, RegistryTransport>();
  let daemon: DockerDaemon | undefined;
  const idle = options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs };
  const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT;
  const common = { logger, ...idle, ...(options.fetch ? { fetch: options.fetch } : {}) };
  return {
    registries: options.registries,
    env,
    logger,
    progress: options.progress ?? silentProgress,
    authFiles: files,
    // Plain HTTPS APIs (the Hub's search) get the same idle timeout as registry requests.
    fetch: (url, init = {}) => fetchWithIdleTimeout(options.fetch ?? fetch, url, init, idleMs, (phase) => idleError(new URL(url).host, 'request', url, idleMs, phase)),
    transport: (label) => {
      let t = transports.get(label);
      if (!t) {
        const registry = findRegistry(options.registries, label);
        t = createTransport(registry, { ...common, credentials: () => readCredentials(files, credentialKeys(registry)) });
        transports.set(label, t);
      }
      return t;
    },
    transportWith: (registry, credentials) => createTransport(registry, { ...common, credentials: async () => credentials, retries: 1 }),
    daemon: () => {
      daemon ??= createDockerDaemon(env, undefined, idle);
      return daemon;
    },
  };
}
