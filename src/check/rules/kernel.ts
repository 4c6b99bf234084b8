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
