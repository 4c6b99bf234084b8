import type { Readable } from 'node:stream';
import { readTreeFiles, type FileContent } from '../store/index.ts';
import type { Descriptor } from '../store/index.ts';
import { listInitramfs } from './initramfs.ts';
import { readEmbeddedConfig } from './kernel-config.ts';
import type { CheckInput, Finding, InitramfsListing, KernelConfig, Rule } from './types.ts';
import { LIMITS } from './view.ts';

/** Where file contents come from: a stored blob file (uncompressed layers) or a layer stream. */
export interface ContentSource {
  blobFile: (layer: Descriptor) => string;
  openLayer: (layer: Descriptor) => Readable;
}

const MAX_ROUNDS = 5;

/**
 * Runs rules over an image: asks every rule what it needs given what is known, loads just
 * that (in rounds: a boot script names its kernel, an sshd_config its includes), then
 * evaluates every rule. The only I/O of a check happens here.
 */
export async function runRules(base: Omit<CheckInput, 'files' | 'kernelConfigs' | 'initramfs'>, rules: readonly Rule[], source: ContentSource): Promise<Finding[]> {
  const files = new Map<string, FileContent>();
  const kernelConfigs = new Map<string, KernelConfig>();
  const initramfs = new Map<string, InitramfsListing>();
  const input: CheckInput = { ...base, files, kernelConfigs, initramfs };
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const limits = new Map<string, number>();
    const derived: Array<{ kind: 'kernel-config' | 'initramfs'; path: string }> = [];
    for (const need of rules.flatMap((r) => r.needs?.(input) ?? [])) {
      if (need.kind === 'file' && !files.has(need.path)) limits.set(need.path, Math.max(limits.get(need.path) ?? 0, need.limit));
      if (need.kind === 'kernel-config' && !kernelConfigs.has(need.path)) derived.push(need);
      if (need.kind === 'initramfs' && !initramfs.has(need.path)) derived.push(need);
    }
    if (limits.size === 0 && derived.length === 0) break;
    const requests = [...limits].map(([path, limit]) => ({ path, limit }));
    const big = [...new Map(derived.map((d) => [d.path, d.kind === 'kernel-config' ? LIMITS.kernel : LIMITS.initramfs]))].map(([path, limit]) => ({ path, limit }));
    const contents = await readTreeFiles(input.tree, requests, source);
    for (const [path] of limits) files.set(path, contents.get(path) ?? { ok: false, reason: 'not read' });
    // Kernels and initramfs images are read apart: only what is derived from them is kept.
    const bigContents = big.length > 0 ? await readTreeFiles(input.tree, big, source) : new Map<string, FileContent>();
    for (const d of derived) {
      const c = bigContents.get(d.path);
      if (d.kind === 'kernel-config') kernelConfigs.set(d.path, c?.ok ? await readEmbeddedConfig(c.data, c.truncated) : { ok: false, reason: c && !c.ok ? c.reason : 'not read' });
      else initramfs.set(d.path, c?.ok ? await listInitramfs(c.data, c.truncated) : { ok: false, reason: c && !c.ok ? c.reason : 'not read' });
    }
  }
  return rules.flatMap((r) => r.evaluate(input));
}
