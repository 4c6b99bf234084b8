import { mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from './helpers.ts';

/** A package of the test repository: its name and the files it installs (path in the image → content, or a host file to copy). */
export interface TestRpm {
  name: string;
  version?: string;
  files: Record<string, string | { copy: string }>;
}

/**
 * Builds noarch RPMs with rpmbuild and makes an rpm-md repository of them with createrepo_c;
 * returns the repository directory (use it as a file:// baseurl). Packages declare no
 * automatic dependencies, so they install into an empty root.
 */
export function makeRpmRepo(dir: string, rpms: readonly TestRpm[]): string {
  const top = join(dir, 'rpmbuild');
  const repo = join(dir, 'repo');
  mkdirSync(repo, { recursive: true });
  for (const rpm of rpms) {
    const install = Object.entries(rpm.files).map(([path, content]) => {
      const mode = /^\/(usr\/)?bin\//.test(path) ? '755' : '644';
      const write = typeof content === 'string' ? `printf '%s' '${content.replace(/'/g, `'\\''`).replace(/%/g, '%%')}' > "%{buildroot}${path}"` : `cp ${content.copy} "%{buildroot}${path}"`;
      return `mkdir -p "%{buildroot}$(dirname ${path})"\n${write}\nchmod ${mode} "%{buildroot}${path}"`;
    });
    const spec = [
      `Name: ${rpm.name}`, `Version: ${rpm.version ?? '1.0'}`, 'Release: 1', `Summary: ${rpm.name} test package`, 'License: MIT', 'BuildArch: noarch', 'AutoReqProv: no',
      // A static shell copied from the host is a binary in a noarch package: allowed for tests.
      '%define _binaries_in_noarch_packages_terminate_build 0', '%define __strip /bin/true',
      '%description', `${rpm.name} test package`, '%install', ...install, '%files', ...Object.keys(rpm.files), '',
    ].join('\n');
    const file = join(dir, `${rpm.name}.spec`);
    writeFileSync(file, spec);
    sh('rpmbuild', ['-bb', '--define', `_topdir ${top}`, file]);
  }
  for (const name of readdirSync(join(top, 'RPMS', 'noarch'))) renameSync(join(top, 'RPMS', 'noarch', name), join(repo, name));
  sh('createrepo_c', ['-q', repo]);
  return repo;
}
