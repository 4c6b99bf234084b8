import { isAbsolute } from 'node:path';
import type { Node } from 'yaml';
import { isScalar, isSeq } from './yaml.ts';

/**
 * Reads kiln.yaml's `allow_host_paths:`: the host directories `kiln image build` may copy
 * files from besides each spec's own directory (copyfiles). Each is an absolute path.
 */
export function parseHostPaths(node: Node | null, fail: (node: unknown, message: string) => never): string[] {
  if (node === null || (isScalar(node) && node.value === null)) return [];
  if (!isSeq(node)) return fail(node, 'allow_host_paths must be a list of directories');
  return node.items.map((item) => {
    if (!isScalar(item) || typeof item.value !== 'string') return fail(item, 'each allow_host_paths entry must be a string');
    if (!isAbsolute(item.value)) return fail(item, `allow_host_paths entry "${item.value}" must be an absolute path`);
    return item.value;
  });
}
