import { rm } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { TarScanner, layerCompression, type Digest } from '../core/index.ts';
import type { DiffIdOutcome } from './import/diff-ids.ts';
import { createLayerIndexWriter, type LayerIndexWriter } from './layer-index.ts';
import type { Descriptor } from './oci.ts';

const OUTPUT_CHUNK = 256 << 10;

/** What scanning a layer while it streamed in gave. */
export interface LayerScanResult {
  /** The diff_id (or why it has none); undefined for an uncompressed layer, whose diff_id is its digest. */
  outcome: DiffIdOutcome | undefined;
  /** The finished layer index, when the layer was a clean tar; else undefined (a check indexes it again and reports why). */
  indexFile: string | undefined;
}

/** Fed a layer's compressed bytes as they arrive; decompresses, hashes and indexes them in the same pass. */
export interface LayerScan {
  /** Feeds the next chunks, in order; the promise (when there is one) resolves once the decompressor can take more. */
  write(chunks: readonly Uint8Array[]): Promise<void> | undefined;
  /** Ends the input and waits for the decompressor: the diff_id and the index. */
  end(): Promise<LayerScanResult>;
  /** Stops and deletes the partial index. */
  abort(): Promise<void>;
}

/**
 * Starts scanning `layer` as its blob streams by: decompression (gzip or zstd, per its
 * media type), the sha256 of the uncompressed tar (its diff_id) and the layer index at
 * `indexFile` (which must not exist), so that neither the diff_id check nor the bootability
 * check reads the layer again. A decompression failure is an outcome, not an exception,
 * as with the staging tee; a tar the scanner refuses just gives no index.
 */
export function startLayerScan(layer: Descriptor, indexFile: string): LayerScan {
  const compression = layerCompression(layer.mediaType) ?? 'none';
  // node:crypto loads on first use, not at start-up (listing images hashes nothing).
  const hash = process.getBuiltinModule('node:crypto').createHash('sha256');
  let writer: LayerIndexWriter | undefined = createLayerIndexWriter(indexFile);
  const scanner = new TarScanner(`layer ${layer.digest}`, (m) => writer?.add(m));
  let decompressError: Error | undefined;
  let fed = 0;
  /** The removal of an index the scanner gave up on, awaited before the scan reports. */
  let dropped: Promise<void> = Promise.resolve();

  /** Hashes and indexes uncompressed bytes; a tar error drops the index and nothing else. */
  const take = (chunk: Buffer): void => {
    if (compression !== 'none') hash.update(chunk);
    if (!writer) return;
    try {
      scanner.push(chunk);
    } catch {
      // The check re-indexes such a layer from the store and reports the error there.
      const w = writer;
      writer = undefined;
      dropped = w.abort();
    }
  };

  let d: Duplex | undefined;
  let settled: Promise<void> = Promise.resolve();
  if (compression !== 'none') {
    // node:zlib loads with the first scan, not when the store's door is imported (start-up).
    const { createGunzip, createZstdDecompress } = process.getBuiltinModule('node:zlib');
    // Larger output chunks than zlib's 16 KiB: a quarter of the callbacks, hashes and scanner calls.
    const dec = compression === 'gzip' ? createGunzip({ chunkSize: OUTPUT_CHUNK }) : createZstdDecompress({ chunkSize: OUTPUT_CHUNK });
    d = dec;
    dec.on('data', take);
    settled = new Promise<void>((resolve) => {
      dec.on('error', (err: Error) => {
        decompressError ??= err;
        resolve();
      });
      dec.on('end', resolve);
      dec.on('close', resolve);
    });
  }
  let done = false;

  return {
    write(chunks) {
      let full = false;
      for (const chunk of chunks) {
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        if (!d) {
          take(buf);
          continue;
        }
        fed += buf.length;
        if (decompressError || d.writableEnded || d.destroyed) return undefined;
        // The batch is in memory already: it all goes in, and the next one waits for the decompressor.
        if (!d.write(buf)) full = true;
      }
      if (!d || !full) return undefined;
      const dec = d;
      return new Promise<void>((resolve) => {
        const go = (): void => {
          dec.off('drain', go);
          dec.off('close', go);
          resolve();
        };
        dec.on('drain', go);
        dec.on('close', go);
      });
    },
    async end() {
      done = true;
      if (d && !decompressError) {
        d.end();
        await settled;
      }
      let outcome: DiffIdOutcome | undefined;
      if (compression !== 'none') {
        const c = compression;
        // Bytes after the compressed stream (gunzip stops at a zero byte there) make a layer other tools refuse.
        const trailing = fed - ((d as Duplex & { bytesWritten: number }).bytesWritten ?? fed);
        if (!decompressError && trailing > 0) decompressError = new Error(`${trailing} bytes after the end of the compressed stream`);
        outcome = decompressError ? { compression: c, error: decompressError } : { compression: c, diffId: `sha256:${hash.digest('hex')}` as Digest };
      }
      let file: string | undefined;
      if (writer && !decompressError) {
        try {
          scanner.end();
          writer.finish();
          file = indexFile;
        } catch {
          await writer.abort();
        }
      } else if (writer) await writer.abort();
      writer = undefined;
      await dropped;
      return { outcome, indexFile: file };
    },
    async abort() {
      if (!done) d?.destroy();
      done = true;
      const w = writer;
      writer = undefined;
      if (w) await w.abort();
      await dropped;
      await rm(indexFile, { force: true });
    },
  };
}
