import { formatImageRef, parseOwnImageRef, parsePlatform } from '../store/index.ts';
import { checkImage, gatePublish, type CheckReport } from '../check/index.ts';
import {
  cloneImage, credentialKeys, login, logout, publishImage, readCredentials, registryBaseUrl, searchImages,
  type CloneResult, type Credentials, type PublishResult, type SearchFailure, type SearchHit,
} from '../registry/index.ts';
import type { RegistryConfig } from '../config/index.ts';
import type { Core } from './core.ts';
import { sessionOf } from './session.ts';
import type { Resolved } from './request.ts';
import { isNodeImage } from './view.ts';

/** Node images of other users, the Docker daemon and every configured registry; unreachable locations are reported, not fatal. */
export function search(core: Core, req: Resolved, keyword: string | undefined): Promise<{ hits: SearchHit[]; failures: SearchFailure[] }> {
  return searchImages(sessionOf(core, req), core.store(), req.user, keyword, req.signal);
}

/** Copies an image into the user's images from a clone URL; node images get the bootability verdict. */
export async function clone(core: Core, req: Resolved, url: string, options: { name?: string | undefined; force?: boolean; platform?: string | undefined }): Promise<CloneResult & { check?: CheckReport }> {
  const store = core.store();
  const result = await cloneImage(sessionOf(core, req), store, url, {
    user: req.user, name: options.name, force: options.force === true,
    platform: options.platform !== undefined ? parsePlatform(options.platform) : undefined, signal: req.signal,
  });
  const check = isNodeImage(result.record) ? await checkImage(store, result.record) : undefined;
  if (!check) req.logger.warn(`${formatImageRef(result.record.ref)} has no label walt.node.models: it is not a node image`);
  return { ...result, ...(check ? { check } : {}) };
}

/**
 * Publishes one of the user's images. Others would clone an image that cannot boot: the
 * publish gate refuses one that fails the check unless `force`.
 */
export async function publish(core: Core, req: Resolved, name: string, options: { registry?: string | undefined; force?: boolean }): Promise<PublishResult> {
  const store = core.store();
  const record = store.getImage(parseOwnImageRef(name, req.user));
  await gatePublish(store, record, { force: options.force === true, logger: req.logger, scope: 'all' });
  return publishImage(sessionOf(core, req), store, req.user, name, options.registry, req.signal);
}

/** Checks credentials against a registry and stores them in the containers auth file. */
export function loginTo(core: Core, req: Resolved, label: string, creds: Credentials): Promise<{ registry: RegistryConfig; file: string }> {
  return login(sessionOf(core, req), label, creds);
}

/** Removes a registry's credentials from the auth file. */
export function logoutFrom(core: Core, req: Resolved, label: string): Promise<{ registry: RegistryConfig; file: string }> {
  return logout(sessionOf(core, req), label);
}

/** A configured registry with its base URL and whether credentials are stored for it. */
export type RegistryRow = RegistryConfig & { url: string; loggedIn: boolean };

/** The configured registries (Docker Hub by default). */
export function listRegistries(core: Core, req: Resolved): Promise<RegistryRow[]> {
  const session = sessionOf(core, req);
  return Promise.all(core.config.registries.map(async (r) => ({
    ...r, url: registryBaseUrl(r), loggedIn: (await readCredentials(session.authFiles, credentialKeys(r))) !== undefined,
  })));
}
