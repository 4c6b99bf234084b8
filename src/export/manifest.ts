import { createHash } from 'node:crypto';
import { KilnError, ErrorCode } from '../core/index.ts';
import type { ArtifactRole, OsRelease } from './names.ts';
import type { InitramfsKind } from './ipxe.ts';

/** SquashFS and EROFS compressors `--compression` accepts. */
export type RootfsCompression = 'gzip' | 'xz' | 'zstd' | 'lzo' | 'lz4';

/** The values `--compression` accepts. */
export const COMPRESSIONS: readonly RootfsCompression[] = ['gzip', 'xz', 'zstd', 'lzo', 'lz4'];

/** Boot export formats of `kiln image export`. */
export const BOOT_FORMATS = ['squashfs', 'erofs', 'boot'] as const;

/** Parses a gzip level (`--compression-level`, `export_compression_level`): an integer 1-9; undefined stays undefined. */
export function parseCompressionLevel(value: unknown, what = '--compression-level'): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  if (Number.isInteger(n) && n >= 1 && n <= 9) return n;
  throw new KilnError(ErrorCode.USAGE, `invalid ${what} "${String(value)}"`, { hint: 'use a gzip level from 1 (fastest) to 9 (smallest); 6 is the default' });
}

/** Parses a `--<flag>` value that must be one of `values` (undefined stays undefined). */
export function parseChoice<T extends string>(values: readonly T[], value: unknown, flag: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && (values as readonly string[]).includes(value)) return value as T;
  throw new KilnError(ErrorCode.USAGE, `invalid --${flag} "${String(value)}"`, { hint: `use --${flag} ${values.join(', ')}` });
}

/** One artifact in manifest.json. */
export interface ManifestArtifact {
  role: ArtifactRole;
  /** Every name it was written under (keys relative to the bucket or directory). */
  names: string[];
  size: number;
  sha256: string;
  /** Where it came from in the image (kernel and initramfs). */
  source?: string;
}

/** The content of manifest.json. */
export interface BootManifest {
  schemaVersion: 1;
  image: string;
  digest: string;
  architecture: string;
  os: OsRelease;
  kernelVersion: string;
  initramfs: InitramfsKind;
  rootfs: { type: 'squashfs' | 'erofs'; compression: RootfsCompression };
  /** Where the artifacts are served, when known. */
  baseUrl: string | null;
  /** The kernel parameters with the base URL filled in; null when it is not known (no --base-url). */
  kernelParameters: string | null;
  /** The same with `${base-url}` (iPXE's variable in boot.ipxe) where the base URL goes: for a consumer that serves the artifacts elsewhere. */
  kernelParametersTemplate: string;
  artifacts: ManifestArtifact[];
}

/** Renders manifest.json (stable key order, two-space indent, final newline). */
export function renderManifest(manifest: BootManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** What decides the content of cached artifacts. */
export interface CacheKeyInput {
  manifestDigest: string;
  format: 'squashfs' | 'erofs' | 'boot';
  rootfs: 'squashfs' | 'erofs';
  compression: RootfsCompression;
  /** gzip level of Kiln's SquashFS writer (part of the key only where it decides the file: SquashFS with gzip). */
  compressionLevel?: number | undefined;
  kernelVersion: string | undefined;
}

/** Bump when the way artifacts are made changes, so that old cache entries are not reused. */
export const CACHE_VERSION = 1;

/** The cache directory name for one export: a hash of everything that decides its files. */
export function exportCacheKey(input: CacheKeyInput): string {
  const parts: unknown[] = [CACHE_VERSION, input.manifestDigest, input.format, input.rootfs, input.compression, input.kernelVersion ?? null];
  if (input.rootfs === 'squashfs' && input.compression === 'gzip') parts.push(input.compressionLevel ?? 9);
  const material = JSON.stringify(parts);
  return createHash('sha256').update(material).digest('hex').slice(0, 32);
}
