import { createHash } from 'node:crypto';
import { lstat, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { removeInRoot } from '../core/index.ts';
import type { AnsibleInput } from './plan.ts';
import type { SandboxResult } from './sandbox.ts';
import type { BuildSpec } from './spec.ts';
import { copySource, hashCopySource } from './spec-load.ts';
import { runOnHost } from './host-run.ts';

/** What an Ansible step runs with. */
export interface AnsibleRunOptions {
  signal?: AbortSignal;
  onLine?: (line: string) => void;
}

/** Where Ansible copies its modules inside the image; removed after the step, so it is not part of the layer. */
const REMOTE_TMP = '/tmp/.kiln-ansible';
/** What Ansible reads beside a playbook or an inventory file (roles, templates, files, variables, plugins). */
const BESIDE = ['roles', 'templates', 'files', 'vars', 'group_vars', 'host_vars', 'tasks', 'handlers', 'library', 'filter_plugins', 'module_utils'];

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(() => true, () => false);
}

/**
 * The cache hashes of an Ansible layer's inputs, by the path written in the spec: each playbook
 * with the directories Ansible reads beside it, and the inventory (file or directory) with its
 * group_vars and host_vars. Editing any of them re-runs the layer.
 */
export async function hashAnsibleSources(spec: BuildSpec): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (spec.options.layer_type !== 'ansible') return out;
  const withBeside = async (path: string): Promise<string> => {
    const hash = createHash('sha256').update(`${await hashCopySource(copySource(spec, path))}\n`);
    for (const name of BESIDE) {
      const full = join(dirname(copySource(spec, path)), name);
      if (await exists(full)) hash.update(`${name} ${await hashCopySource(full)}\n`);
    }
    return `sha256:${hash.digest('hex')}`;
  };
  for (const p of spec.options.playbooks) out.set(p, await withBeside(p));
  if (spec.options.inventory !== undefined) out.set(spec.options.inventory, await withBeside(spec.options.inventory));
  return out;
}

/** The inventory Kiln adds: the image root as one host, reached with the chroot connection, in every group of `groups`. */
export function imageInventory(host: string, root: string, groups: readonly string[]): string {
  const vars = { ansible_connection: 'community.general.chroot', ansible_host: root, ansible_remote_tmp: REMOTE_TMP };
  const children = Object.fromEntries(groups.map((g) => [g, { hosts: { [host]: null } }]));
  return `${JSON.stringify({ all: { hosts: { [host]: vars }, children } }, null, 2)}\n`;
}

/**
 * Runs an Ansible layer: ansible-playbook on the host against the image root (the overlay's
 * merged directory) through community.general.chroot, limited to that one host. The spec's
 * inventory is read first, so its groups and variables apply; `groups` puts the image in
 * those groups and `vars` are extra vars, as the original tool sets them.
 */
export async function runAnsibleStep(spec: BuildSpec, input: AnsibleInput, root: string, work: string, options: AnsibleRunOptions): Promise<SandboxResult> {
  const host = spec.options.name;
  const dir = join(work, 'ansible');
  await mkdir(join(dir, 'local-tmp'), { recursive: true });
  const inventory = join(dir, 'kiln-inventory.yml');
  await writeFile(inventory, imageInventory(host, root, input.groups));
  const args = [
    ...(input.inventory ? ['-i', copySource(spec, input.inventory.path)] : []), '-i', inventory, '--limit', host,
  ];
  if (input.vars !== null && typeof input.vars === 'object' && Object.keys(input.vars).length > 0) {
    await writeFile(join(dir, 'vars.json'), JSON.stringify(input.vars));
    args.push('--extra-vars', `@${join(dir, 'vars.json')}`);
  }
  args.push(...input.playbooks.map((p) => copySource(spec, p.path)));
  const env = {
    ...process.env,
    ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0', ANSIBLE_RETRY_FILES_ENABLED: 'False', ANSIBLE_LOCAL_TEMP: join(dir, 'local-tmp'),
    ANSIBLE_PYTHON_INTERPRETER: 'auto_silent', PYTHONUNBUFFERED: '1',
  };
  try {
    return await runOnHost('ansible-playbook', args, { env, cwd: copySource(spec, '.'), ...options });
  } finally {
    await removeInRoot(root, REMOTE_TMP, { recursive: true });
  }
}
