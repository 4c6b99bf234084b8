import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KilnError, ErrorCode, HashingStream, decompressedStream, layerCompression, type Digest } from '../core/index.ts';
import type { Descriptor, ImageTree, TreeEntry } from '../store/index.ts';

/** Where the layers' bytes come from. */
export interface LayerSource {
  openLayer: (layer: Descriptor) => Readable;
  /** Bytes `start`..`end` (both included) of an uncompressed layer, read in place. */
  openRange: (layer: Descriptor, range: { start: number; end: number }) => Readable;
}

/** A regular file of the image copied out: its size and sha256. */
export interface ExtractedFile {
  path: string;
  size: number;
  digest: Digest;
}

/** The regular file a path of the image leads to (symlinks followed inside the image), or NOT_FOUND. */
export function resolveFile(tree: ImageTree, path: string): TreeEntry {
  const r = tree.resolve(path);
  if (!r.ok || !r.entry || r.entry.type !== 'file') {
    throw new KilnError(ErrorCode.NOT_FOUND, `/${path} is not a regular file in the image`, { hint: 'the image is incomplete; check its /boot' });
  }
  return r.entry;
}

async function write(out: WriteStream, chunk: Buffer): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}

async function close(out: WriteStream): Promise<void> {
  out.end();
  await once(out, 'finish');
  await new Promise<void>((resolve, reject) => out.close((err) => (err ? reject(err) : resolve())));
}

/**
 * Copies regular files of an image to local files, streaming: an uncompressed layer is
 * read in place at each file's offset; a compressed one is decompressed once, up to the
 * last byte needed, and each file's range goes to its destination as it passes.
 */
export async function extractFiles(tree: ImageTree, items: ReadonlyArray<{ path: string; dest: string }>, source: LayerSource, signal?: AbortSignal): Promise<ExtractedFile[]> {
  const byLayer = new Map<number, Array<{ entry: TreeEntry; dest: string; index: number }>>();
  items.forEach(({ path, dest }, index) => {
    const entry = resolveFile(tree, path);
    byLayer.set(entry.layer, [...(byLayer.get(entry.layer) ?? []), { entry, dest, index }]);
  });
  const results: ExtractedFile[] = new Array(items.length);
  for (const [layerIndex, files] of byLayer) {
    const layer = tree.layers[layerIndex] as Descriptor;
    const compression = layerCompression(layer.mediaType);
    if (compression === 'none') {
      for (const f of files) {
        const hash = new HashingStream();
        const range = f.entry.size === 0 ? [] : [source.openRange(layer, { start: f.entry.offset, end: f.entry.offset + f.entry.size - 1 })];
        await pipeline([...range, hash, createWriteStream(f.dest, { flags: 'wx' })] as unknown as NodeJS.ReadWriteStream[], { signal });
        if (hash.size !== f.entry.size) throw new KilnError(ErrorCode.SIZE_MISMATCH, `layer ${layer.digest} ends inside /${f.entry.path}`);
        results[f.index] = { path: f.dest, size: hash.size, digest: hash.digest };
      }
      continue;
    }
    if (compression === undefined) throw new KilnError(ErrorCode.UNSUPPORTED, `layer ${layer.digest}: unsupported media type ${layer.mediaType}`);
    const sorted = [...files].sort((a, b) => a.entry.offset - b.entry.offset);
    const outs = sorted.map((f) => ({ ...f, out: createWriteStream(f.dest, { flags: 'wx' }), hash: createHash('sha256'), seen: 0 }));
    const end = Math.max(...sorted.map((f) => f.entry.offset + f.entry.size));
    const stream = decompressedStream(source.openLayer(layer), compression, `layer ${layer.digest}`);
    let pos = 0;
    try {
      for await (const chunk of stream) {
        signal?.throwIfAborted();
        const buf = chunk as Buffer;
        for (const o of outs) {
          const from = Math.max(o.entry.offset, pos);
          const to = Math.min(o.entry.offset + o.entry.size, pos + buf.length);
          if (from >= to) continue;
          const piece = buf.subarray(from - pos, to - pos);
          o.hash.update(piece);
          o.seen += piece.length;
          await write(o.out, piece);
        }
        pos += buf.length;
        if (pos >= end) break;
      }
    } finally {
      stream.destroy();
      for (const o of outs) await close(o.out);
    }
    for (const o of outs) {
      if (o.seen !== o.entry.size) throw new KilnError(ErrorCode.SIZE_MISMATCH, `layer ${layer.digest} ends inside /${o.entry.path}`);
      results[o.index] = { path: o.dest, size: o.seen, digest: `sha256:${o.hash.digest('hex')}` as Digest };
    }
  }
  return results;
}
