import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex, isErrno, type Digest } from '../core/index.ts';

async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
}

/**
 * Cleans the boot cache for `kiln store gc`: files extracted from compressed layers
 * (`files/<layer>-<offset>`) of layers no image has, and boot artifacts
 * (`artifacts/<manifest>/`) of manifests gone. A running `kiln serve` extracts or exports
 * again what it needs. Returns how many entries went.
 */
export async function pruneBootCache(dir: string, layers: ReadonlySet<Digest>, manifests: ReadonlySet<Digest>): Promise<number> {
  const layerHex = new Set([...layers].map(digestHex));
  const manifestHex = new Set([...manifests].map(digestHex));
  let removed = 0;
  for (const name of await names(join(dir, 'files'))) {
    if (layerHex.has(name.split('-')[0] ?? '')) continue;
    await rm(join(dir, 'files', name), { recursive: true, force: true });
    removed++;
  }
  for (const name of await names(join(dir, 'artifacts'))) {
    if (manifestHex.has(name)) continue;
    await rm(join(dir, 'artifacts', name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}
