import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';

/** One member of a hand-made tar. */
export interface Member {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  content?: string | Buffer;
  linkname?: string;
}

/** A fixed member time, so that a fixture is the same bytes on every run. */
const MTIME = new Date('2024-01-01T00:00:00Z');

/** Builds a tar in memory from members (test fixtures only: small, and hostile on purpose). */
export async function makeTar(members: readonly Member[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const m of members) {
    const type = m.type ?? 'file';
    if (type === 'file') pack.entry({ name: m.name, mode: 0o644, mtime: MTIME }, m.content ?? '');
    else pack.entry({ name: m.name, type, linkname: m.linkname, mode: type === 'directory' ? 0o755 : 0o777, mtime: MTIME });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

function sha(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A layer as stored: its blob bytes and media type. */
export interface LayerBlob {
  blob: Buffer;
  mediaType: string;
}

/** A function that stores bytes as a blob of the layout in `dir` and returns its descriptor fields. */
function blobWriter(dir: string): (data: Buffer | string) => { digest: string; size: number } {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  return (data) => {
    const digest = sha(data);
    writeFileSync(join(blobs, digest.slice(7)), data);
    return { digest, size: Buffer.byteLength(data) };
  };
}

/**
 * Writes an OCI layout with one image whose config lists `diffIds` as given (right or
 * wrong on purpose); returns the manifest digest.
 */
export function writeLayoutRaw(dir: string, layers: readonly LayerBlob[], diffIds: readonly string[], ref = 'fixture:latest'): string {
  const put = blobWriter(dir);
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } });
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...put(config) },
    layers: layers.map((l) => ({ mediaType: l.mediaType, ...put(l.blob) })),
  });
  const m = put(manifest);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': ref } }],
  }));
  return m.digest;
}

/** The sha256 digest of bytes, as OCI writes it. */
export function sha256Of(data: Buffer | string): string {
  return sha(data);
}

/** Writes an OCI layout with one image of `layers` (uncompressed, or gzip where `gzipped` says; OCI or Docker schema2 media types); returns the manifest digest. */
export function writeLayout(dir: string, layers: readonly Buffer[], labels: Record<string, string> = {}, ref = 'fixture:latest', docker = false, gzipped: readonly boolean[] = []): string {
  const types = docker
    ? { manifest: 'application/vnd.docker.distribution.manifest.v2+json', config: 'application/vnd.docker.container.image.v1+json', layer: 'application/vnd.docker.image.rootfs.diff.tar' }
    : { manifest: 'application/vnd.oci.image.manifest.v1+json', config: 'application/vnd.oci.image.config.v1+json', layer: 'application/vnd.oci.image.layer.v1.tar' };
  const put = blobWriter(dir);
  const layerDescs = layers.map((l, i) => ({ mediaType: gzipped[i] ? `${types.layer}${docker ? '.gzip' : '+gzip'}` : types.layer, ...put(l) }));
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Labels: labels },
    rootfs: { type: 'layers', diff_ids: layers.map((l, i) => sha(gzipped[i] ? gunzipSync(l) : l)) },
  });
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: types.manifest,
    config: { mediaType: types.config, ...put(config) },
    layers: layerDescs,
  });
  const m = put(manifest);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: types.manifest, ...m, annotations: { 'org.opencontainers.image.ref.name': ref } }],
    }),
  );
  return m.digest;
}

/** The file of a blob in a layout. */
export function layoutBlob(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
}
