import { KilnError, ErrorCode, MediaType, parseDigest, toOciMediaType, type Digest } from '../core/index.ts';

/** An OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
}

/** An image platform as in OCI image indexes. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** An OCI (or Docker schema2) image manifest. */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** An OCI image index (or Docker manifest list). */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** The parts of an image config Kiln reads and writes. */
export interface ImageConfig {
  created?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: { Labels?: Record<string, string> | null; [key: string]: unknown };
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: Array<{ created?: string; created_by?: string; comment?: string; empty_layer?: boolean }>;
  [key: string]: unknown;
}

/** The annotation carrying an image's name in an OCI layout's index.json. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

function bad(what: string, why: string): KilnError {
  return new KilnError(ErrorCode.BAD_ARCHIVE, `${what}: ${why}`, { hint: 'the image is corrupt or not an OCI/Docker image' });
}

/** Parses a JSON document that must be an object (BAD_ARCHIVE otherwise). */
export function parseJson(bytes: Uint8Array | string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what} is not valid JSON`, { cause: err, hint: 'the file is truncated or corrupt' });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(what, 'expected a JSON object');
  return value as Record<string, unknown>;
}

/** Validates one descriptor object. */
export function parseDescriptor(value: unknown, what: string): Descriptor {
  if (typeof value !== 'object' || value === null) throw bad(what, 'descriptor is not an object');
  const v = value as Record<string, unknown>;
  if (typeof v.mediaType !== 'string') throw bad(what, 'descriptor has no mediaType');
  if (typeof v.digest !== 'string') throw bad(what, 'descriptor has no digest');
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) throw bad(what, 'descriptor has no valid size');
  const d: Descriptor = { mediaType: v.mediaType, digest: parseDigest(v.digest), size: v.size };
  if (typeof v.annotations === 'object' && v.annotations !== null) d.annotations = v.annotations as Record<string, string>;
  if (typeof v.platform === 'object' && v.platform !== null) d.platform = v.platform as Platform;
  return d;
}

/** Whether a JSON document (by its media type or shape) is an index or an image manifest. */
export function manifestKind(doc: Record<string, unknown>, declared?: string): 'index' | 'manifest' {
  const mt = toOciMediaType(String(declared ?? doc.mediaType ?? ''));
  if (mt === MediaType.ociIndex) return 'index';
  if (mt === MediaType.ociManifest) return 'manifest';
  return Array.isArray(doc.manifests) ? 'index' : 'manifest';
}

/** Parses and validates an image index (index.json or a nested index blob). */
export function parseIndex(bytes: Uint8Array | string, what: string): ImageIndex {
  const doc = parseJson(bytes, what);
  if (doc.schemaVersion !== 2) throw bad(what, 'schemaVersion must be 2');
  if (!Array.isArray(doc.manifests)) throw bad(what, 'no "manifests" array');
  const index: ImageIndex = { schemaVersion: 2, manifests: doc.manifests.map((m, i) => parseDescriptor(m, `${what} manifests[${i}]`)) };
  if (typeof doc.mediaType === 'string') index.mediaType = doc.mediaType;
  return index;
}

/** Parses and validates an image manifest; Docker schema2 is accepted. */
export function parseManifest(bytes: Uint8Array | string, what: string): ImageManifest {
  const doc = parseJson(bytes, what);
  if (doc.schemaVersion !== 2) throw bad(what, 'schemaVersion must be 2 (Docker schema1 is not supported)');
  if (!Array.isArray(doc.layers)) throw bad(what, 'no "layers" array');
  const manifest: ImageManifest = {
    schemaVersion: 2,
    config: parseDescriptor(doc.config, `${what} config`),
    layers: doc.layers.map((l, i) => parseDescriptor(l, `${what} layers[${i}]`)),
  };
  if (typeof doc.mediaType === 'string') manifest.mediaType = doc.mediaType;
  if (typeof doc.annotations === 'object' && doc.annotations !== null) manifest.annotations = doc.annotations as Record<string, string>;
  for (const layer of manifest.layers) {
    if (toOciMediaType(layer.mediaType) === undefined) throw bad(what, `unsupported layer media type ${layer.mediaType}`);
  }
  return manifest;
}

/** Parses an image config; checks the fields Kiln relies on. */
export function parseConfig(bytes: Uint8Array | string, what: string): ImageConfig {
  const doc = parseJson(bytes, what);
  if (typeof doc.architecture !== 'string' || typeof doc.os !== 'string') throw bad(what, 'config lacks architecture or os');
  const rootfs = doc.rootfs as { type?: unknown; diff_ids?: unknown } | undefined;
  if (!rootfs || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) throw bad(what, 'config lacks rootfs.diff_ids');
  rootfs.diff_ids.forEach((d) => parseDigest(String(d)));
  return doc as unknown as ImageConfig;
}

/** The labels of an image config (empty when it has none). */
export function configLabels(config: ImageConfig): Record<string, string> {
  // Configs come from outside: keep only string labels of a labels object.
  const labels: unknown = config.config?.Labels;
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) return {};
  return Object.fromEntries(Object.entries(labels).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** True when a manifest is already pure OCI (no Docker media types anywhere; mediaType may be absent, as image-spec allows). */
export function isOciManifest(manifest: ImageManifest): boolean {
  return (
    (manifest.mediaType === undefined || manifest.mediaType === MediaType.ociManifest) &&
    manifest.config.mediaType === MediaType.ociConfig &&
    manifest.layers.every((l) => toOciMediaType(l.mediaType) === l.mediaType)
  );
}

/** Serialises a manifest as Kiln writes it: OCI media types, stable key order, no whitespace. */
export function renderManifest(config: Descriptor, layers: Descriptor[], annotations?: Record<string, string>): string {
  const desc = (d: Descriptor, mediaType: string): Descriptor => ({
    mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.annotations ? { annotations: d.annotations } : {}),
  });
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: desc(config, MediaType.ociConfig),
    layers: layers.map((l) => desc(l, toOciMediaType(l.mediaType) ?? l.mediaType)),
    ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
  return JSON.stringify(doc);
}

/** The host's platform in OCI terms. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  const p: Platform = { os: 'linux', architecture: arch[process.arch] ?? process.arch };
  if (process.arch === 'arm64') p.variant = 'v8';
  return p;
}

/** Parses `os/arch[/variant]`. */
export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, extra] = text.split('/');
  if (!os || !architecture || extra !== undefined) {
    throw new KilnError(ErrorCode.USAGE, `invalid platform "${text}"`, { hint: 'use os/arch[/variant], e.g. linux/arm64 or linux/arm/v7' });
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** True when an index entry's platform matches the wanted one (variant only when both give it). */
export function platformMatches(have: Platform | undefined, want: Platform): boolean {
  if (!have) return false;
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  return !want.variant || !have.variant || have.variant === want.variant;
}
