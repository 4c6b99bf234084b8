import { MediaType, type Digest } from '../core/index.ts';
import { REF_NAME_ANNOTATION, type Descriptor, type Platform } from './oci.ts';
import { formatImageRef, type ImageRef } from './reference.ts';

/** What index.json needs to know about one named image. */
export interface IndexEntry {
  ref: ImageRef;
  manifestDigest: Digest;
  manifestSize: number;
  platform: Platform;
}

/**
 * Renders the store's index.json: one descriptor per image name, annotated with
 * `org.opencontainers.image.ref.name` = `<user>/<name>:<tag>`, sorted so that the
 * same catalog always gives the same bytes (image-spec v1.1 image-layout.md).
 */
export function renderLayoutIndex(entries: readonly IndexEntry[]): string {
  const manifests: Descriptor[] = entries
    .map((e) => ({
      mediaType: MediaType.ociManifest,
      digest: e.manifestDigest,
      size: e.manifestSize,
      annotations: { [REF_NAME_ANNOTATION]: formatImageRef(e.ref) },
      platform: e.platform,
    }))
    .sort((a, b) => (a.annotations[REF_NAME_ANNOTATION] < b.annotations[REF_NAME_ANNOTATION] ? -1 : 1));
  return `${JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }, null, 2)}\n`;
}
