import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import {
  KilnError, ErrorCode, HashingStream, TarScanner, TeeStream, createDecompressor, layerMediaType,
  sniffFileCompression, start, isKilnError, type Digest,
} from '../../core/index.ts';
import { createLayerIndexWriter } from '../layer-index.ts';
import type { Descriptor, ImageConfig, Platform } from '../oci.ts';
import type { Staging } from '../blobs.ts';
import { createRootfsGuard } from './rootfs-guard.ts';

/** What staging a root filesystem tarball produced. */
export interface StagedRootfs {
  layer: Descriptor;
  diffId: Digest;
  /** The layer's index (members and their data offsets, for the file-tree view), a file in the staging area. */
  indexFile: string;
}

/**
 * Streams a root filesystem tarball (plain, gzip, zstd, xz or bzip2) into the staging area
 * as one OCI layer, keeping its bytes when OCI can carry its compression. A branch of the same stream is decompressed, hashed for
 * the diff_id and walked as tar, so that a truncated, corrupt or hostile tarball fails
 * before anything reaches the store; the walk also yields the layer's index.
 */
export async function stageRootfs(path: string, staging: Staging): Promise<StagedRootfs> {
  const sniffed = await sniffFileCompression(path);
  // OCI layers carry gzip and zstd as they are; xz and bzip2 are decompressed by their
  // tools and stored as plain tar.
  let source: Readable = createReadStream(path);
  let tool: Promise<void> | undefined;
  if (sniffed === 'xz' || sniffed === 'bzip2') {
    const running = start(sniffed, ['-dc', path], { stdout: 'pipe' });
    tool = running.done.catch((err: unknown) => {
      throw isKilnError(err, 'TOOL_FAILED')
        ? new KilnError(ErrorCode.BAD_ARCHIVE, `${path} does not decompress (${sniffed}): ${err.message}`, { cause: err, hint: 'the file is truncated or corrupt' })
        : err;
    });
    // Awaited below; until then a failure must not count as unhandled.
    tool.catch(() => undefined);
    source = running.child.stdout as Readable;
  }
  const compression = sniffed === 'gzip' || sniffed === 'zstd' ? sniffed : 'none';

  const branch = new PassThrough();
  const diffHash = new HashingStream();
  let tarSource: Readable = branch.pipe(diffHash);
  let decompress: ReturnType<typeof createDecompressor> | undefined;
  if (compression !== 'none') {
    decompress = createDecompressor(compression);
    decompress.on('error', (err) => diffHash.destroy(
      new KilnError(ErrorCode.BAD_ARCHIVE, `${path} does not decompress (${compression}): ${err.message}`, { cause: err, hint: 'the file is truncated or corrupt' }),
    ));
    branch.unpipe(diffHash);
    tarSource = branch.pipe(decompress).pipe(diffHash);
  }
  const tee = new TeeStream(branch);
  // The same walk validates the tar and indexes it (header offsets), so a first check is quick.
  // The index goes to disk as it is read: a layer of millions of members must not be held in memory.
  const index = createLayerIndexWriter(join(staging.dir, 'rootfs.index.db'));
  let count = 0;
  const guard = createRootfsGuard(path);
  const scanner = new TarScanner(path, (m) => {
    guard(m);
    index.add(m);
    count++;
  });
  let compressedBytes = 0;
  branch.on('data', (chunk: Buffer) => {
    compressedBytes += chunk.length;
  });
  const validation = (async () => {
    for await (const chunk of tarSource) scanner.push(chunk as Buffer);
    scanner.end();
    index.finish();
    if (count === 0) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${path} holds no tar entries`, { hint: 'the file is empty or not a tar archive' });
    if (decompress) {
      // The decompressor may end before the file does (gunzip stops at a zero byte after the
      // stream): read the rest, or the tee waits forever; bytes after the stream make a layer
      // other tools refuse.
      branch.unpipe(decompress);
      branch.resume();
      await finished(branch);
      const trailing = compressedBytes - (decompress as Duplex & { bytesWritten: number }).bytesWritten;
      if (trailing > 0) {
        throw new KilnError(ErrorCode.BAD_ARCHIVE, `${path} has ${trailing} bytes after the end of its ${compression} stream`, { hint: 'the file is corrupt; compress the tarball again' });
      }
    }
  })();
  validation.catch((err: unknown) => tee.destroy(err as Error));
  let staged;
  try {
    try {
      staged = await staging.stage(source, undefined, [tee]);
    } catch (err) {
      // The branch never ends once staging failed (an abort, a read error): stop the walk, or it waits forever.
      diffHash.destroy(err as Error);
      // The decompressor's or the validation's error says what is wrong with the tarball; prefer it.
      await tool;
      await validation;
      throw err;
    }
    await tool;
    await validation;
  } catch (err) {
    await index.abort();
    throw err;
  }
  return { layer: { mediaType: layerMediaType(compression), digest: staged.digest, size: staged.size }, diffId: diffHash.digest, indexFile: index.file };
}

/** The image config of a single-layer image made from a root filesystem. */
export function rootfsConfig(input: { diffId: Digest; platform: Platform; labels: Record<string, string>; created: string; source: string }): ImageConfig {
  const config: ImageConfig = {
    created: input.created,
    architecture: input.platform.architecture,
    os: input.platform.os,
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['/bin/sh'],
      Labels: { ...input.labels },
    },
    rootfs: { type: 'layers', diff_ids: [input.diffId] },
    history: [{ created: input.created, created_by: `kiln image import ${input.source}` }],
  };
  if (input.platform.variant) config.variant = input.platform.variant;
  return config;
}
