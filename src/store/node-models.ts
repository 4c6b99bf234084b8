/** WalT's node-image vocabulary (seeds 000-003): labels, server versions, node models and their CPUs. */
/** The highest WalT server version whose image requirements Kiln knows (walt.server.minversion above it fails). */
export const MAX_SERVER_VERSION = 10;

/** walt.server.minversion when the label is absent (seed 001, B.2). */
export const DEFAULT_SERVER_VERSION = 4;

/** Image labels the seeds define. */
export const LABELS = { models: 'walt.node.models', minVersion: 'walt.server.minversion', preferredName: 'walt.image.preferred-name' } as const;

/**
 * Node models Kiln knows, and the CPU architectures (ELF machine names) their boards run.
 * The first architecture is the board's native one; a 64-bit board also runs 32-bit code.
 */
export const NODE_MODELS: Readonly<Record<string, readonly string[]>> = {
  'rpi-b': ['arm'],
  'rpi-b-plus': ['arm'],
  'rpi-2-b': ['arm'],
  'rpi-3-b': ['aarch64', 'arm'],
  'rpi-3-b-plus': ['aarch64', 'arm'],
  'rpi-4-b': ['aarch64', 'arm'],
  'rpi-400': ['aarch64', 'arm'],
  'rpi-5-b': ['aarch64', 'arm'],
  'pc-x86-32': ['i386'],
  'pc-x86-64': ['x86-64', 'i386'],
  'qemu-arm-32': ['arm'],
  'qemu-arm-64': ['aarch64', 'arm'],
};

/** The OCI platform architecture matching each ELF machine name. */
export const OCI_ARCHITECTURES: Readonly<Record<string, string>> = {
  'x86-64': 'amd64', i386: '386', arm: 'arm', aarch64: 'arm64', riscv64: 'riscv64', ppc64: 'ppc64le', s390x: 's390x', mips: 'mips', loongarch64: 'loong64',
};

/** The OCI architectures a node model runs, native first; undefined for a model Kiln does not know. */
export function modelOciArchitectures(model: string): string[] | undefined {
  return NODE_MODELS[model]?.map((elf) => OCI_ARCHITECTURES[elf] ?? elf);
}

/** The node models named by walt.node.models ("rpi-b,rpi-b-plus"), trimmed, empty items dropped. */
export function labelModels(labels: Readonly<Record<string, string>>): string[] {
  return (labels[LABELS.models] ?? '').split(',').map((m) => m.trim()).filter(Boolean);
}
