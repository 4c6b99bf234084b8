import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpec, formatProblems } from './spec.ts';
import { closest, levenshtein } from './spec-schema.ts';
import { planBuild, formatPlan, baseKey } from './plan.ts';

const BASE = `options:
  layer_type: 'base'
  name: 'debian-base'
  publish_tags: '12'
  pkg_manager: 'apt'
  parent: 'scratch'
  registry_opts_push:
    - '--tls-verify=false'
`;

test('the seed\'s keys parse, with Kiln\'s extensions and defaults', () => {
  const text = `${BASE}  log_level: DEBUG
  publish_registry: 'demo.openchami.cluster:5000/demo'
  publish_s3: 'http://demo.openchami.cluster:9090'
  s3_prefix: 'compute/base/'
  s3_bucket: 'boot-images'
  registry_opts_pull: ['--tls-verify=false']
repos:
  - alias: 'Debian_Main'
    url: 'http://deb.debian.org/debian bookworm main'
    gpg: 'https://example.org/key.asc'
package_groups: ['task-ssh-server']
packages:
  - hello
remove_packages: [nano]
copyfiles:
  - src: 'files/motd'
    dst: '/etc/motd'
  - src: 'files/issue'
    dest: '/etc/issue'
cmds:
  - cmd: 'echo hi'
    loglevel: INFO
  - cmd: 'true'
labels:
  walt.node.models: pc-x86-64
apt:
  suite: bookworm
  variant: minbase
`;
  const { spec, problems } = parseSpec(text, 'base.yaml');
  assert.deepEqual(problems, []);
  assert.ok(spec);
  assert.deepEqual(spec.options.publish_tags, ['12']);
  assert.deepEqual(spec.options.registry_opts_push, ['--tls-verify=false']);
  assert.equal(spec.options.s3_bucket, 'boot-images');
  assert.deepEqual(spec.copyfiles, [{ src: 'files/motd', dst: '/etc/motd' }, { src: 'files/issue', dst: '/etc/issue' }]);
  assert.deepEqual(spec.cmds, [{ cmd: 'echo hi', loglevel: 'INFO' }, { cmd: 'true', loglevel: 'ERROR' }]);
  assert.equal(spec.labels['walt.node.models'], 'pc-x86-64');
  assert.equal(spec.apt.mirror, 'http://deb.debian.org/debian');
  // An unquoted version keeps its text as written.
  assert.deepEqual(parseSpec(BASE.replace("'12'", '9.50'), 'x.yaml').spec?.options.publish_tags, ['9.50']);
  assert.deepEqual(parseSpec(BASE.replace("publish_tags: '12'", 'publish_tags: [a, b]'), 'x.yaml').spec?.options.publish_tags, ['a', 'b']);
});

const ANSIBLE = `options:
  layer_type: ansible
  name: compute-ansible
  parent: 'debian-base:12'
  groups: [compute]
  playbooks: [site.yml]
`;

const CASES: Array<{ name: string; text: string; expect: RegExp[] }> = [
  { name: 'unknown top-level key with suggestion', text: `${BASE}pakages: [hello]\n`, expect: [/^x\.yaml:9:1: unknown key "pakages"; did you mean "packages"\?$/] },
  { name: 'unknown option with suggestion', text: BASE.replace('parent:', 'parnet:'), expect: [/^x\.yaml:6:3: unknown key "parnet" in options; did you mean "parent"\?$/] },
  { name: 'unknown key far from any', text: `${BASE}zzzzzzzzzz: 1\n`, expect: [/unknown key "zzzzzzzzzz"$/] },
  { name: 'unknown key in a copyfiles entry', text: `${BASE}copyfiles:\n  - src: a\n    dts: /a\n`, expect: [/:10:5: copyfiles\[0\]: missing required key "dst"/, /:11:5: unknown key "dts" in copyfiles\[0\]; did you mean "dst"\?/] },
  { name: 'unknown key in a cmd', text: `${BASE}cmds:\n  - cmd: x\n    log_level: INFO\n`, expect: [/:11:5: unknown key "log_level" in cmds\[0\]; did you mean "loglevel"\?/] },
  { name: 'unknown key in a repo', text: `${BASE}repos:\n  - alias: a\n    url: u\n    gpgkey: k\n`, expect: [/unknown key "gpgkey" in repos\[0\]; did you mean "gpg"\?/] },
  { name: 'missing options', text: 'packages: [hello]\n', expect: [/^x\.yaml:1:1: missing required key "options"$/] },
  { name: 'missing name', text: BASE.replace("  name: 'debian-base'\n", ''), expect: [/options: missing required key "name"/] },
  { name: 'unsupported pkg_manager', text: BASE.replace("'apt'", "'yum'"), expect: [/:5:16: options\.pkg_manager: "yum" is not one of apt, dnf, zypper/] },
  { name: 'missing pkg_manager for scratch', text: BASE.replace("  pkg_manager: 'apt'\n", ''), expect: [/missing "pkg_manager"/] },
  { name: 'bad layer_type', text: BASE.replace("'base'", "'bsae'"), expect: [/layer_type: "bsae" is not one of base, ansible; did you mean "base"\?/] },
  { name: 'Ansible layer without playbooks, on scratch', text: BASE.replace("'base'", "'ansible'"), expect: [/:2:3: options: missing "playbooks"/, /:6:11: an Ansible layer runs on a parent image/] },
  { name: 'Ansible layer with base-layer keys', text: `${ANSIBLE}packages: [a]\ncmds:\n  - cmd: x\n`, expect: [/:7:1: "packages" is not read by an Ansible layer/, /:8:1: "cmds" is not read by an Ansible layer/] },
  { name: 'Ansible vars not a mapping', text: `${ANSIBLE}  vars: [a, b]\n`, expect: [/:7:9: options\.vars must be a mapping/] },
  { name: 'Ansible options in a base layer', text: `${BASE}  playbooks: site.yml\n  groups: [compute]\n`, expect: [/:9:14: options\.playbooks is read only by an Ansible layer/, /:10:11: options\.groups is read only/] },
  { name: 'releasever with apt', text: `${BASE}  releasever: '9'\n`, expect: [/:9:15: options\.releasever is read by dnf and zypper/] },
  { name: 'apt settings with dnf', text: `${BASE.replace("'apt'", "'dnf'")}apt:\n  suite: bookworm\n`, expect: [/:9:1: "apt:" is read only with pkg_manager apt \(this layer uses dnf\)/] },
  { name: 'bad log_level', text: `${BASE}  log_level: LOUD\n`, expect: [/options\.log_level: "LOUD" is not one of/] },
  { name: 'bad cmd loglevel', text: `${BASE}cmds:\n  - cmd: x\n    loglevel: INOF\n`, expect: [/loglevel: "INOF" is not one of ERROR, WARN, INFO; did you mean "INFO"\?/] },
  { name: 'cmd without cmd', text: `${BASE}cmds:\n  - loglevel: INFO\n`, expect: [/cmds\[0\]: missing required key "cmd"/] },
  { name: 'packages not a list', text: `${BASE}packages: hello\n`, expect: [/packages must be a list of strings/] },
  { name: 'package entry not a string', text: `${BASE}packages:\n  - {a: b}\n`, expect: [/:10:5: packages\[0\] must be a string/] },
  { name: 'copyfiles both dst and dest', text: `${BASE}copyfiles:\n  - src: a\n    dst: /a\n    dest: /b\n`, expect: [/has both "dst" and "dest"/] },
  { name: 'copyfiles relative destination', text: `${BASE}copyfiles:\n  - src: a\n    dst: etc/a\n`, expect: [/destination "etc\/a" must be an absolute path/] },
  { name: 'invalid image name', text: BASE.replace("'debian-base'", "'Debian_Base'"), expect: [/invalid image name "Debian_Base:12"/] },
  { name: 'invalid tag', text: BASE.replace("'12'", "'bad tag'"), expect: [/invalid image name "debian-base:bad tag"/] },
  { name: 'labels not strings', text: `${BASE}labels:\n  a: [1]\n`, expect: [/labels: each label must be a string/] },
  { name: 'platform kiln cannot build', text: `${BASE}  platform: linux/sparc64\n`, expect: [/platform "linux\/sparc64" cannot be built by this version of kiln/] },
  { name: 'malformed platform', text: `${BASE}  platform: linux\n`, expect: [/invalid platform "linux"/] },
  { name: 'bad apt variant', text: `${BASE}apt:\n  variant: minbsae\n`, expect: [/apt\.variant: "minbsae" is not one of .*did you mean "minbase"\?/] },
  { name: 'bad repo alias', text: `${BASE}repos:\n  - alias: 'a b'\n    url: u\n`, expect: [/repos\[0\]\.alias "a b" may use only/] },
  { name: 'YAML syntax error', text: 'options: [\n', expect: [/^x\.yaml:\d+:\d+: /] },
  { name: 'duplicate key', text: `${BASE}packages: [a]\npackages: [b]\n`, expect: [/x\.yaml:10:1: .*[Mm]ap keys must be unique/] },
  { name: 'not a mapping', text: '- a\n', expect: [/a spec is a mapping/] },
  {
    name: 'several problems at once, in file order',
    text: BASE.replace('parent:', 'parnet:').replace("'apt'", "'yum'") + 'pakages: [a]\n',
    expect: [/:5:16: .*pkg_manager/, /:6:3: unknown key "parnet"/, /:9:1: unknown key "pakages"/],
  },
];

for (const c of CASES) {
  test(`spec error: ${c.name}`, () => {
    const { spec, problems } = parseSpec(c.text, 'x.yaml');
    assert.equal(spec, undefined);
    const lines = formatProblems('x.yaml', problems);
    assert.equal(lines.length, c.expect.length, lines.join('\n'));
    c.expect.forEach((re, i) => assert.match(lines[i] ?? '', re));
  });
}

test('did-you-mean uses edit distance and stays quiet for far words', () => {
  assert.equal(levenshtein('kitten', 'sitting'), 3);
  assert.equal(closest('remove_package', ['packages', 'remove_packages']), 'remove_packages');
  assert.equal(closest('xyz', ['packages']), undefined);
});

test('the plan lists steps in order; keys chain, so editing the last command changes only its key', () => {
  const text = `${BASE}repos:\n  - alias: x\n    url: 'http://deb.debian.org/debian bookworm main'\npackages: [hello]\nremove_packages: [nano]\ncopyfiles:\n  - src: f\n    dst: /f\ncmds:\n  - cmd: a\n  - cmd: b\n`;
  const spec = parseSpec(text, 'x.yaml').spec!;
  const cached = new Set<string>();
  const plan = planBuild(spec, { kind: 'scratch' }, () => 'sha256:aa', (k) => cached.has(k));
  assert.deepEqual(plan.steps.map((s) => s.input.kind), ['bootstrap', 'repos', 'packages', 'remove_packages', 'copyfiles', 'cmd', 'cmd']);
  for (const s of plan.steps.slice(0, 6)) cached.add(s.key!);
  const edited = planBuild(parseSpec(text.replace('cmd: b', 'cmd: c'), 'x.yaml').spec!, { kind: 'scratch' }, () => 'sha256:aa', (k) => cached.has(k));
  assert.deepEqual(edited.steps.map((s) => s.cached), [true, true, true, true, true, true, false]);
  const text2 = planBuild(spec, { kind: 'scratch' }, () => 'sha256:bb', (k) => cached.has(k));
  assert.deepEqual(text2.steps.map((s) => s.cached), [true, true, true, true, false, false, false], 'new file content re-runs copyfiles and what follows');
  assert.match(formatPlan(edited), /^ {2}run {5}7\/7 cmds\[1\]: c$/m);
  assert.match(formatPlan(edited), /^ {2}cached {2}1\/7 bootstrap: debian bookworm \(minbase\)/m);
  assert.equal(baseKey({ kind: 'image', ref: 'a', diffIds: undefined }), undefined);
});

test('dnf and zypper layers have no bootstrap step; releasever is part of their keys', () => {
  const text = `${BASE.replace("'apt'", "'dnf'")}  releasever: '9'\nrepos:\n  - alias: local\n    url: 'file:///srv/repo'\npackage_groups: ['Minimal Install']\npackages: [kiln-hello]\nremove_packages: [vim]\n`;
  for (const pm of ['dnf', 'zypper']) {
    const parsed = parseSpec(text.replace("'dnf'", `'${pm}'`), 'x.yaml');
    assert.deepEqual(parsed.problems, []);
    const plan = planBuild(parsed.spec!, { kind: 'scratch' }, () => '', () => false);
    assert.deepEqual(plan.steps.map((s) => s.input.kind), ['repos', 'package_groups', 'packages', 'remove_packages']);
    assert.deepEqual(plan.steps[2]?.input, { kind: 'packages', pkg_manager: pm, names: ['kiln-hello'], releasever: '9' });
    const other = planBuild(parseSpec(text.replace("'9'", "'8'").replace("'dnf'", `'${pm}'`), 'x.yaml').spec!, { kind: 'scratch' }, () => '', () => false);
    assert.notEqual(other.steps[0]?.key, plan.steps[0]?.key, 'another releasever is another build');
  }
});

test('an Ansible layer is one step keyed by its playbooks, inventory, groups and vars', () => {
  const text = `${ANSIBLE}  inventory: inventory.ini\n  vars:\n    motd: hello\n    ports: [1, 2]\n`;
  const parsed = parseSpec(text, 'x.yaml');
  assert.deepEqual(parsed.problems, []);
  const parent = { kind: 'image' as const, ref: 'debian-base:12', diffIds: ['sha256:aa' as const] };
  const plan = planBuild(parsed.spec!, parent, (p) => `hash-of-${p}`, () => false);
  assert.deepEqual(plan.steps.map((s) => s.name), ['ansible: site.yml (groups compute)']);
  assert.deepEqual(plan.steps[0]?.input, {
    kind: 'ansible', playbooks: [{ path: 'site.yml', content: 'hash-of-site.yml' }], inventory: { path: 'inventory.ini', content: 'hash-of-inventory.ini' },
    groups: ['compute'], vars: { motd: 'hello', ports: [1, 2] },
  });
  const edited = planBuild(parsed.spec!, parent, (p) => `new-${p}`, () => false);
  assert.notEqual(edited.steps[0]?.key, plan.steps[0]?.key, 'an edited playbook re-runs the layer');
});
