import { lstat, mkdir, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { removeTree, run, start, type Digest } from '../core/index.ts';
import { OPAQUE, WHITEOUT, applyLayer, type Descriptor } from '../store/index.ts';

const OPAQUE_XATTR = 'trusted.overlay.opaque';

/** A layer tarball Kiln wrote: uncompressed, so its digest is its diff_id. */
export interface BuiltLayer {
  digest: Digest;
  size: number;
}

/** Where a layer tarball goes as tar writes it (the store), returning what it turned out to be. */
export type LayerSink = (tar: Readable) => Promise<BuiltLayer>;

/** Directories of `root` (relative paths) that overlayfs marked opaque, read with getfattr in one pass. */
async function opaqueDirs(root: string): Promise<Set<string>> {
  // With -d and a pattern, files without the attribute are skipped and the exit status stays 0.
  const out = await run('getfattr', ['-R', '-h', '--absolute-names', '-d', '-m', `^${OPAQUE_XATTR.replace(/\./g, '\\.')}$`, root]);
  const dirs = new Set<string>();
  let file: string | undefined;
  for (const line of out.split('\n')) {
    if (line.startsWith('# file: ')) file = line.slice(8).replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    else if (file !== undefined && line === `${OPAQUE_XATTR}="y"`) dirs.add(file === root ? '' : file.slice(root.length + 1));
  }
  return dirs;
}

/**
 * Turns an overlay upper directory into an OCI layer tarball with GNU tar: whiteouts
 * (character device 0:0) become `.wh.<name>`, opaque directories get `.wh..wh..opq`.
 * The conversion happens in a hardlinked copy, so the upper directory stays usable as
 * an overlay lower directory. Entries are sorted and, with SOURCE_DATE_EPOCH, mtimes clamped.
 * The tarball streams into `sink` (the store), so it is written once.
 */
export async function dirToLayer(upper: string, sink: LayerSink, work: string, epoch: string | undefined): Promise<BuiltLayer> {
  const staging = join(work, 'layer-root');
  await removeTree(staging);
  await run('cp', ['-a', '--link', upper, staging]);
  const opaque = await opaqueDirs(staging);
  const walk = async (rel: string): Promise<void> => {
    const dir = join(staging, rel);
    const info = await lstat(dir);
    let changed = false;
    for (const name of await readdir(dir)) {
      const full = join(dir, name);
      const st = await lstat(full);
      if (st.isCharacterDevice() && st.rdev === 0) {
        await rm(full);
        await writeFile(join(dir, `${WHITEOUT}${name}`), '', { mode: 0o644 });
        changed = true;
      } else if (st.isDirectory()) {
        await walk(posix.join(rel, name));
      }
    }
    if (opaque.has(rel)) {
      await writeFile(join(dir, OPAQUE), '', { mode: 0o644 });
      changed = true;
    }
    if (changed) await utimes(dir, info.atime, info.mtime);
  };
  await walk('');
  const args = [
    '-c', '-f', '-', '-C', staging, '--format=posix', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--xattrs-exclude=trusted.overlay.*', '--acls',
    '--sort=name', '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
    ...(epoch !== undefined ? [`--mtime=@${epoch}`, '--clamp-mtime'] : []), '.',
  ];
  const tar = start('tar', args, { stdout: 'pipe' });
  // Listen from the start: Node drops the unread output of a child that exits before anyone reads it.
  const body = new PassThrough();
  const [layer] = await Promise.all([sink(body), pipeline(tar.child.stdout as Readable, body), tar.done]);
  await removeTree(staging);
  return layer;
}

/**
 * Unpacks one OCI layer into an empty directory in overlayfs's own format, so that it
 * can be stacked as a lower directory: the store's extractor writes it (everything
 * resolved inside the directory), whiteouts become character devices 0:0 and opaque
 * directories get the trusted.overlay.opaque xattr.
 */
export async function unpackLayerForOverlay(dir: string, layer: Descriptor, open: () => Readable): Promise<void> {
  await mkdir(dir, { recursive: true });
  await applyLayer(dir, layer, open, { mode: 'overlay' });
}

