import { findAppletNames, REQUIRED_APPLETS } from '../busybox.ts';
import { parseElf, type ElfInfo } from '../elf.ts';
import { NODE_MODELS, OCI_ARCHITECTURES } from '../models.ts';
import type { CheckInput, Finding, Rule } from '../types.ts';
import { findCommand, LIMITS, loaded, locateFile, needFile } from '../view.ts';

/** Commands WalT's boot procedure calls, binaries or busybox applets (seed 001, B.6), with the Debian package of each. */
export const REQUIRED_COMMANDS: Readonly<Record<string, string>> = {
  chmod: 'coreutils', chroot: 'coreutils', cp: 'coreutils', date: 'coreutils', echo: 'coreutils', grep: 'grep', head: 'coreutils',
  ln: 'coreutils', mkdir: 'coreutils', mount: 'mount', reboot: 'systemd-sysv', sed: 'sed', setsid: 'util-linux', sh: 'dash',
  timeout: 'coreutils', tr: 'coreutils', umount: 'mount',
};

const BUSYBOX = 'bin/busybox';
const INIT = 'sbin/init';

function elfOf(input: CheckInput, path: string): ElfInfo | undefined {
  const c = loaded(input, path);
  return c?.ok ? parseElf(c.data) : undefined;
}

/** The busybox applets, when /bin/busybox could be read and its table found. */
function applets(input: CheckInput): Set<string> | undefined {
  const c = loaded(input, BUSYBOX);
  if (!c?.ok) return undefined;
  const names = findAppletNames(c.data);
  return names ? new Set(names) : undefined;
}

/** /sbin/init exists, following symlinks inside the image (seed 001, B.5). */
export const init: Rule = {
  id: 'init',
  needs: () => [needFile(INIT, LIMITS.header)],
  evaluate: ({ tree }) => {
    const base = { id: 'init', requirement: 'init system at /sbin/init', mandatory: true } as const;
    const found = locateFile(tree, INIT);
    if (!found.ok) return [{ ...base, status: 'fail', found: found.reason, fix: 'install an init system (apt-get install systemd-sysv), or link /sbin/init to /bin/busybox' }];
    const link = found.path === INIT ? '' : ` → /${found.path}`;
    if ((found.entry.mode & 0o111) === 0) return [{ ...base, status: 'fail', found: `/sbin/init${link} is not executable`, fix: 'chmod +x it' }];
    return [{ ...base, status: 'pass', found: `/sbin/init${link}` }];
  },
};

/** /bin/busybox with the required applets, static or with an ldd (seed 001, B.6). */
export const busybox: Rule = {
  id: 'busybox',
  needs: () => [needFile(BUSYBOX, LIMITS.binary)],
  evaluate: (input) => {
    const fix = 'install busybox-static: apt-get install busybox-static';
    const found = locateFile(input.tree, BUSYBOX);
    const base = { requirement: 'busybox at /bin/busybox', mandatory: true } as const;
    if (!found.ok) return [{ id: 'busybox.present', ...base, status: 'fail', found: found.reason, fix }];
    const content = loaded(input, BUSYBOX);
    if (content?.ok && content.truncated) return [{ id: 'busybox.present', ...base, status: 'fail', found: `/${found.path} is larger than ${LIMITS.binary >> 20} MiB: not a busybox binary Kiln reads`, fix }];
    const elf = elfOf(input, BUSYBOX);
    if (!elf?.ok) return [{ id: 'busybox.present', ...base, status: 'fail', found: `/${found.path}: ${elf ? elf.reason : 'could not be read'}`, fix }];
    const findings: Finding[] = [{ id: 'busybox.present', ...base, status: 'pass', found: `/${found.path} (${elf.arch} ELF)` }];
    const names = applets(input);
    const appletReq = { id: 'busybox.applets', requirement: 'busybox applets', mandatory: true } as const;
    if (!names) findings.push({ ...appletReq, status: 'fail', found: 'no applet name table found in the binary (not busybox?)', fix });
    else {
      const missing = REQUIRED_APPLETS.filter((a) => !names.has(a));
      findings.push(missing.length > 0
        ? { ...appletReq, status: 'fail', found: `missing: ${missing.join(' ')} (${names.size} applets)`, fix: `${fix} (Debian's build has them all), or enable them in your busybox build` }
        : { ...appletReq, status: 'pass', found: `all ${REQUIRED_APPLETS.length} required, among ${names.size}` });
    }
    const linkReq = { id: 'busybox.static', requirement: 'busybox static, or an ldd', mandatory: true } as const;
    if (elf.interpreter === undefined) findings.push({ ...linkReq, status: 'pass', found: 'statically linked' });
    else {
      const ldd = findCommand(input.tree, 'ldd');
      findings.push(ldd
        ? { ...linkReq, status: 'pass', found: `dynamically linked (${elf.interpreter}); ldd at /${ldd.path}` }
        : { ...linkReq, status: 'fail', found: `dynamically linked (${elf.interpreter}) and no ldd in the image`, fix: `${fix}, or install ldd (apt-get install libc-bin)` });
    }
    return findings;
  },
};

/** The commands of seed 001 B.6 in the PATH directories, or as applets when /bin/sh is busybox. */
export const commands: Rule = {
  id: 'commands',
  needs: () => [needFile(BUSYBOX, LIMITS.binary)],
  evaluate: (input) => {
    const names = applets(input);
    const busyboxPath = locateFile(input.tree, BUSYBOX);
    const sh = locateFile(input.tree, 'bin/sh');
    const shIsBusybox = busyboxPath.ok && sh.ok && sh.path === busyboxPath.path;
    const missing: string[] = [];
    const viaApplet: string[] = [];
    for (const [command, pkg] of Object.entries(REQUIRED_COMMANDS)) {
      if (findCommand(input.tree, command)) continue;
      if (shIsBusybox && names?.has(command)) viaApplet.push(command);
      else missing.push(names?.has(command) ? `${command} (busybox has it: ln -s /bin/busybox /bin/${command})` : `${command} (apt-get install ${pkg})`);
    }
    const base = { id: 'commands', requirement: 'boot commands in PATH', mandatory: true } as const;
    const count = Object.keys(REQUIRED_COMMANDS).length;
    if (missing.length > 0) return [{ ...base, status: 'fail', found: `missing: ${missing.map((m) => m.split(' ')[0]).join(' ')}`, fix: missing.join('; ') }];
    const note = viaApplet.length > 0 ? ` (${viaApplet.join(' ')} as applets of busybox, which is /bin/sh)` : '';
    return [{ ...base, status: 'pass', found: `all ${count} found${note}` }];
  },
};

/** Per model: the ELF machine of /sbin/init and /bin/busybox is one the model's CPU runs. */
export const architecture: Rule = {
  id: 'arch',
  needs: () => [needFile(INIT, LIMITS.header), needFile(BUSYBOX, LIMITS.binary)],
  evaluate: (input) => {
    const binaries = [INIT, BUSYBOX].map((path) => ({ path, elf: elfOf(input, path) })).filter((b) => b.elf?.ok) as Array<{ path: string; elf: Extract<ElfInfo, { ok: true }> }>;
    const findings: Finding[] = [];
    const seen = [...new Set(binaries.map((b) => b.elf.arch))];
    for (const model of input.models) {
      const base = { id: 'arch', requirement: 'CPU architecture', model, mandatory: true } as const;
      const wanted = NODE_MODELS[model];
      if (!wanted) {
        findings.push({ ...base, status: 'info', found: `model not in Kiln's table; binaries are ${seen.join(', ') || 'unknown'}`, mandatory: false });
        continue;
      }
      if (binaries.length === 0) {
        findings.push({ ...base, status: 'warn', found: 'no ELF binary at /sbin/init or /bin/busybox to tell', fix: `the image must hold ${wanted.join(' or ')} binaries` });
        continue;
      }
      const wrong = binaries.filter((b) => !wanted.includes(b.elf.arch));
      findings.push(wrong.length > 0
        ? { ...base, status: 'fail', found: wrong.map((b) => `/${b.path} is ${b.elf.arch}`).join(', ') + `; ${model} runs ${wanted.join(' or ')}`, fix: `build the image for ${OCI_ARCHITECTURES[wanted[0] as string] ?? wanted[0]} (e.g. mmdebstrap --architectures=${wanted[0] === 'arm' ? 'armhf' : OCI_ARCHITECTURES[wanted[0] as string]})` }
        : { ...base, status: 'pass', found: `${seen.join(', ')} binaries` });
    }
    const platform = input.architecture;
    const matching = seen.map((a) => OCI_ARCHITECTURES[a]);
    if (seen.length > 0 && platform && !matching.includes(platform)) {
      findings.push({
        id: 'arch.platform', requirement: 'image platform matches its binaries', mandatory: false, status: 'warn',
        found: `the image config says ${platform}, the binaries are ${seen.join(', ')}`, fix: `re-import with --platform linux/${matching[0] ?? '<arch>'}`,
      });
    }
    return findings;
  },
};
