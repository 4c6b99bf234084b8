/** Which keys each kind of layer reads: seed 004's "Ansible Layers" read only `options`; base-layer keys are refused there and vice versa. */

/** Top-level keys of a base layer that an Ansible layer does not read. */
const BASE_ONLY = ['repos', 'package_groups', 'packages', 'remove_packages', 'copyfiles', 'cmds', 'apt'] as const;
/** `options:` keys only an Ansible layer reads. */
const ANSIBLE_ONLY = ['groups', 'playbooks', 'inventory', 'vars'] as const;

/** Reports a problem at the value (or key) found at `path`. */
export type FailAt = (path: string, message: string) => void;

/**
 * Checks the rules that tie keys to `layer_type` and `pkg_manager`: an Ansible layer needs
 * `playbooks` and a parent image, and reads none of the base-layer keys; `vars` is a mapping;
 * `releasever` is for dnf and zypper, `apt:` for apt. `has` says whether a key was written.
 */
export function checkLayerRules(raw: Record<string, unknown>, options: Record<string, unknown>, has: (path: string) => boolean, fail: FailAt): void {
  const ansible = options.layer_type === 'ansible';
  const pkg = options.pkg_manager as string | undefined;
  if (ansible) {
    for (const key of BASE_ONLY) {
      if (has(key)) fail(`${key}:key`, `"${key}" is not read by an Ansible layer (layer_type ansible); put it in a base layer below this one`);
    }
    if (!has('options.playbooks')) fail('options', 'options: missing "playbooks" (an Ansible layer runs at least one playbook)');
    if (((options.parent as string | undefined) ?? 'scratch') === 'scratch') {
      fail(has('options.parent') ? 'options.parent' : 'options', 'an Ansible layer runs on a parent image; set options.parent to a base layer with Python (parent "scratch" has nothing to run on)');
    }
    const vars = options.vars;
    if (vars !== undefined && vars !== null && (typeof vars !== 'object' || Array.isArray(vars))) fail('options.vars', 'options.vars must be a mapping of variable names to values');
  } else {
    for (const key of ANSIBLE_ONLY) {
      if (has(`options.${key}`)) fail(`options.${key}`, `options.${key} is read only by an Ansible layer; set layer_type: ansible or remove it`);
    }
  }
  if (has('options.releasever') && (pkg === undefined || pkg === 'apt') && !ansible) fail('options.releasever', 'options.releasever is read by dnf and zypper; with apt, set apt.suite');
  if (has('apt') && pkg !== undefined && pkg !== 'apt') fail('apt:key', `"apt:" is read only with pkg_manager apt (this layer uses ${pkg}); use options.releasever`);
}
