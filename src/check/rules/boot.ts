import { parseBootScript, type BootScript } from '../boot-script.ts';
import type { ImageTree } from '../../store/index.ts';
import type { CheckInput, Finding, KernelConfig, Need, Rule } from '../types.ts';
import { isDirectory, locateFile, loaded, needFile, type Located } from '../view.ts';
import { configSources, kernelOptionsFinding, networkDriverFinding } from './kernel.ts';
import { parseKernelConfig } from '../kconfig.ts';

const SCRIPTS = [['start.uboot', 'u-boot'], ['start.ipxe', 'ipxe']] as const;
const MAX_WALK = 2000;

/** What /boot/<model>/ holds for one model: its directory, scripts, and the kernel the scripts load. */
interface ModelBoot {
  dir: string | undefined;
  scripts: Array<{ name: string; path: string; parsed: BootScript | undefined }>;
  kernel: Located | undefined;
  initrd: boolean;
}

function modelBoot(input: CheckInput, model: string): ModelBoot {
  const { tree } = input;
  const r = tree.resolve(`boot/${model}`);
  const dir = isDirectory(tree, `boot/${model}`) && r.ok ? r.path : undefined;
  const scripts: ModelBoot['scripts'] = [];
  let kernel: Located | undefined;
  let initrd = false;
  if (dir === undefined) return { dir, scripts, kernel, initrd };
  for (const [name, kind] of SCRIPTS) {
    const path = `boot/${model}/${name}`;
    if (!locateFile(tree, path).ok) continue;
    const content = loaded(input, path);
    const parsed = content?.ok ? parseBootScript(content.data, kind) : undefined;
    scripts.push({ name, path, parsed });
    for (const load of parsed?.loads ?? []) {
      if (load.role === 'initrd') initrd = true;
      if (load.role === 'kernel' && !kernel?.ok) kernel = locateFile(tree, `boot/${model}/${load.name}`);
    }
  }
  return { dir, scripts, kernel, initrd };
}

/** Symlinks below a directory (depth-first, bounded): the ones that do not resolve to a regular file inside the image. */
function badLinks(tree: ImageTree, dir: string): { count: number; problems: string[]; dirs: string[] } {
  const problems: string[] = [];
  const dirs: string[] = [];
  let count = 0;
  const stack = [dir];
  let seen = 0;
  while (stack.length > 0 && seen < MAX_WALK) {
    for (const entry of tree.children(stack.pop() as string)) {
      if (++seen > MAX_WALK) break;
      if (entry.type === 'directory') stack.push(entry.path);
      if (entry.type !== 'symlink') continue;
      count++;
      const target = locateFile(tree, entry.path);
      if (target.ok) continue;
      if (target.reason === 'a directory' && isDirectory(tree, entry.path)) dirs.push(`/${entry.path}`);
      else problems.push(`/${entry.path} → ${entry.linkname}: ${target.reason}`);
    }
  }
  return { count, problems, dirs };
}

/** Per model: /boot/<model>/ with a second-stage script, sound symlinks, the files the script loads, and the kernel options (seed 001, B.3-B.4). */
export const bootFiles: Rule = {
  id: 'boot',
  needs: (input) => {
    const needs: Need[] = [];
    for (const model of input.models) {
      const boot = modelBoot(input, model);
      for (const s of boot.scripts) needs.push(needFile(s.path));
      if (boot.dir !== undefined) for (const [name] of SCRIPTS) needs.push(needFile(`boot/${model}/${name}`));
      if (!boot.kernel?.ok) continue;
      const sources = configSources(input.tree, boot.kernel.path);
      if (sources.file) needs.push(needFile(sources.file));
      else {
        needs.push({ kind: 'kernel-config', path: boot.kernel.path });
        if (sources.guess) needs.push(needFile(sources.guess));
      }
    }
    return needs;
  },
  evaluate: (input) => input.models.flatMap((model) => evaluateModel(input, model)),
};

function evaluateModel(input: CheckInput, model: string): Finding[] {
  const { tree } = input;
  const m = { model, mandatory: true } as const;
  const boot = modelBoot(input, model);
  if (boot.dir === undefined) {
    const r = tree.resolve(`boot/${model}`);
    const what = r.ok ? (r.escaped ? 'a link that climbs above the image root' : 'not a directory') : r.reason === 'missing' ? 'absent' : r.reason;
    return [{
      id: 'boot.dir', requirement: `boot directory /boot/${model}/`, ...m, status: 'fail', found: what,
      fix: `add /boot/${model}/ with start.uboot (U-Boot) or start.ipxe (iPXE) and the kernel, initrd and dtb it loads (or links to them)`,
    }];
  }
  const findings: Finding[] = [{ id: 'boot.dir', requirement: `boot directory /boot/${model}/`, ...m, status: 'pass', found: `/${boot.dir}` }];
  if (boot.scripts.length === 0) {
    findings.push({
      id: 'boot.script', requirement: 'second-stage boot script', ...m, status: 'fail', found: `no start.uboot or start.ipxe in /boot/${model}/ (as a regular file)`,
      fix: `add /boot/${model}/start.uboot for U-Boot boards (Raspberry Pi) or start.ipxe for iPXE (PCs)`,
    });
  } else {
    findings.push({ id: 'boot.script', requirement: 'second-stage boot script', ...m, status: 'pass', found: boot.scripts.map((s) => s.name).join(', ') });
  }
  const links = badLinks(tree, boot.dir);
  const dirNote = links.dirs.length > 0 ? `; links to directories: ${links.dirs.join(', ')}` : '';
  findings.push(links.problems.length > 0
    ? { id: 'boot.links', requirement: `symlinks in /boot/${model}/ resolve inside the image`, ...m, status: 'fail', found: links.problems.join('; '), fix: 'point each link at a regular file of the image (absolute links are resolved against the image root, never the server\'s)' }
    : { id: 'boot.links', requirement: `symlinks in /boot/${model}/ resolve inside the image`, ...m, status: 'pass', found: `${links.count} symlink${links.count === 1 ? '' : 's'}, all resolve to files of the image${dirNote}` });
  for (const script of boot.scripts) findings.push(scriptFindings(input, model, script));
  if (boot.scripts.length > 0) findings.push(...kernelFindings(input, model, boot));
  return findings;
}

function scriptFindings(input: CheckInput, model: string, script: ModelBoot['scripts'][number]): Finding {
  const base = { id: 'boot.files', requirement: `files ${script.name} loads`, model, mandatory: true } as const;
  const parsed = script.parsed;
  if (!parsed) return { ...base, status: 'warn', found: `could not read ${script.name}: ${(loaded(input, script.path) as { reason?: string } | undefined)?.reason ?? 'not loaded'}` };
  if (parsed.error) return { ...base, status: 'fail', found: `${script.name}: ${parsed.error}`, fix: `write /boot/${model}/${script.name} as a plain ${parsed.kind === 'ipxe' ? 'iPXE' : 'U-Boot'} script` };
  const unresolved = parsed.unresolved.length > 0 ? `; not checked (names built from variables): ${parsed.unresolved.join(', ')}` : '';
  if (parsed.loads.length === 0) return { ...base, status: 'warn', found: `no file downloads found in the script${unresolved}`, fix: 'make sure the script downloads the kernel (and initrd, dtb) by name, relative to /boot/<model>/' };
  const missing: string[] = [];
  const present: string[] = [];
  for (const load of parsed.loads) {
    const found = locateFile(input.tree, `boot/${model}/${load.name}`);
    if (found.ok) present.push(`${load.role} ${load.name}`);
    else missing.push(`${load.role} ${load.name} (line ${load.line}): ${found.reason}`);
  }
  if (missing.length > 0) return { ...base, status: 'fail', found: missing.join('; ') + unresolved, fix: `add the missing files under /boot/${model}/ (or links to them inside the image)` };
  return { ...base, status: 'pass', found: present.join(', ') + unresolved };
}

function kernelFindings(input: CheckInput, model: string, boot: ModelBoot): Finding[] {
  if (!boot.kernel?.ok) {
    return [{ id: 'kernel.options', requirement: 'kernel options (overlayfs, NFS root, IP autoconfiguration)', model, mandatory: true, status: 'warn', found: 'unknown: no kernel found in what the boot script loads' }];
  }
  const kernel = boot.kernel.path;
  const config = kernelConfig(input, kernel);
  const network = config?.ok ? networkDriverFinding(config, model, boot.initrd) : undefined;
  return [kernelOptionsFinding(config, boot.initrd, model, kernel), ...(network ? [network] : [])];
}

/** The configuration of the kernel at `kernel`: /boot/config-<version>, else embedded (IKCONFIG), else a lone config file. */
function kernelConfig(input: CheckInput, kernel: string): KernelConfig | undefined {
  const sources = configSources(input.tree, kernel);
  if (sources.file) {
    const c = loaded(input, sources.file);
    return c?.ok ? { ok: true as const, options: parseKernelConfig(c.data.toString('utf8')), source: `/${sources.file}` } : { ok: false as const, reason: `/${sources.file}: ${c && !c.ok ? c.reason : 'not read'}` };
  }
  const embedded = input.kernelConfigs.get(kernel);
  if (embedded?.ok || !sources.guess) return embedded ?? { ok: false, reason: 'no /boot/config-<version>' };
  const g = loaded(input, sources.guess);
  const guess = g?.ok ? { ok: true as const, options: parseKernelConfig(g.data.toString('utf8')), source: `/${sources.guess} (the only config file; the kernel name carries no version)` } : undefined;
  return guess ?? embedded;
}
