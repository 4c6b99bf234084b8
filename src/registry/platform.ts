import { KilnError, ErrorCode } from '../core/index.ts';
import {
  hostPlatform, labelModels, modelOciArchitectures, platformMatches, type Descriptor, type ImageIndex, type Platform,
} from '../store/index.ts';

function show(p: Platform | undefined): string {
  return p ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : '(no platform)';
}

/** Index entries that are images for a platform (not attestations, which say unknown/unknown). */
export function platformEntries(index: ImageIndex): Descriptor[] {
  return index.manifests.filter((m) => m.platform && m.platform.os !== 'unknown' && m.platform.architecture !== 'unknown');
}

/**
 * Chooses the entry of a multi-platform index: the `wanted` platform when given; else
 * the one whose architecture runs the node models its own labels list (`labelsOf`);
 * else the host's platform.
 */
export async function choosePlatform(
  index: ImageIndex,
  wanted: Platform | undefined,
  labelsOf: (entry: Descriptor) => Promise<Record<string, string>>,
  what: string,
): Promise<Descriptor> {
  const entries = platformEntries(index);
  const list = entries.map((e) => show(e.platform)).join(', ') || 'none';
  if (wanted) {
    const found = entries.find((e) => platformMatches(e.platform, wanted));
    if (found) return found;
    throw new KilnError(ErrorCode.NOT_FOUND, `${what} has no image for ${show(wanted)}`, { hint: `its platforms: ${list}` });
  }
  if (entries.length === 1) return entries[0] as Descriptor;
  if (entries.length === 0 && index.manifests.length === 1) return index.manifests[0] as Descriptor;
  for (const entry of entries.slice(0, 16)) {
    const models = labelModels(await labelsOf(entry));
    const archs = new Set(models.flatMap((m) => modelOciArchitectures(m) ?? []));
    if (entry.platform && archs.has(entry.platform.architecture)) return entry;
  }
  const host = entries.find((e) => platformMatches(e.platform, hostPlatform()));
  if (host) return host;
  throw new KilnError(ErrorCode.AMBIGUOUS, `${what} is a multi-platform image without one for this host (${show(hostPlatform())})`, {
    hint: `choose one with --platform; its platforms: ${list}`,
  });
}
