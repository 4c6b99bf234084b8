import { lstat, rm, readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import {
  KilnError, ErrorCode, createDecompressor, isErrno, layerCompression, readTarEntries, safeMemberName, start,
} from '../core/index.ts';
import type { Descriptor } from './oci.ts';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** GNU tar options that keep owners, modes, xattrs, ACLs, devices and hardlinks. */
export const TAR_PRESERVE = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '--same-owner', '--same-permissions'];

function unsafe(what: string, name: string, why: string): KilnError {
  return new KilnError(ErrorCode.UNSAFE_PATH, `${what}: entry "${name}" ${why}`, { hint: 'the layer is hostile or corrupt; it was not extracted' });
}

/** Fails when a path inside `root` passes through a symlink (which could lead out of the root). */
async function assertNoSymlinkParent(root: string, rel: string, what: string, name: string): Promise<void> {
  const parts = rel.split('/').slice(0, -1);
  let current = root;
  for (const part of parts) {
    current = join(current, part);
    try {
      if ((await lstat(current)).isSymbolicLink()) throw unsafe(what, name, `is written through the symlink ${part}`);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
  }
}

function decompressed(stream: Readable, layer: Descriptor): Readable {
  const compression = layerCompression(layer.mediaType);
  if (compression === undefined) throw new KilnError(ErrorCode.UNSUPPORTED, `layer ${layer.digest}: unsupported media type ${layer.mediaType}`);
  return compression === 'none' ? stream : stream.pipe(createDecompressor(compression));
}

/**
 * Applies one layer onto a directory, as overlayfs would stack it: OCI whiteouts
 * (`.wh.<name>`, `.wh..wh..opq`) delete what lower layers put there, then GNU tar
 * extracts the rest with owners, modes, xattrs and devices. Entries that would escape
 * the root ("..", hardlinks out, writes through a symlink) are refused before extraction.
 */
export async function applyLayer(root: string, layer: Descriptor, open: () => Readable): Promise<void> {
  const what = `layer ${layer.digest}`;
  const deletions: string[] = [];
  const opaque: string[] = [];
  const symlinks = new Set<string>();
  await readTarEntries(decompressed(open(), layer), what, async (header) => {
    const rel = safeMemberName(header.name);
    if (rel === undefined) throw unsafe(what, header.name, 'escapes the root with ".."');
    if (header.type === 'link' && safeMemberName(header.linkname ?? '') === undefined) throw unsafe(what, header.name, 'hardlinks outside the root');
    await assertNoSymlinkParent(root, rel, what, header.name);
    for (let dir = posix.dirname(rel); dir !== '.'; dir = posix.dirname(dir)) {
      if (symlinks.has(dir)) throw unsafe(what, header.name, `is written through the symlink ${dir}`);
    }
    if (header.type === 'symlink') symlinks.add(rel);
    const base = posix.basename(rel);
    if (base === OPAQUE) opaque.push(posix.dirname(rel));
    else if (base.startsWith(WHITEOUT)) deletions.push(posix.join(posix.dirname(rel), base.slice(WHITEOUT.length)));
  });
  for (const dir of opaque) {
    const full = join(root, dir);
    const names = await readdir(full).catch((err: unknown) => (isErrno(err, 'ENOENT') ? [] : Promise.reject(err)));
    for (const name of names) await rm(join(full, name), { recursive: true, force: true });
  }
  for (const path of deletions) await rm(join(root, path), { recursive: true, force: true });
  const tar = start('tar', ['-x', '-f', '-', '-C', root, ...TAR_PRESERVE, `--exclude=${WHITEOUT}*`], { stdin: 'pipe' });
  const stdin = tar.child.stdin;
  if (!stdin) throw new KilnError(ErrorCode.TOOL_FAILED, 'tar has no stdin');
  await feedTool(pipeline(decompressed(open(), layer), stdin), tar.done);
}

/**
 * Waits for a tool fed through its stdin. GNU tar stops reading at the end-of-archive
 * blocks and may exit before the padding after them is written: a closed pipe is then
 * not an error, as long as the tool itself succeeded.
 */
export async function feedTool(feeding: Promise<void>, done: Promise<void>): Promise<void> {
  const fed = feeding.then(() => undefined, (err: unknown) => err);
  await done;
  const err = await fed;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (err !== undefined && code !== 'EPIPE' && code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
}

/** Unpacks an image's layers, bottom to top, into an empty directory. */
export async function unpackLayers(root: string, layers: readonly Descriptor[], open: (layer: Descriptor) => Readable): Promise<void> {
  for (const layer of layers) await applyLayer(root, layer, () => open(layer));
}
