import { decompress } from './decompress.ts';
import { findIkconfig, findPayloads, looksLikeKernelConfig, parseKernelConfig } from './kconfig.ts';
import type { KernelConfig } from './types.ts';

const DECOMPRESSED_LIMIT = 256 << 20;
/** A decompressed payload this big is the kernel itself, not a false match of magic bytes. */
const REAL_PAYLOAD = 1 << 20;

function fromText(text: string, source: string): KernelConfig {
  const options = parseKernelConfig(text);
  return looksLikeKernelConfig(options) ? { ok: true, options, source } : { ok: false, reason: `${source} holds no CONFIG_ lines` };
}

/**
 * Reads the configuration a kernel image embeds (CONFIG_IKCONFIG), looking in the image
 * itself and in its compressed payload (gzip, xz, zstd, lz4 or bzip2, found by magic bytes).
 */
export async function readEmbeddedConfig(image: Buffer, truncated: boolean): Promise<KernelConfig> {
  const direct = findIkconfig(image);
  if (typeof direct === 'string') return fromText(direct, 'the kernel image (IKCONFIG)');
  // A marker seen in the raw image may sit in the literals of a compressed payload: look inside first.
  const problems: string[] = direct ? [direct.error] : [];
  for (const payload of findPayloads(image)) {
    const out = await decompress(payload.compression, image.subarray(payload.offset), DECOMPRESSED_LIMIT);
    const found = findIkconfig(out.data);
    if (typeof found === 'string') return fromText(found, `the ${payload.compression}-compressed kernel image (IKCONFIG)`);
    if (found) return { ok: false, reason: found.error };
    if (out.data.length >= REAL_PAYLOAD) {
      return { ok: false, reason: `the kernel (${payload.compression}-compressed) does not embed its configuration (built without CONFIG_IKCONFIG)` };
    }
    if (out.stopped && /not found|install/.test(out.stopped)) problems.push(`could not decompress the kernel: ${out.stopped}`);
  }
  if (problems.length > 0) return { ok: false, reason: problems[0] as string };
  return {
    ok: false,
    reason: truncated ? 'the kernel image is too large to read whole' : 'the kernel image has no embedded configuration and no compressed payload Kiln recognises',
  };
}
