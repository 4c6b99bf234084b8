import { KilnError, ErrorCode } from '../core/index.ts';

/** Where boot artifacts go: a local directory, or a bucket and key prefix on S3. */
export type Destination = { kind: 'dir'; path: string } | { kind: 's3'; bucket: string; prefix: string };

/** Which object names are written (see the README, "Boot artifacts"). */
export type Layout = 'openchami' | 'kiln' | 'both';

/** The layouts `--layout` accepts. */
export const LAYOUTS: readonly Layout[] = ['both', 'kiln', 'openchami'];

/** What each artifact is. */
export type ArtifactRole = 'rootfs' | 'kernel' | 'initramfs' | 'manifest' | 'ipxe';

/** The fields of /etc/os-release the OpenCHAMI names use. */
export interface OsRelease {
  id: string;
  versionId: string;
}

/** Parses `s3://bucket/prefix` or a directory path. The prefix is used as given (end it with "/" for a folder). */
export function parseDestination(dest: string): Destination {
  if (!dest.startsWith('s3://')) return { kind: 'dir', path: dest };
  const rest = dest.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1);
  // Bucket naming rules: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new KilnError(ErrorCode.USAGE, `invalid S3 destination "${dest}": "${bucket}" is not a bucket name`, {
      hint: 'write s3://<bucket>/<prefix>, e.g. s3://boot-images/compute/base/',
    });
  }
  if (prefix.startsWith('/') || prefix.split('/').some((p) => p === '..' || p === '.')) {
    throw new KilnError(ErrorCode.USAGE, `invalid S3 prefix "${prefix}"`, { hint: 'a prefix is a key path like compute/base/, without "." or ".." parts' });
  }
  return { kind: 's3', bucket, prefix };
}

/** Parses `--layout`. */
export function parseLayout(value: string | undefined): Layout {
  if (value === undefined) return 'both';
  if ((LAYOUTS as readonly string[]).includes(value)) return value as Layout;
  throw new KilnError(ErrorCode.USAGE, `unknown layout "${value}"`, { hint: `use --layout ${LAYOUTS.join(', ')}` });
}

function unquote(value: string): string {
  const v = value.trim();
  return v.length >= 2 && (v[0] === '"' || v[0] === '\'') && v.at(-1) === v[0] ? v.slice(1, -1) : v;
}

/** Reads ID and VERSION_ID from os-release text (quotes stripped, lower-cased; missing fields are ""). */
export function parseOsRelease(text: string): OsRelease {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) fields.set(m[1] as string, unquote(m[2] as string));
  }
  return { id: (fields.get('ID') ?? '').toLowerCase(), versionId: (fields.get('VERSION_ID') ?? '').toLowerCase() };
}

/** The architecture part of Kiln's names: the OCI architecture, with the variant for 32-bit arm. */
export function archName(platform: { architecture: string; variant?: string | undefined }): string {
  return platform.architecture === 'arm' && platform.variant ? `arm${platform.variant}` : platform.architecture;
}

/** What the names of one export are made from. */
export interface NameInput {
  prefix: string;
  name: string;
  tag: string;
  arch: string;
  os: OsRelease;
  rootfsType: 'squashfs' | 'erofs';
  /** File names in the image's /boot (OpenCHAMI names keep them). */
  kernelFile?: string;
  initramfsFile?: string;
}

/** The object names (keys relative to the bucket or the directory) of each artifact, per layout. */
export function artifactNames(layout: Layout, input: NameInput): Record<ArtifactRole, string[]> {
  const { prefix, name, tag } = input;
  const names: Record<ArtifactRole, string[]> = { rootfs: [], kernel: [], initramfs: [], manifest: [], ipxe: [] };
  const kilnDir = `${prefix}${name}/${tag}/${input.arch}/`;
  if (layout !== 'kiln') {
    // Seed 004: <s3_prefix><ID><VERSION_ID>-<name>-<tag>, and efi-images/<s3_prefix><file in /boot>.
    const rootfs = `${prefix}${input.os.id}${input.os.versionId}-${name}-${tag}`;
    names.rootfs.push(rootfs);
    if (input.kernelFile) names.kernel.push(`efi-images/${prefix}${input.kernelFile}`);
    if (input.initramfsFile) names.initramfs.push(`efi-images/${prefix}${input.initramfsFile}`);
    if (layout === 'openchami') {
      names.manifest.push(`${rootfs}.manifest.json`);
      names.ipxe.push(`${rootfs}.ipxe`);
    }
  }
  if (layout !== 'openchami') {
    names.rootfs.unshift(`${kilnDir}rootfs.${input.rootfsType}`);
    if (input.kernelFile) names.kernel.unshift(`${kilnDir}vmlinuz`);
    if (input.initramfsFile) names.initramfs.unshift(`${kilnDir}initramfs.img`);
    names.manifest.push(`${kilnDir}manifest.json`);
    names.ipxe.push(`${kilnDir}boot.ipxe`);
  }
  return names;
}
