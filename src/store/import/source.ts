import { createReadStream } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError, ErrorCode, assertContent, digestHex, digestOf, isErrno, type Digest } from '../../core/index.ts';
import type { Descriptor } from '../oci.ts';
import type { Staging } from '../blobs.ts';
import { diffIdTeeFor, type DiffIdLedger } from './diff-ids.ts';

/** Where an OCI layout's blobs come from: a directory on disk, or an archive already staged. */
export interface LayoutSource {
  /** For messages: the path the user gave. */
  what: string;
  readIndex(): Promise<Buffer>;
  /** A small blob (manifest, index, config), verified against its descriptor. */
  readSmall(desc: Descriptor): Promise<Buffer>;
  /** Makes sure a blob is staged or already in the store (`inStore`), verifying what it copies. */
  provide(desc: Descriptor, staging: Staging, inStore: (d: Digest) => boolean): Promise<void>;
  /** Diff_ids of compressed layers, computed while their blobs streamed in. */
  readonly diffIds: DiffIdLedger;
}

const SMALL_LIMIT = 16 << 20;

function missing(what: string, digest: Digest, cause?: unknown): KilnError {
  return new KilnError(ErrorCode.MISSING_BLOB, `${what} lacks blob ${digest}`, {
    cause,
    hint: 'the image is incomplete: export or copy it again',
  });
}

/** A layout directory: blobs are files under blobs/sha256/, never followed through symlinks. */
export function directorySource(dir: string): LayoutSource {
  const diffIds: DiffIdLedger = new Map();
  const path = (digest: Digest): string => join(dir, 'blobs', 'sha256', digestHex(digest));
  const checkFile = async (digest: Digest): Promise<void> => {
    let info;
    try {
      info = await lstat(path(digest));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw missing(dir, digest, err);
      throw err;
    }
    if (!info.isFile()) {
      throw new KilnError(ErrorCode.UNSAFE_PATH, `${dir}: blob ${digest} is not a regular file (symlinks are not followed)`, {
        hint: 'copy the layout with its blobs as regular files',
      });
    }
  };
  return {
    what: dir,
    diffIds,
    readIndex: async () => {
      try {
        return await readFile(join(dir, 'index.json'));
      } catch (err) {
        throw new KilnError(ErrorCode.BAD_ARCHIVE, `${dir} has no readable index.json`, { cause: err, hint: 'the layout is incomplete' });
      }
    },
    readSmall: async (desc) => {
      await checkFile(desc.digest);
      if (desc.size > SMALL_LIMIT) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${dir}: ${desc.digest} is too large for a manifest or config`);
      const bytes = await readFile(path(desc.digest));
      assertContent(`${dir}: blob ${desc.digest}`, desc, { digest: digestOf(bytes), size: bytes.length });
      return bytes;
    },
    provide: async (desc, staging, inStore) => {
      if (inStore(desc.digest) || staging.staged.has(desc.digest)) return;
      await checkFile(desc.digest);
      const tee = diffIdTeeFor(desc);
      await staging.stage(createReadStream(path(desc.digest)), desc, tee ? [tee] : []);
      const outcome = tee?.outcome;
      if (outcome) diffIds.set(desc.digest, outcome);
    },
  };
}

/** An archive whose members were staged: `members` maps member names to staged digests. */
export function stagedSource(what: string, staging: Staging, members: ReadonlyMap<string, Digest>, diffIds: DiffIdLedger): LayoutSource {
  return {
    what,
    diffIds,
    readIndex: async () => {
      const digest = members.get('index.json');
      const blob = digest && staging.staged.get(digest);
      if (!blob) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what} has no index.json`, { hint: 'the archive is incomplete or not an OCI archive' });
      return readFile(blob.path);
    },
    readSmall: async (desc) => {
      const blob = staging.staged.get(desc.digest);
      if (!blob) throw missing(what, desc.digest);
      if (blob.size > SMALL_LIMIT) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what}: ${desc.digest} is too large for a manifest or config`);
      const bytes = await readFile(blob.path);
      assertContent(`${what}: blob ${desc.digest}`, desc, { digest: digestOf(bytes), size: bytes.length });
      return bytes;
    },
    provide: async (desc, stagingArea, inStore) => {
      const blob = stagingArea.staged.get(desc.digest);
      if (blob) {
        assertContent(`${what}: blob ${desc.digest}`, desc, blob);
        return;
      }
      if (!inStore(desc.digest)) throw missing(what, desc.digest);
    },
  };
}
