import { createWriteStream, mkdirSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  KilnError, ErrorCode, MediaType, digestHex, pathExists,
  removeTree, start, syncDir, syncPath, tarStream, tempSibling, type Digest,
} from '../core/index.ts';
import { REF_NAME_ANNOTATION, type Descriptor, type ImageManifest } from './oci.ts';
import type { ImageRecord } from './catalog.ts';
import type { Store } from './store.ts';
import { formatImageRef } from './reference.ts';
import { unpackLayers } from './extract.ts';

/** GNU tar options that keep owners, modes, xattrs, ACLs, devices and hardlinks (for archiving an unpacked root). */
const TAR_PRESERVE = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '--same-owner', '--same-permissions'];
import type { ImageFormat } from './import/index.ts';

/** Options of {@link exportImage}. */
export interface ExportOptions {
  signal?: AbortSignal;
  /** Replace an existing destination file. */
  force?: boolean;
}

interface ImageBlobs {
  manifest: ImageManifest;
  manifestDesc: Descriptor;
  blobs: Descriptor[];
}

async function imageBlobs(store: Store, record: ImageRecord): Promise<ImageBlobs> {
  const bytes = await store.readManifestBytes(record.manifestDigest);
  const manifest = await store.readManifest(record.manifestDigest);
  const manifestDesc: Descriptor = {
    mediaType: MediaType.ociManifest,
    digest: record.manifestDigest,
    size: bytes.length,
    annotations: { [REF_NAME_ANNOTATION]: formatImageRef(record.ref) },
    platform: record.platform,
  };
  return { manifest, manifestDesc, blobs: [{ ...manifestDesc, annotations: {} }, manifest.config, ...manifest.layers] };
}

function layoutIndex(desc: Descriptor): string {
  return JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [desc] });
}

/** Writes an OCI image layout directory (a new directory, created atomically by rename). */
async function exportLayoutDir(store: Store, record: ImageRecord, dest: string, options: ExportOptions): Promise<void> {
  if (await pathExists(dest)) {
    throw new KilnError(ErrorCode.ALREADY_EXISTS, `${dest} already exists`, { hint: 'give a path that does not exist yet' });
  }
  const { manifestDesc, blobs } = await imageBlobs(store, record);
  const tmp = tempSibling(dest);
  try {
    mkdirSync(join(tmp, 'blobs', 'sha256'), { recursive: true });
    for (const blob of unique(blobs)) {
      const out = createWriteStream(join(tmp, 'blobs', 'sha256', digestHex(blob.digest)), { flags: 'wx' });
      await pipeline(store.openBlob(blob.digest, blob.size), out, { signal: options.signal });
    }
    await writeFile(join(tmp, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(join(tmp, 'index.json'), layoutIndex(manifestDesc));
    await syncDir(join(tmp, 'blobs', 'sha256'));
    await rename(tmp, dest);
    await syncDir(dirname(dest));
  } catch (err) {
    await removeTree(tmp);
    throw err;
  }
}

function unique(blobs: Descriptor[]): Descriptor[] {
  const seen = new Set<Digest>();
  return blobs.filter((b) => (seen.has(b.digest) ? false : (seen.add(b.digest), true)));
}

/**
 * Streams an archive: an OCI layout as tar, plus (docker-archive) the manifest.json
 * Docker and podman load. Layer paths point into blobs/, as Docker 25+ writes them, so
 * the archive is both a docker-archive and an OCI archive and re-imports exactly.
 */
async function writeArchive(store: Store, record: ImageRecord, out: Writable, docker: boolean, signal?: AbortSignal): Promise<void> {
  const { manifest, manifestDesc, blobs } = await imageBlobs(store, record);
  const pack = tarStream().pack();
  const done = pipeline(pack as unknown as Readable, out, { signal });
  // Awaited at the end; a write error also fails the entry being written.
  done.catch(() => undefined);
  const mtime = new Date(record.created);
  const add = (name: string, text: string): void => {
    pack.entry({ name, mtime, mode: 0o644 }, text);
  };
  pack.entry({ name: 'blobs/', type: 'directory', mtime, mode: 0o755 });
  pack.entry({ name: 'blobs/sha256/', type: 'directory', mtime, mode: 0o755 });
  for (const blob of unique(blobs)) {
    const entry = pack.entry({ name: `blobs/sha256/${digestHex(blob.digest)}`, size: blob.size, mtime, mode: 0o644 });
    await pipeline(store.openBlob(blob.digest, blob.size), entry, { signal });
  }
  add('oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  add('index.json', layoutIndex(manifestDesc));
  if (docker) {
    const path = (d: Digest): string => `blobs/sha256/${digestHex(d)}`;
    add('manifest.json', JSON.stringify([{ Config: path(manifest.config.digest), RepoTags: [formatImageRef(record.ref)], Layers: manifest.layers.map((l) => path(l.digest)) }]));
  }
  pack.finalize();
  await done;
}

/** Writes the image's merged root filesystem as one tar (layers applied with whiteouts). */
async function writeRootfs(store: Store, record: ImageRecord, out: Writable, signal?: AbortSignal): Promise<void> {
  const manifest = await store.readManifest(record.manifestDigest);
  // Even one layer goes through the extractor: the tar given to the user holds what Kiln's
  // one parse decided, never a member another tar would write through a symlink.
  const work = await store.dirs.workDir('rootfs');
  try {
    const root = join(work, 'root');
    await mkdir(root);
    await unpackLayers(root, manifest.layers, (layer) => store.openBlob(layer.digest, layer.size), signal);
    const tarProc = start('tar', ['-c', '-f', '-', '-C', root, ...TAR_PRESERVE, '--sort=name', '.'], { stdout: 'pipe', signal });
    const stdout = tarProc.child.stdout;
    if (!stdout) throw new KilnError(ErrorCode.TOOL_FAILED, 'tar has no stdout');
    await Promise.all([pipeline(stdout, out, { signal }), tarProc.done]);
  } finally {
    await removeTree(work);
  }
}

/**
 * Exports an image from the store: `oci` (layout directory), `oci-archive`,
 * `docker-archive` or `rootfs` (the merged filesystem as tar). `dest` "-" writes an
 * archive to standard output. Files appear under their final name only when complete.
 */
export async function exportImage(store: Store, record: ImageRecord, dest: string, format: ImageFormat, options: ExportOptions = {}): Promise<void> {
  if (format === 'oci') {
    if (dest === '-') throw new KilnError(ErrorCode.USAGE, 'an OCI layout is a directory and cannot go to standard output', { hint: 'use --format oci-archive' });
    return exportLayoutDir(store, record, dest, options);
  }
  const write = (out: Writable): Promise<void> =>
    format === 'rootfs' ? writeRootfs(store, record, out, options.signal) : writeArchive(store, record, out, format === 'docker-archive', options.signal);
  if (dest === '-') {
    const through = new PassThrough();
    through.pipe(process.stdout);
    return write(through);
  }
  if (!options.force && (await pathExists(dest))) {
    throw new KilnError(ErrorCode.ALREADY_EXISTS, `${dest} already exists`, { hint: 'give another path, or pass --force to replace it' });
  }
  const tmp = tempSibling(dest);
  try {
    await write(createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
    await syncPath(tmp);
    await rename(tmp, dest);
    await syncDir(dirname(dest));
  } catch (err) {
    await removeTree(tmp);
    throw err;
  }
}
