import { createRegistrySession, type RegistrySession } from '../registry/index.ts';
import type { Core } from './core.ts';
import type { Resolved } from './request.ts';

/** A registry session for one request: its logger and progress, the configured registries. */
export function sessionOf(core: Core, req: Resolved): RegistrySession {
  return createRegistrySession({ registries: core.config.registries, env: core.env, logger: req.logger, progress: req.progress, idleTimeoutMs: core.idleTimeoutMs() });
}
