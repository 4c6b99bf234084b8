import { KilnError, ErrorCode } from '../core/index.ts';

/** How to emulate one node model: the qemu binary, its machine and the NIC whose option ROM network-boots. */
export interface VmProfile {
  model: string;
  qemu: string;
  /** The Debian package that ships `qemu`. */
  qemuPackage: string;
  machine: string[];
  nic: string;
  memoryMiB: number;
}

/**
 * The models Kiln can boot in a VM. A PC's firmware network-boots with the iPXE ROM of the
 * emulated NIC (Debian's ipxe-qemu), as a real PC's PXE firmware chains to iPXE.
 */
const PROFILES: Readonly<Record<string, VmProfile>> = {
  'pc-x86-64': {
    model: 'pc-x86-64', qemu: 'qemu-system-x86_64', qemuPackage: 'qemu-system-x86',
    // live-boot holds the SquashFS in RAM.
    machine: ['-machine', 'pc'], nic: 'e1000', memoryMiB: 1024,
  },
};

/** The VM for a model; UNSUPPORTED, saying why, for models Kiln cannot emulate. */
export function vmProfileFor(model: string): VmProfile {
  const profile = PROFILES[model];
  if (profile) return profile;
  if (model.startsWith('rpi-')) {
    throw new KilnError(ErrorCode.UNSUPPORTED, `cannot boot-test model ${model}: qemu does not emulate a Raspberry Pi's network boot (its firmware and VideoCore boot ROM)`, {
      hint: `boot-test a model Kiln can emulate (${Object.keys(PROFILES).join(', ')}), or boot a real ${model} with kiln serve`,
    });
  }
  throw new KilnError(ErrorCode.UNSUPPORTED, `cannot boot-test model ${model}: Kiln has no VM for it`, {
    hint: `models Kiln can boot in a VM: ${Object.keys(PROFILES).join(', ')} (--model)`,
  });
}

/** qemu's accelerator: KVM when /dev/kvm can be opened, else TCG (emulation, several times slower). */
export function acceleratorFor(kvmUsable: boolean): 'kvm' | 'tcg' {
  return kvmUsable ? 'kvm' : 'tcg';
}

/** A random locally administered, unicast MAC (first octet x2, x6, xA or xE). */
export function randomMac(bytes: Uint8Array): string {
  const b = [...bytes.subarray(0, 6)];
  b[0] = ((b[0] ?? 0) & 0xfc) | 0x02;
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}
