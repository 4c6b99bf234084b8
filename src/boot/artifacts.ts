import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { digestHex, type Logger } from '../core/index.ts';
import { exportBootArtifacts, type RootfsCompression } from '../export/index.ts';
import { formatImageRef, type ImageRecord, type Store } from '../store/index.ts';
import type { BootFile, BootMiss } from './types.ts';

/** The boot artifacts an image exports with `--format boot --layout kiln`, by file name. */
export const ARTIFACT_FILES: readonly string[] = ['vmlinuz', 'initramfs.img', 'rootfs.squashfs', 'boot.ipxe', 'manifest.json'];

/** Boot artifacts of images, exported on first request into a directory per manifest, then served from there. */
export interface ArtifactSource {
  open(record: ImageRecord, file: string): Promise<BootFile | BootMiss>;
}

/** Creates the artifact source: exports go through the export domain (and its cache) into `dir/<manifest>/`. */
export function createArtifactSource(store: Store, dir: string, logger?: Logger, compression?: RootfsCompression): ArtifactSource {
  const exports = new Map<string, Promise<string[]>>();
  const exported = (record: ImageRecord): Promise<string[]> => {
    const dest = join(dir, digestHex(record.manifestDigest));
    let pending = exports.get(dest);
    if (!pending) {
      pending = exportBootArtifacts(store, record, dest, { format: 'boot', layout: 'kiln', logger, ...(compression ? { compression } : {}) })
        .then((r) => [...r.written, ...r.unchanged].map((key) => (isAbsolute(key) ? key : join(dest, key))));
      // A failed export is tried again by the next request.
      pending.catch(() => exports.delete(dest));
      exports.set(dest, pending);
    }
    return pending;
  };
  return {
    open: async (record, file) => {
      if (!ARTIFACT_FILES.includes(file)) return { reason: 'not-found', detail: `${file} is not a boot artifact (${ARTIFACT_FILES.join(', ')})` };
      const files = await exported(record);
      const path = files.find((p) => p.endsWith(`/${file}`));
      if (!path) return { reason: 'not-found', detail: `${formatImageRef(record.ref)} has no ${file}` };
      const info = await stat(path);
      return {
        size: info.size,
        etag: `"${digestHex(record.manifestDigest).slice(0, 24)}-${info.size.toString(16)}-${Math.trunc(info.mtimeMs).toString(16)}"`,
        served: `${formatImageRef(record.ref)}:${file}`,
        open: (range) => createReadStream(path, range ? { start: range.start, end: range.end } : {}),
      };
    },
  };
}
