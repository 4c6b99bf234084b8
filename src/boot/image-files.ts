import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex, isErrno, layerCompression, type Digest } from '../core/index.ts';
import { extractFiles } from '../export/index.ts';
import { readTreeFiles, type ImageManifest, type ImageRecord, type ImageTree, type Store, type TreeEntry } from '../store/index.ts';
import type { BootFile } from './types.ts';
import { renderTemplate, templatePaths, type TemplateVariables } from './templates.ts';
import { memoryFile } from './memory-file.ts';

/** An image as the boot services see it: its tree and template list, cached by manifest digest. */
export interface ServedImage {
  record: ImageRecord;
  manifest: ImageManifest;
  tree: ImageTree;
  /** Template paths of /etc/walt/image.spec, tree form. */
  templates: ReadonlySet<string>;
}

/** Per-image trees (keyed by manifest digest: a re-tag or rebuild is a new key) and file opening. */
export interface ImageFiles {
  get(record: ImageRecord): Promise<ServedImage>;
  /** A regular file of the image: read in place from an uncompressed layer, else from its extracted copy. */
  file(image: ServedImage, entry: TreeEntry, served: string): Promise<BootFile>;
  /** A template of the image rendered with these values (the stored image never changes). */
  template(image: ServedImage, path: string, vars: TemplateVariables, served: string): Promise<BootFile | undefined>;
  close(): void;
}

const MAX_TREES = 32;
const MAX_TEMPLATE = 1 << 20;

/** Creates the image-file cache over a store; `cacheDir` holds files extracted from compressed layers. */
export function createImageFiles(store: Store, cacheDir: string): ImageFiles {
  const trees = new Map<Digest, Promise<ServedImage>>();
  const extracting = new Map<string, Promise<string>>();

  const load = async (record: ImageRecord): Promise<ServedImage> => {
    const manifest = await store.readManifest(record.manifestDigest);
    const tree = await store.readTree(manifest);
    const spec = (await readTreeFiles(tree, [{ path: 'etc/walt/image.spec', limit: MAX_TEMPLATE }], store.layerSource)).get('etc/walt/image.spec');
    return { record, manifest, tree, templates: new Set(templatePaths(spec?.ok ? spec.data.toString('utf8') : undefined)) };
  };

  /**
   * A file of a compressed layer is extracted once into the cache (named by layer digest and
   * offset, so every node and every image sharing the layer shares it) and served from there:
   * boot files are few (a script, a kernel, an initramfs), so unpacking whole images for them
   * would cost far more disk and time; decompressing the layer up to the file on every request
   * would cost a node's whole boot for each range of a large file.
   */
  const extracted = (layerDigest: Digest, entry: TreeEntry, image: ServedImage): Promise<string> => {
    const path = join(cacheDir, 'files', `${digestHex(layerDigest)}-${entry.offset}`);
    let pending = extracting.get(path);
    if (!pending) {
      pending = (async () => {
        try {
          const info = await stat(path);
          if (info.size === entry.size) return path;
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw err;
        }
        await mkdir(join(cacheDir, 'files'), { recursive: true });
        const part = `${path}.${process.pid}.part`;
        await rm(part, { force: true });
        try {
          // The export domain's file extraction: decompresses the layer up to the file's last byte, checks its size.
          await extractFiles(image.tree, [{ path: entry.path, dest: part }], { openLayer: store.layerSource.openLayer, openRange: (l, range) => store.openBlobRange(l.digest, range) });
          await rename(part, path);
        } catch (err) {
          await rm(part, { force: true });
          throw err;
        }
        return path;
      })().finally(() => extracting.delete(path));
      extracting.set(path, pending);
    }
    return pending;
  };

  return {
    get: (record) => {
      let image = trees.get(record.manifestDigest);
      if (!image) {
        image = load(record);
        image.catch(() => trees.delete(record.manifestDigest));
        trees.set(record.manifestDigest, image);
        if (trees.size > MAX_TREES) {
          const [oldest, evicted] = trees.entries().next().value as [Digest, Promise<ServedImage>];
          trees.delete(oldest);
          // Requests in flight may still read it: close a while later (WalT keeps images 60 s).
          setTimeout(() => void evicted.then((i) => i.tree.close(), () => undefined), 60_000).unref();
        }
      }
      return image;
    },
    file: async (image, entry, served) => {
      const layer = image.tree.layers[entry.layer] as (typeof image.tree.layers)[number];
      const compression = layerCompression(layer.mediaType);
      const etag = `"${digestHex(layer.digest).slice(0, 32)}-${entry.offset.toString(16)}"`;
      if (compression === 'none' || compression === undefined) {
        return {
          size: entry.size, etag, served,
          open: (range) => store.openBlobRange(layer.digest, { start: entry.offset + (range?.start ?? 0), end: entry.offset + (range ? range.end : entry.size - 1) }),
        };
      }
      const path = await extracted(layer.digest, entry, image);
      return { size: entry.size, etag, served, open: (range) => createReadStream(path, range ? { start: range.start, end: range.end } : {}) };
    },
    template: async (image, path, vars, served) => {
      const read = (await readTreeFiles(image.tree, [{ path, limit: MAX_TEMPLATE }], store.layerSource)).get(path);
      if (!read?.ok || read.truncated) return undefined;
      return memoryFile(renderTemplate(read.data.toString('utf8'), vars as unknown as Record<string, string | number>), served);
    },
    close: () => {
      for (const image of trees.values()) void image.then((i) => i.tree.close(), () => undefined);
      trees.clear();
    },
  };
}
