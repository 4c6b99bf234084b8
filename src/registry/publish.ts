import { KilnError, ErrorCode, type Digest } from '../core/index.ts';
import type { RegistryConfig } from '../config/index.ts';
import { formatImageRef, labelModels, parseOwnImageRef, type ImageRecord, type Store } from '../store/index.ts';
import { loadBlobLocations } from './blob-locations.ts';
import { findRegistry, formatCloneUrl } from './clone-url.ts';
import type { BlobPush } from './distribution.ts';
import { repositoryName } from './distribution.ts';
import { updateUserMetadata } from './hub.ts';
import { pushImage } from './push.ts';
import type { RegistrySession } from './session.ts';

/** What a publish did. */
export interface PublishResult {
  record: ImageRecord;
  registry: RegistryConfig;
  cloneUrl: string;
  digest: Digest;
  blobs: Record<BlobPush, number>;
}

/** The registry to publish to: the one named, else the only one, else Docker Hub. */
export function publishTarget(registries: readonly RegistryConfig[], label: string | undefined): RegistryConfig {
  if (label !== undefined) return findRegistry(registries, label);
  if (registries.length === 1) return registries[0] as RegistryConfig;
  const hub = registries.find((r) => r.api === 'docker-hub');
  if (hub) return hub;
  throw new KilnError(ErrorCode.USAGE, 'several registries are configured and none is Docker Hub', {
    hint: `choose one with --registry: ${registries.map((r) => r.label).join(', ') || '(none configured)'}`,
  });
}

/**
 * Publishes one of the caller's images as `<user>/<name>:<tag>` and returns the clone URL
 * others can use. On a docker-hub registry the user's walt_metadata image is updated too,
 * so that `search` finds the image.
 */
export async function publishImage(session: RegistrySession, store: Store, user: string, image: string, label?: string, signal?: AbortSignal): Promise<PublishResult> {
  const ref = parseOwnImageRef(image, user);
  const record = store.getImage(ref);
  const registry = publishTarget(session.registries, label);
  const transport = session.transport(registry.label);
  const repo = repositoryName(registry, `${ref.user}/${ref.name}`);
  const locations = await loadBlobLocations(store.dirs.cacheDir('registry'));
  const pushed = await pushImage({ store, transport, record, repo, tag: ref.tag, locations, logger: session.logger, signal });
  await locations.save();
  if (registry.api === 'docker-hub' && labelModels(record.labels).length > 0) {
    await updateUserMetadata(transport, ref.user, formatImageRef(ref), record.labels, signal);
  }
  const cloneUrl = formatCloneUrl({ location: registry.label, user: ref.user, name: ref.name, tag: ref.tag });
  return { record, registry, cloneUrl, digest: pushed.digest, blobs: pushed.blobs };
}
