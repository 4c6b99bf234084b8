/** What an ELF header says about a binary: its machine, and whether it needs a dynamic loader. */
export type ElfInfo =
  | { ok: true; bits: 32 | 64; littleEndian: boolean; machine: number; arch: string; interpreter: string | undefined }
  | { ok: false; reason: string };

/** ELF e_machine values Kiln names (System V gABI), as the architecture names of the node table. */
export const ELF_MACHINES: Readonly<Record<number, string>> = {
  3: 'i386', 8: 'mips', 20: 'ppc', 21: 'ppc64', 22: 's390x', 40: 'arm', 62: 'x86-64', 183: 'aarch64', 243: 'riscv64', 258: 'loongarch64',
};

const PT_INTERP = 3;
const MAX_PHDRS = 4096;

/**
 * Reads the ELF identification, machine and program headers from the start of a file
 * (pure; a truncated or malformed header is a reason, never an exception).
 */
export function parseElf(data: Buffer): ElfInfo {
  if (data.length < 52 || data.readUInt32BE(0) !== 0x7f454c46) return { ok: false, reason: 'not an ELF binary' };
  const cls = data[4];
  const enc = data[5];
  if ((cls !== 1 && cls !== 2) || (enc !== 1 && enc !== 2)) return { ok: false, reason: 'malformed ELF header (class or byte order)' };
  const bits = cls === 1 ? 32 : 64;
  const le = enc === 1;
  const u16 = (o: number): number => (le ? data.readUInt16LE(o) : data.readUInt16BE(o));
  const u32 = (o: number): number => (le ? data.readUInt32LE(o) : data.readUInt32BE(o));
  const addr = (o: number): number => (bits === 32 ? u32(o) : Number(le ? data.readBigUInt64LE(o) : data.readBigUInt64BE(o)));
  if (bits === 64 && data.length < 64) return { ok: false, reason: 'truncated ELF header' };
  const machine = u16(18);
  const arch = ELF_MACHINES[machine] ?? `machine ${machine}`;
  const phoff = addr(bits === 32 ? 28 : 32);
  const phentsize = u16(bits === 32 ? 42 : 54);
  const phnum = u16(bits === 32 ? 44 : 56);
  let interpreter: string | undefined;
  if (phnum > MAX_PHDRS || (phnum > 0 && phentsize < (bits === 32 ? 32 : 56))) return { ok: false, reason: 'malformed ELF program headers' };
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + phentsize > data.length) return { ok: false, reason: 'ELF program headers lie beyond the bytes read (truncated file?)' };
    if (u32(at) !== PT_INTERP) continue;
    const offset = addr(bits === 32 ? at + 4 : at + 8);
    const size = addr(bits === 32 ? at + 16 : at + 32);
    const end = Math.min(offset + size, data.length);
    interpreter = offset < data.length && size < 4096 ? data.subarray(offset, end).toString('latin1').replace(/\0.*$/s, '') : '(unreadable)';
  }
  return { ok: true, bits, littleEndian: le, machine, arch, interpreter };
}
