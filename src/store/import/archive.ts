import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { KilnError, ErrorCode, readTarEntries, safeMemberName, type Digest } from '../../core/index.ts';
import type { Staging } from '../blobs.ts';
import { DiffIdTee, type DiffIdLedger } from './diff-ids.ts';

/**
 * Streams every regular file of a container archive (OCI archive or docker-archive)
 * into the staging area, hashing as it goes. Returns member name → digest; symlinks and
 * hardlinks between members (old docker-archives use them for shared layers) resolve to
 * their target's digest. Blobs named `blobs/sha256/<hex>` must hash to their name.
 * Members that start like gzip or zstd are decompressed as they stream in, so that the
 * diff_ids of compressed layers land in `diffIds` without a second pass.
 */
export async function stageArchiveMembers(path: string, staging: Staging, diffIds: DiffIdLedger): Promise<Map<string, Digest>> {
  const members = new Map<string, Digest>();
  const links = new Map<string, string>();
  await readTarEntries(createReadStream(path), path, async (header, content) => {
    const name = safeMemberName(header.name);
    if (name === undefined) {
      throw new KilnError(ErrorCode.UNSAFE_PATH, `${path}: member "${header.name}" escapes the archive root`, { hint: 'the archive is hostile or corrupt' });
    }
    if (header.type === 'symlink' || header.type === 'link') {
      const target = header.type === 'symlink' ? posix.join(posix.dirname(name), header.linkname ?? '') : (header.linkname ?? '');
      const safe = safeMemberName(target);
      if (safe === undefined || target.startsWith('/')) {
        throw new KilnError(ErrorCode.UNSAFE_PATH, `${path}: link "${header.name}" points outside the archive`, { hint: 'the archive is hostile or corrupt' });
      }
      links.set(name, safe);
      return;
    }
    if (header.type !== 'file' && header.type !== 'contiguous-file') return;
    const tee = new DiffIdTee('sniff');
    const staged = await staging.stage(content, undefined, [tee]);
    if (staged.size !== header.size) {
      throw new KilnError(ErrorCode.BAD_ARCHIVE, `${path}: member ${name} is truncated`, { hint: 'the archive is truncated; create it again' });
    }
    const hex = /^blobs\/sha256\/([a-f0-9]{64})$/u.exec(name)?.[1];
    if (hex !== undefined && `sha256:${hex}` !== staged.digest) {
      throw new KilnError(ErrorCode.DIGEST_MISMATCH, `${path}: blob ${name} hashes to ${staged.digest}`, {
        hint: 'the archive is corrupt or was modified; create it again',
      });
    }
    const outcome = tee.outcome;
    if (outcome) diffIds.set(staged.digest, outcome);
    members.set(name, staged.digest);
  });
  for (const [name, target] of links) {
    let resolved: string | undefined = target;
    for (let hops = 0; resolved !== undefined && !members.has(resolved) && hops < 8; hops++) resolved = links.get(resolved);
    const digest = resolved === undefined ? undefined : members.get(resolved);
    if (digest !== undefined) members.set(name, digest);
  }
  return members;
}
