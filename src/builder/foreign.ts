import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError, ErrorCode, isErrno } from '../core/index.ts';
import { hostPlatform, type Platform } from '../store/index.ts';

/** A platform Kiln can build for: its Debian architecture (mmdebstrap --arch) and qemu-user name (binfmt_misc entry qemu-<name>). */
export interface BuildArch {
  platform: Platform;
  debian: string;
  qemu: string;
}

/** OCI architecture[/variant] → Debian and qemu names. 32-bit ARM is armhf (v7) only: armel's v5 is not a variant the cache key tells apart. */
const ARCHES: Record<string, { debian: string; qemu: string; variant?: string }> = {
  amd64: { debian: 'amd64', qemu: 'x86_64' },
  arm64: { debian: 'arm64', qemu: 'aarch64' },
  'arm64/v8': { debian: 'arm64', qemu: 'aarch64', variant: 'v8' },
  arm: { debian: 'armhf', qemu: 'arm', variant: 'v7' },
  'arm/v7': { debian: 'armhf', qemu: 'arm', variant: 'v7' },
  '386': { debian: 'i386', qemu: 'i386' },
  ppc64le: { debian: 'ppc64el', qemu: 'ppc64le' },
  s390x: { debian: 's390x', qemu: 's390x' },
  riscv64: { debian: 'riscv64', qemu: 'riscv64' },
  mips64le: { debian: 'mips64el', qemu: 'mips64el' },
};

/** The binfmt_misc mount point of Linux. */
export const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';

const PACKAGES = 'qemu-user-static binfmt-support';

/** The build architecture of a platform (linux/arm becomes linux/arm/v7); UNSUPPORTED for others. */
export function buildArch(platform: Platform): BuildArch {
  const key = platform.variant ? `${platform.architecture}/${platform.variant}` : platform.architecture;
  const found = ARCHES[key];
  if (platform.os !== 'linux' || !found) {
    const known = Object.keys(ARCHES).map((k) => `linux/${k}`).join(', ');
    throw new KilnError(ErrorCode.UNSUPPORTED, `platform "${platform.os}/${key}" cannot be built by this version of kiln`, { hint: `use one of ${known}` });
  }
  const normal: Platform = { os: 'linux', architecture: platform.architecture, ...(found.variant ? { variant: found.variant } : {}) };
  return { platform: normal, debian: found.debian, qemu: found.qemu };
}

/** The Debian architecture of an OCI architecture name (what mmdebstrap --arch takes). */
export function debianArch(architecture: string): string {
  return buildArch({ os: 'linux', architecture }).debian;
}

/** True when binaries of `platform` do not run natively on `host`. */
export function isForeign(platform: Platform, host: Platform = hostPlatform()): boolean {
  return platform.architecture !== host.architecture;
}

/**
 * Checks, before a foreign step runs, that binfmt_misc has an enabled qemu-user entry
 * for the platform with the F (fix-binary) flag: the kernel then opens the interpreter
 * when it is registered, so it works inside the sandbox, whose root does not hold it.
 * Kiln does not register interpreters itself (that changes the host for every
 * process); the error says how.
 */
export async function checkForeignArch(platform: Platform, options: { dir?: string; host?: Platform } = {}): Promise<void> {
  const host = options.host ?? hostPlatform();
  if (!isForeign(platform, host)) return;
  const dir = options.dir ?? BINFMT_DIR;
  const arch = buildArch(platform);
  const name = `qemu-${arch.qemu}`;
  const target = `${arch.platform.os}/${arch.platform.architecture}${arch.platform.variant ? `/${arch.platform.variant}` : ''}`;
  const what = `cannot build for ${target} on this ${host.os}/${host.architecture} server`;
  let text: string;
  try {
    text = await readFile(join(dir, name), 'utf8');
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    if (!existsSync(join(dir, 'register'))) {
      throw new KilnError(ErrorCode.TOOL_MISSING, `${what}: binfmt_misc is not mounted at ${dir}`, {
        hint: `mount it (mount -t binfmt_misc binfmt_misc ${dir}), install ${PACKAGES} (apt-get install ${PACKAGES}), then run: update-binfmts --enable ${name}`,
      });
    }
    throw new KilnError(ErrorCode.TOOL_MISSING, `${what}: no qemu-user interpreter is registered for it (${join(dir, name)} is missing)`, {
      hint: `install ${PACKAGES} (apt-get install ${PACKAGES}), then run: update-binfmts --enable ${name}`,
    });
  }
  const lines = text.split('\n');
  if (lines[0]?.trim() !== 'enabled') {
    throw new KilnError(ErrorCode.TOOL_MISSING, `${what}: the binfmt_misc entry ${name} is disabled`, { hint: `run: update-binfmts --enable ${name}` });
  }
  const flags = lines.find((l) => l.startsWith('flags:'))?.slice(6).trim() ?? '';
  if (!flags.includes('F')) {
    throw new KilnError(ErrorCode.TOOL_MISSING, `${what}: the binfmt_misc entry ${name} lacks the F (fix-binary) flag, so its interpreter cannot be found inside the build sandbox`, {
      hint: `register the static interpreter of ${PACKAGES.split(' ')[0]} instead: update-binfmts --disable ${name}; apt-get install --reinstall ${PACKAGES}; update-binfmts --enable ${name}`,
    });
  }
}
