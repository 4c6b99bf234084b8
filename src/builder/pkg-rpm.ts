import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError, ErrorCode, existsInRoot, removeInRoot, resolveInRoot, writeFileInRoot } from '../core/index.ts';
import type { StepInput } from './plan.ts';
import { runConfinedOnHost, runInRoot, type SandboxResult } from './sandbox.ts';

/** A repos or package step of an rpm-family package manager. */
export type RpmInput = Extract<StepInput, { kind: 'repos' | 'package_groups' | 'packages' | 'remove_packages' }> & { pkg_manager: 'dnf' | 'zypper' };

/** What an rpm step runs with: proxy, signal, and where its output lines go. */
export interface RpmRunOptions {
  proxy?: string;
  signal?: AbortSignal;
  onLine?: (line: string) => void;
}

/** dnf's --releasever for an install root that has no release package yet (the seed's examples are Rocky 9). */
export const DNF_DEFAULT_RELEASEVER = '9';

const REPO_DIRS = { dnf: 'etc/yum.repos.d', zypper: 'etc/zypp/repos.d' } as const;
const IN_ROOT_TOOLS = { dnf: ['usr/bin/dnf', 'usr/bin/dnf-3', 'usr/bin/dnf5'], zypper: ['usr/bin/zypper'] } as const;

/** Whether a step is a dnf or zypper step (run by {@link runRpmStep}). */
export function isRpmInput(input: StepInput): input is RpmInput {
  return 'pkg_manager' in input && (input.pkg_manager === 'dnf' || input.pkg_manager === 'zypper');
}

/** The .repo file of a `repos:` entry: gpgcheck on with the given key, off without one. */
export function repoFile(pm: 'dnf' | 'zypper', repo: { alias: string; url: string; gpg?: string }): string {
  const lines = [`[${repo.alias}]`, `name=${repo.alias}`, `baseurl=${repo.url}`, 'enabled=1'];
  if (pm === 'zypper') lines.push('autorefresh=1', 'type=rpm-md');
  lines.push(repo.gpg ? `gpgcheck=1\ngpgkey=${repo.gpg}` : 'gpgcheck=0');
  return `${lines.join('\n')}\n`;
}

/** A repo URL ending in .repo is a repo file to fetch (what `dnf config-manager --add-repo` does), else a baseurl. */
async function repoText(pm: 'dnf' | 'zypper', repo: { alias: string; url: string; gpg?: string }): Promise<string> {
  if (!/^https?:\/\/.*\.repo$/u.test(repo.url)) return repoFile(pm, repo);
  const res = await fetch(repo.url).catch((err: unknown) => {
    throw new KilnError(ErrorCode.NETWORK, `repos ${repo.alias}: cannot fetch ${repo.url}: ${(err as Error).message}`, { cause: err, hint: 'check the url of the repo' });
  });
  if (!res.ok) throw new KilnError(ErrorCode.NETWORK, `repos ${repo.alias}: ${repo.url} answered HTTP ${res.status}`, { hint: 'check the url of the repo' });
  return res.text();
}

/** The rpm database of a root: where its rpm keeps it, defaulting to /var/lib/rpm for an empty root. */
async function rpmDbPath(root: string): Promise<string> {
  return (await existsInRoot(root, 'usr/lib/sysimage/rpm/rpmdb.sqlite')) ? '/usr/lib/sysimage/rpm' : '/var/lib/rpm';
}

/** The command of a package step, for dnf or zypper, before the root option. */
function packageArgs(input: RpmInput): string[] {
  const names = 'names' in input ? input.names : [];
  if (input.pkg_manager === 'dnf') {
    const verb = { package_groups: ['group', 'install'], packages: ['install'], remove_packages: ['remove'] }[input.kind as 'packages'];
    return [...verb, ...names];
  }
  const verb = { package_groups: ['install', '-l', '-t', 'pattern'], packages: ['install', '-l'], remove_packages: ['remove'] }[input.kind as 'packages'];
  return [...verb, ...names];
}

/**
 * Runs a dnf or zypper step on an image root (the overlay's merged directory). `repos` are
 * written as .repo files, inside the root whatever its symlinks say. Package steps run the image's own dnf/zypper inside the sandbox when
 * it has one, else the host's with --installroot (dnf) or --root (zypper), as the original tool
 * bootstraps a scratch root; the host's caches and logs stay out of the image.
 */
export async function runRpmStep(input: RpmInput, root: string, work: string, options: RpmRunOptions): Promise<SandboxResult> {
  const pm = input.pkg_manager;
  if (input.kind === 'repos') {
    for (const r of input.repos) await writeFileInRoot(root, `${REPO_DIRS[pm]}/${r.alias}.repo`, await repoText(pm, r), 0o644);
    options.onLine?.(`wrote ${input.repos.map((r) => `/${REPO_DIRS[pm]}/${r.alias}.repo`).join(' ')}`);
    return { code: 0, tail: [] };
  }
  const base = { ...(options.signal ? { signal: options.signal } : {}), ...(options.onLine ? { onLine: options.onLine } : {}) };
  const proxyEnv: Record<string, string> = options.proxy ? { http_proxy: options.proxy, https_proxy: options.proxy } : {};
  let inRoot = false;
  for (const tool of IN_ROOT_TOOLS[pm]) if (await existsInRoot(root, tool)) inRoot = true;
  if (inRoot) {
    const rv = input.releasever !== undefined ? [`--releasever=${input.releasever}`] : [];
    const [cmd, clean] = pm === 'dnf' ? [['dnf', '-y', ...rv], 'dnf clean all'] : [['zypper', '--non-interactive', '--gpg-auto-import-keys', ...(rv.length ? ['--releasever', input.releasever as string] : [])], 'zypper --non-interactive clean --all'];
    const script = `set -e; "$@"; ${clean} >/dev/null`;
    return runInRoot(root, ['/bin/sh', '-c', script, 'sh', ...cmd, ...packageArgs(input)], { env: proxyEnv, ...base });
  }
  // Debian's rpm keeps its database in ~/.rpmdb: a private HOME with .rpmmacros puts it where the image's rpm looks.
  const rpmHome = join(work, 'rpm-home');
  await mkdir(rpmHome, { recursive: true });
  await writeFile(join(rpmHome, '.rpmmacros'), `%_dbpath ${await rpmDbPath(root)}\n`);
  const tmp = join(work, 'tmp');
  await mkdir(tmp, { recursive: true });
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: rpmHome, TMPDIR: tmp, LC_ALL: 'C', ...proxyEnv };
  if (pm === 'dnf') {
    await mkdir(join(work, 'dnf-log'), { recursive: true }); // dnf fails when its log directory is missing
    const args = [
      '-y', `--installroot=${root}`, `--releasever=${input.releasever ?? DNF_DEFAULT_RELEASEVER}`,
      `--setopt=reposdir=${(await resolveInRoot(root, REPO_DIRS.dnf)).host}`, `--setopt=cachedir=${join(work, 'dnf-cache')}`, `--setopt=logdir=${join(work, 'dnf-log')}`,
      ...(options.proxy ? [`--setopt=proxy=${options.proxy}`] : []), ...packageArgs(input),
    ];
    return runConfinedOnHost('dnf', args, { env, writable: [root, work], ...base });
  }
  const args = [
    '--root', root, '--non-interactive', '--gpg-auto-import-keys', '--cache-dir', join(work, 'zypp-cache'),
    ...(input.releasever !== undefined ? ['--releasever', input.releasever] : []), ...packageArgs(input),
  ];
  try {
    return await runConfinedOnHost('zypper', args, { env, writable: [root, work], ...base });
  } finally {
    await removeInRoot(root, 'run/zypp.pid'); // zypper's lock, left in the root it ran on
  }
}
