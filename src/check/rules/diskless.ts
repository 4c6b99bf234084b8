import type { CheckInput, Finding, Need, Rule } from '../types.ts';
import { isDirectory } from '../view.ts';
import { kernelVersion } from './kernel.ts';

const MAX_KERNELS = 4;

/** Kernels in /boot (Debian, EL and SUSE names) with the initramfs each distribution pairs with them. */
function kernels(input: CheckInput): Array<{ kernel: string; version: string; initramfs: string | undefined; candidates: string[] }> {
  const out = [];
  for (const entry of input.tree.children('boot')) {
    const name = entry.path.slice('boot/'.length);
    if (!/^(?:vmlinuz|vmlinux|Image|zImage|bzImage)-/.test(name) || entry.type === 'directory' || /\.(?:old|hmac|sig)$/.test(name)) continue;
    const version = kernelVersion(entry.path);
    if (!version) continue;
    const candidates = [`boot/initrd.img-${version}`, `boot/initramfs-${version}.img`, `boot/initrd-${version}`, `boot/initramfs-${version}`];
    out.push({ kernel: entry.path, version, initramfs: candidates.find((c) => input.tree.resolve(c).ok), candidates });
    if (out.length >= MAX_KERNELS) break;
  }
  return out;
}

/** Diskless boot applies when /boot holds a kernel but no /boot/<model>/ directory (the OpenCHAMI layout, seed 004). */
function applies(input: CheckInput): boolean {
  return !input.models.some((m) => isDirectory(input.tree, `boot/${m}`)) && kernels(input).length > 0;
}

/** How an initramfs can mount a SquashFS root fetched over the network, from its member names. */
export function liveBootSupport(names: ReadonlySet<string>): { status: 'pass' | 'warn' | 'fail'; found: string } {
  const has = (re: RegExp): boolean => [...names].some((n) => re.test(n));
  const dmsquash = has(/(?:^|\/)(?:dmsquash-live-root(?:\.sh)?|parse-dmsquash-live\.sh)$/);
  const livenet = has(/(?:^|\/)(?:livenetroot(?:\.sh)?|parse-livenet\.sh)$/);
  const liveBoot = names.has('scripts/live') && has(/^(?:usr\/)?lib\/live\/boot\//);
  const squashfs = has(/(?:^|\/)squashfs\.ko(?:\.[a-z]+)?$/) ? ', squashfs module' : '';
  if (dmsquash && livenet) return { status: 'pass', found: `dracut dmsquash-live + livenet${squashfs}` };
  if (liveBoot) return { status: 'pass', found: `Debian live-boot (boot=live fetch=<url>)${squashfs}` };
  if (dmsquash) return { status: 'warn', found: 'dracut dmsquash-live without livenet: a local SquashFS only, not one fetched over the network' };
  return { status: 'fail', found: 'no dracut dmsquash-live/livenet and no Debian live-boot scripts' };
}

/** Diskless/live boot: each kernel has its initramfs, and the initramfs can mount a network SquashFS root. */
export const diskless: Rule = {
  id: 'diskless',
  needs: (input) => (applies(input) ? kernels(input).flatMap((k): Need[] => (k.initramfs ? [{ kind: 'initramfs', path: k.initramfs }] : [])) : []),
  evaluate: (input) => {
    if (!applies(input)) return [];
    const findings: Finding[] = [];
    for (const k of kernels(input)) {
      const base = { requirement: `diskless boot: /${k.kernel}`, mandatory: true } as const;
      if (!k.initramfs) {
        findings.push({ id: 'diskless.initramfs', ...base, status: 'fail', found: `no initramfs (looked for ${k.candidates.map((c) => `/${c}`).join(', ')})`, fix: `Debian: update-initramfs -c -k ${k.version}; EL/SUSE: dracut --kver ${k.version}` });
        continue;
      }
      findings.push({ id: 'diskless.initramfs', ...base, status: 'pass', found: `initramfs /${k.initramfs}` });
      const listing = input.initramfs.get(k.initramfs);
      if (!listing?.ok) {
        findings.push({ id: 'diskless.live', ...base, status: 'warn', found: `cannot list /${k.initramfs}: ${listing ? listing.reason : 'not read'}` });
        continue;
      }
      const live = liveBootSupport(listing.names);
      findings.push({
        id: 'diskless.live', ...base, status: live.status, found: `${live.found} (${listing.layout}, ${listing.names.size} entries)`,
        ...(live.status === 'pass' ? {} : { fix: 'EL: dracut --add "dmsquash-live livenet" --kver <version> -f; Debian: apt-get install live-boot (then update-initramfs -u)' }),
      });
    }
    return findings;
  },
};
