import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KILN, ROOT, json, kilnFor, runProgram, scratch, sh } from '../helpers.ts';

// The step cache lives in a KILN_HOME kept between runs, so a warm run does not bootstrap Debian again.
const HOME = join(process.env.TMPDIR ?? tmpdir(), 'kiln-test-cache', 'build-home');
const kiln = kilnFor(HOME, 'builder');

interface Built {
  images: string[];
  digest?: string;
  steps: Array<{ name: string; cached: boolean; layer?: string }>;
}

const BASE = `options:
  layer_type: 'base'
  name: 'deb-base'
  publish_tags: ['12', 'latest']
  pkg_manager: 'apt'
  parent: 'scratch'
packages:
  - hello
labels:
  walt.node.models: pc-x86-64
`;

function childSpec(last: string): string {
  return `options:
  name: 'deb-child'
  publish_tags: 'v1'
  pkg_manager: 'apt'
  parent: 'deb-base:12'
packages: [busybox-static]
remove_packages: [hello]
copyfiles:
  - src: 'files/tool.sh'
    dest: '/usr/local/bin/tool.sh'
cmds:
  - cmd: 'echo built > /etc/kiln-built'
  - cmd: '${last}'
    loglevel: INFO
`;
}

function tarList(file: string): string {
  return sh('tar', ['-tvf', file]);
}

test('a Debian scratch layer and a child layer build with apt, with whiteouts, cache hits and misses', async (t) => {
  mkdirSync(HOME, { recursive: true });
  const dir = scratch(t, 'kiln-build');
  mkdirSync(join(dir, 'files'));
  writeFileSync(join(dir, 'files', 'tool.sh'), '#!/bin/sh\necho tool\n');
  chmodSync(join(dir, 'files', 'tool.sh'), 0o750);
  const base = join(dir, 'base.yaml');
  const child = join(dir, 'child.yaml');
  writeFileSync(base, BASE);
  const nonce = randomBytes(6).toString('hex');
  writeFileSync(child, childSpec(`echo ${nonce} > /etc/kiln-last`));

  const first = await kiln(['image', 'build', base, child, '--json']);
  assert.equal(first.code, 0, first.stderr);
  const [b1, c1] = json<Built[]>(first);
  assert.deepEqual(b1?.images, ['builder/deb-base:12', 'builder/deb-base:latest']);
  assert.deepEqual(c1?.steps.map((s) => s.name.split(':')[0]), ['packages', 'remove_packages', 'copyfiles', 'cmds[0]', 'cmds[1]']);
  assert.equal(c1?.steps.at(-1)?.cached, false, 'a new last command runs');

  // The merged root: hello removed (through a whiteout), busybox added, the copied file with its mode.
  const rootfs = join(dir, 'rootfs.tar');
  assert.equal((await kiln(['image', 'export', 'deb-child:v1', rootfs, '--format', 'rootfs'])).code, 0);
  const listing = tarList(rootfs);
  assert.doesNotMatch(listing, /usr\/bin\/hello$/m);
  assert.match(listing, /usr\/bin\/busybox$/m);
  assert.match(listing, /^-rwxr-x--- 0\/0 .* \.?\/?usr\/local\/bin\/tool\.sh$/m);
  assert.match(listing, /etc\/kiln-built$/m);
  const removal = c1?.steps.find((s) => s.name.startsWith('remove_packages'))?.layer ?? '';
  assert.match(tarList(join(HOME, 'store', 'blobs', 'sha256', removal.slice(7))), /usr\/bin\/\.wh\.hello$/m, 'the OCI layer carries the whiteout');
  const inspected = json<{ config: { history: Array<{ created_by: string }>; config: { Labels: Record<string, string> } } }>(await kiln(['image', 'inspect', 'deb-child:v1', '--json']));
  assert.equal(inspected.config.history.filter((h) => h.created_by.startsWith('kiln image build')).length, 7, 'one history entry per step');
  assert.equal(inspected.config.config.Labels['walt.node.models'], 'pc-x86-64', 'labels are inherited from the parent');

  // Unchanged: nothing runs, and the manifest is the same.
  const again = await kiln(['image', 'build', base, child, '--json']);
  assert.equal(again.code, 0, again.stderr);
  const [b2, c2] = json<Built[]>(again);
  assert.ok([...(b2?.steps ?? []), ...(c2?.steps ?? [])].every((s) => s.cached));
  assert.equal(c2?.digest, c1?.digest);
  const dry = await kiln(['image', 'build', base, child, '--dry-run']);
  assert.match(dry.stdout, /^ {2}cached {2}5\/5 cmds\[1\]/m);

  // Editing the last command re-runs only that command.
  writeFileSync(child, childSpec(`echo ${nonce}-edited > /etc/kiln-last`));
  const plan = await kiln(['image', 'build', child, '--dry-run']);
  assert.match(plan.stdout, /^ {2}cached {2}4\/5 cmds\[0\]/m);
  assert.match(plan.stdout, /^ {2}run {5}5\/5 cmds\[1\]/m);
  const edited = json<Built[]>(await kiln(['image', 'build', child, '--json']))[0];
  assert.deepEqual(edited?.steps.map((s) => s.cached), [true, true, true, true, false]);

  // gc keeps the steps of images that exist and drops the replaced last step.
  // A step's layer is stored once, as a blob of the store: the step is cached while the blob is there.
  const cachedLayer = (layer: string | undefined): boolean => existsSync(join(HOME, 'store', 'blobs', 'sha256', (layer ?? '').slice(7)));
  assert.ok(!existsSync(join(HOME, 'cache', 'build', 'blobs', `${(edited?.steps.at(-1)?.layer ?? '').slice(7)}.tar`)), 'no second copy of a layer in the build cache');
  assert.ok(cachedLayer(c1?.steps.at(-1)?.layer), 'before gc, the replaced step is cached');
  assert.equal((await kiln(['store', 'gc'])).code, 0);
  assert.ok(!cachedLayer(c1?.steps.at(-1)?.layer), 'gc dropped the step no image uses');
  assert.ok(cachedLayer(edited?.steps.at(-1)?.layer));
  assert.match((await kiln(['image', 'build', base, child, '--dry-run'])).stdout, /^ {2}cached {2}5\/5 cmds\[1\]/m, 'the steps of existing images stay cached');

  // The OpenCHAMI command line.
  const ib = await runProgram(join(ROOT, 'bin', 'image-build'), ['--config', base, '--log-level', 'DEBUG'], { ...process.env, KILN_HOME: HOME, KILN_USER: 'builder', KILN_CONFIG: '' });
  assert.equal(ib.code, 0, ib.stderr);
  assert.match(ib.stderr, /cached {2}packages: hello/);
});

test('a failing command stops the build with its step, status and output; nothing is tagged, mounts are gone', async (t) => {
  mkdirSync(HOME, { recursive: true });
  const dir = scratch(t, 'kiln-build');
  const spec = join(dir, 'fail.yaml');
  writeFileSync(spec, `options:\n  name: deb-fail\n  pkg_manager: apt\n  parent: 'scratch'\ncmds:\n  - cmd: 'echo first-${randomBytes(4).toString('hex')}'\n  - cmd: 'echo oops-output; exit 3'\n`);
  const failed = await kiln(['image', 'build', spec]);
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /error \[BUILD_FAILED\]: .*fail\.yaml: step 3\/3 "cmds\[1\]: echo oops-output; exit 3" failed with exit status 3/);
  assert.match(failed.stderr, /^ {4}oops-output$/m);
  assert.equal((await kiln(['image', 'inspect', 'deb-fail'])).code, 1, 'no image was tagged');
  // The HOME is shared with other build tests that may run meanwhile: look for what this process left.
  const mine = `-${failed.pid ?? -1}-`;
  assert.doesNotMatch(sh('findmnt', ['-rn', '-o', 'TARGET']), new RegExp(mine), 'no mount left');
  assert.deepEqual(readdirSync(join(HOME, 'cache', 'build', 'work')).filter((n) => n.includes(mine)), [], 'no work directory left');
  const retry = json<Built[]>(await kiln(['image', 'build', spec, '--dry-run', '--json']))[0];
  assert.deepEqual(retry?.steps.map((s) => s.cached), [true, true, false], 'the steps before the failure stay cached');
});

test('spec errors: every problem of every file at once, with file:line:col and suggestions', async (t) => {
  const dir = scratch(t, 'kiln-build');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, `options:\n  name: x\n  pkg_manager: yum\n  parnet: scratch\npakages: [a]\ncopyfiles:\n  - src: missing.txt\n    dst: /a\n`);
  const orphan = join(dir, 'orphan.yaml');
  writeFileSync(orphan, `options:\n  name: y\n  parent: no-such-image\n`);
  const out = await runProgram(KILN, ['image', 'build', bad, orphan], { ...process.env, KILN_HOME: join(dir, 'home'), KILN_USER: 'builder', KILN_CONFIG: '' });
  assert.equal(out.code, 1);
  assert.match(out.stderr, /error \[CONFIG\]: 4 problems/);
  assert.match(out.stderr, /bad\.yaml:3:16: options\.pkg_manager: "yum" is not one of apt, dnf, zypper/);
  assert.match(out.stderr, /bad\.yaml:4:3: unknown key "parnet" in options; did you mean "parent"\?/);
  assert.match(out.stderr, /bad\.yaml:5:1: unknown key "pakages"; did you mean "packages"\?/);
  assert.match(out.stderr, /bad\.yaml:7:10: copyfiles\[0\]\.src "missing\.txt" does not exist/);
  // The parent is checked against the store once the files are valid.
  const parent = await runProgram(KILN, ['image', 'build', orphan], { ...process.env, KILN_HOME: join(dir, 'home'), KILN_USER: 'builder', KILN_CONFIG: '' });
  assert.match(parent.stderr, /orphan\.yaml:3:11: unknown parent image builder\/no-such-image:latest/);
});
