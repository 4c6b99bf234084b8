import type { ImageTree } from '../../store/index.ts';
import { KERNEL_OPTIONS, OPTIONAL_WITH_INITRD } from '../kconfig.ts';
import type { Finding, KernelConfig } from '../types.ts';

const KERNEL_NAME = /^(?:vmlinuz|vmlinux|zImage|bzImage|Image|uImage|kernel|linux)[-_](.+?)$/;

/** The version a kernel file name carries (vmlinuz-6.1.0-18-amd64 → 6.1.0-18-amd64). */
export function kernelVersion(path: string): string | undefined {
  return KERNEL_NAME.exec(path.slice(path.lastIndexOf('/') + 1))?.[1];
}

/** Where a kernel's configuration can come from: its /boot/config-<version>, else the kernel itself (and a lone config file as a guess). */
export function configSources(tree: ImageTree, kernelPath: string): { file?: string; guess?: string } {
  const version = kernelVersion(kernelPath);
  const dir = kernelPath.includes('/') ? kernelPath.slice(0, kernelPath.lastIndexOf('/')) : '';
  for (const candidate of version ? [`boot/config-${version}`, `${dir}/config-${version}`] : []) {
    if (tree.get(candidate)?.type === 'file') return { file: candidate };
  }
  const configs = tree.children('boot').filter((e) => /^boot\/config-/.test(e.path) && e.type === 'file');
  return configs.length === 1 ? { guess: (configs[0] as { path: string }).path } : {};
}

/** The kernel.options finding: the seed's options, =y, or with an initrd =m (and ROOT_NFS, IP_PNP* may be absent). */
export function kernelOptionsFinding(config: KernelConfig | undefined, initrd: boolean, model: string | undefined, kernel: string): Finding {
  const base = { id: 'kernel.options', requirement: 'kernel options (overlayfs, NFS root, IP autoconfiguration)', mandatory: true, ...(model ? { model } : {}) } as const;
  if (!config || !config.ok) {
    return {
      ...base, status: 'warn',
      found: `unknown for /${kernel}: ${config ? config.reason : 'no configuration found'}`,
      fix: `ship the kernel's configuration as /boot/config-<version> (Debian kernels do), or build it with CONFIG_IKCONFIG=y; then check ${KERNEL_OPTIONS.join(', ')}`,
    };
  }
  const bad: string[] = [];
  const notes: string[] = [];
  for (const option of KERNEL_OPTIONS) {
    const value = config.options.get(option) ?? 'n';
    if (value === 'y') continue;
    if (initrd && value === 'm' && !OPTIONAL_WITH_INITRD.has(option)) notes.push(`${option}=m`);
    else if (initrd && OPTIONAL_WITH_INITRD.has(option)) notes.push(`${option}=${value === 'n' ? 'not set' : value}`);
    else bad.push(`${option}=${value === 'n' ? 'not set' : value}`);
  }
  const from = `from ${config.source}`;
  if (bad.length > 0) {
    return {
      ...base, status: 'fail', found: `${bad.join(', ')} ${from}${initrd ? ' (an initrd is used)' : ' (no initrd: all must be =y)'}`,
      fix: initrd ? `rebuild the kernel with ${bad.map((b) => b.split('=')[0]).join(', ')} =y or =m` : `rebuild the kernel with ${bad.map((b) => b.split('=')[0]).join(', ')}=y, or boot with an initrd that sets up the NFS root`,
    };
  }
  const relaxed = notes.length > 0 ? `; allowed with an initrd: ${notes.join(', ')}` : '';
  return { ...base, status: 'pass', found: `${notes.length > 0 ? 'required options present' : 'all =y'}, ${from}${relaxed}` };
}

/**
 * Network card drivers a model's nodes need, by kernel option: a node whose kernel has none
 * waits for a network card forever (seed 001: "include the device driver for your network
 * card, for instance CONFIG_IGB=y"). PCs: the common Intel, Realtek and Broadcom cards.
 */
const PC_NICS = ['CONFIG_E1000', 'CONFIG_E1000E', 'CONFIG_IGB', 'CONFIG_IGC', 'CONFIG_IXGBE', 'CONFIG_R8169', 'CONFIG_TG3', 'CONFIG_BNX2', 'CONFIG_BNXT'];
const MODEL_NICS: Readonly<Record<string, readonly string[]>> = {
  'pc-x86-64': PC_NICS,
  'pc-x86-32': PC_NICS,
  'rpi-b': ['CONFIG_USB_NET_SMSC95XX'],
  'rpi-b-plus': ['CONFIG_USB_NET_SMSC95XX'],
  'rpi-2-b': ['CONFIG_USB_NET_SMSC95XX'],
  'rpi-3-b': ['CONFIG_USB_NET_SMSC95XX'],
  'rpi-3-b-plus': ['CONFIG_USB_LAN78XX'],
  'rpi-4-b': ['CONFIG_BCMGENET'],
  'rpi-400': ['CONFIG_BCMGENET'],
  'rpi-5-b': ['CONFIG_MACB'],
  'qemu-arm-32': ['CONFIG_VIRTIO_NET'],
  'qemu-arm-64': ['CONFIG_VIRTIO_NET'],
};

/** The kernel.network finding: the kernel has a driver for the network card of the model's nodes (warns; undefined for models Kiln has no list for). */
export function networkDriverFinding(config: Extract<KernelConfig, { ok: true }>, model: string, initrd: boolean): Finding | undefined {
  const wanted = MODEL_NICS[model];
  if (!wanted) return undefined;
  const base = { id: 'kernel.network', requirement: 'a driver for the network card of the node', mandatory: false, model } as const;
  const value = (o: string): string => config.options.get(o) ?? 'n';
  const builtIn = wanted.filter((o) => value(o) === 'y');
  const modules = wanted.filter((o) => value(o) === 'm');
  const usable = initrd ? [...builtIn, ...modules] : builtIn;
  const name = (o: string): string => o.slice('CONFIG_'.length);
  if (usable.length > 0) {
    return { ...base, status: 'pass', found: `${[...builtIn.map((o) => `${name(o)}=y`), ...(initrd ? modules.map((o) => `${name(o)}=m`) : [])].join(', ')} from ${config.source}` };
  }
  const others = [...config.options].filter(([o, v]) => (v === 'y' || v === 'm') && /^CONFIG_(?:VIRTIO_NET|ENA_ETHERNET|VMXNET3|HYPERV_NET|XEN_NETDEV_FRONTEND)$/.test(o)).map(([o, v]) => `${name(o)}=${v}`);
  const seen = modules.length > 0 ? `${modules.map((o) => `${name(o)}=m`).join(', ')} but no initrd to load them` : `none of ${wanted.map(name).join(', ')}`;
  return {
    ...base, status: 'warn',
    found: `${seen} in ${config.source}${others.length > 0 ? ` (only virtual cards: ${others.join(', ')})` : ''}: a ${model} node may wait for its network card forever`,
    fix: model.startsWith('pc-') ? 'use a kernel with PC network drivers (Debian: linux-image-amd64, not linux-image-cloud-amd64), or build it with CONFIG_IGB=y / CONFIG_E1000E=y for your card' : `build the kernel with ${wanted.map((o) => `${o}=y`).join(' or ')}`,
  };
}
