import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { json, kilnFor, scratch, sh } from '../helpers.ts';

// A KILN_HOME of its own, kept between runs (the Debian base is bootstrapped once): other build
// tests run gc in theirs, which must not race with this one.
const HOME = join(process.env.TMPDIR ?? tmpdir(), 'kiln-test-cache', 'build-ansible-home');
const kiln = kilnFor(HOME, 'ansible-tester');

interface Built {
  images: string[];
  digest?: string;
  steps: Array<{ name: string; cached: boolean; layer?: string }>;
}

const BASE = `options:
  name: 'py-base'
  pkg_manager: 'apt'
  parent: 'scratch'
packages: [python3]
`;

function layerSpec(motd: string): string {
  return `options:
  layer_type: 'ansible'
  name: 'compute-ansible'
  publish_tags: ['1']
  parent: 'py-base'
  groups: ['compute']
  playbooks: ['playbooks/site.yml']
  inventory: 'inventory.ini'
  vars:
    motd_text: '${motd}'
    ntp_servers: ['ntp1.example', 'ntp2.example']
`;
}

// Runs for the compute group only: the image is in it through "groups".
const PLAYBOOK = `- hosts: compute
  gather_facts: false
  tasks:
    - name: motd from a template with a var
      ansible.builtin.template:
        src: templates/motd.j2
        dest: /etc/motd
        mode: '0644'
    - name: a line in an existing file
      ansible.builtin.lineinfile:
        path: /etc/bash.bashrc
        line: 'export HEAD_NODE={{ head_node }}'
    - name: a file per server
      ansible.builtin.copy:
        content: "{{ ntp_servers | join('\\n') }}\\n"
        dest: /etc/kiln-ntp
`;

test('an Ansible layer runs its playbook on the image root with groups, inventory vars and extra vars; cached until an input changes', async (t) => {
  mkdirSync(HOME, { recursive: true });
  const dir = scratch(t, 'kiln-ansible');
  mkdirSync(join(dir, 'playbooks', 'templates'), { recursive: true });
  writeFileSync(join(dir, 'playbooks', 'site.yml'), PLAYBOOK);
  writeFileSync(join(dir, 'playbooks', 'templates', 'motd.j2'), 'Welcome to {{ inventory_hostname }}: {{ motd_text }}\n');
  // A group variable from the user's inventory.
  writeFileSync(join(dir, 'inventory.ini'), '[compute]\n\n[compute:vars]\nhead_node=head.example\n');
  const base = join(dir, 'base.yaml');
  const layer = join(dir, 'ansible.yaml');
  writeFileSync(base, BASE);
  // A fresh var each run, so that the first build runs the playbook even with a warm cache.
  const nonce = randomBytes(4).toString('hex');
  writeFileSync(layer, layerSpec(`built by ansible ${nonce}`));

  const first = await kiln(['image', 'build', base, layer, '--json']);
  assert.equal(first.code, 0, first.stderr);
  const built = json<Built[]>(first)[1];
  assert.deepEqual(built?.steps.map((s) => [s.name, s.cached]), [['ansible: playbooks/site.yml (groups compute)', false]]);

  const tarFile = join(dir, 'rootfs.tar');
  const exported = await kiln(['image', 'export', 'compute-ansible:1', tarFile, '--format', 'rootfs']);
  assert.equal(exported.code, 0, exported.stderr);
  const root = join(dir, 'root');
  mkdirSync(root);
  sh('tar', ['-xf', tarFile, '-C', root, './etc/motd', './etc/bash.bashrc', './etc/kiln-ntp']);
  assert.equal(readFileSync(join(root, 'etc/motd'), 'utf8'), `Welcome to compute-ansible: built by ansible ${nonce}\n`);
  assert.match(readFileSync(join(root, 'etc/bash.bashrc'), 'utf8'), /^# System-wide \.bashrc[\s\S]*\nexport HEAD_NODE=head\.example\n$/);
  assert.equal(readFileSync(join(root, 'etc/kiln-ntp'), 'utf8'), 'ntp1.example\nntp2.example\n');
  const layerTar = sh('tar', ['-tf', join(HOME, 'store', 'blobs', 'sha256', (built?.steps[0]?.layer ?? '').slice(7))]);
  assert.doesNotMatch(layerTar, /kiln-ansible|\.ansible/, 'Ansible\'s temporary files are not in the layer');

  // Unchanged: cached. An edited template or var re-runs the layer.
  assert.ok(json<Built[]>(await kiln(['image', 'build', base, layer, '--json'])).every((b) => b.steps.every((s) => s.cached)));
  writeFileSync(join(dir, 'playbooks', 'templates', 'motd.j2'), 'Hello {{ motd_text }}\n');
  assert.match((await kiln(['image', 'build', base, layer, '--dry-run'])).stdout, /^ {2}run {5}1\/1 ansible: playbooks\/site\.yml/m);
  writeFileSync(layer, layerSpec(`edited ${nonce}`));
  const edited = await kiln(['image', 'build', base, layer, '--json']);
  assert.equal(edited.code, 0, edited.stderr);
  assert.equal(json<Built[]>(edited)[1]?.steps[0]?.cached, false);
});

test('a failing Ansible task stops the build with ansible-playbook\'s status and output', async (t) => {
  mkdirSync(HOME, { recursive: true });
  const dir = scratch(t, 'kiln-ansible');
  writeFileSync(join(dir, 'base.yaml'), BASE);
  writeFileSync(join(dir, 'fail.yml'), '- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.fail:\n        msg: kiln-test-failure\n');
  writeFileSync(join(dir, 'fail.yaml'), `options:\n  layer_type: ansible\n  name: ansible-fail\n  parent: py-base\n  playbooks: fail.yml\n`);
  const failed = await kiln(['image', 'build', join(dir, 'base.yaml'), join(dir, 'fail.yaml')]);
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /error \[BUILD_FAILED\]: .*fail\.yaml: step 1\/1 "ansible: fail\.yml" failed with exit status 2/);
  assert.match(failed.stderr, /kiln-test-failure/);
  assert.equal((await kiln(['image', 'inspect', 'ansible-fail'])).code, 1);
});
