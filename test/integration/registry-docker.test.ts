import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { json, kilnFor, makeRootfsDir, scratch, tarDir } from '../helpers.ts';
import { startPodmanService, writeKilnYaml } from '../registry-servers.ts';

test('docker: search and clone through the Docker Engine API of `podman system service`', async (t) => {
  const dir = scratch(t, 'kiln-docker');
  const { dockerHost, podman } = await startPodmanService(t, dir);
  const rootfs = tarDir(makeRootfsDir(dir), join(dir, 'rootfs.tar'));
  podman(['import', '--change', 'LABEL walt.node.models=pc-x86-64,pc-x86-32', rootfs, 'docker.io/carol/dimg:v1']);
  podman(['import', rootfs, 'localhost/carol/plain:latest']);
  const config = writeKilnYaml(dir, []);
  const alice = (args: readonly string[]) => kilnFor(join(dir, 'home'), 'alice')(args, { KILN_CONFIG: config, DOCKER_HOST: dockerHost });

  const search = await alice(['image', 'search', '--json']);
  assert.equal(search.code, 0, search.stderr);
  const found = json<{ images: Array<{ cloneUrl: string; models: string[]; where: string }>; unreachable: unknown[] }>(search);
  assert.deepEqual(found.images.map((h) => [h.cloneUrl, h.where, h.models.join(',')]), [['docker:carol/dimg:v1', 'docker daemon', 'pc-x86-64,pc-x86-32']], 'only images with walt.node.models');
  assert.deepEqual(found.unreachable, []);

  const cloned = await alice(['image', 'clone', 'docker:carol/dimg:v1', 'from-docker']);
  assert.equal(cloned.code, 0, cloned.stderr);
  assert.match(cloned.stdout, /Cloned docker:carol\/dimg:v1 as from-docker/);
  const shown = json<Array<{ name: string; models: string[] }>>(await alice(['image', 'show', '--json']));
  assert.deepEqual(shown.map((i) => [i.name, i.models.join(',')]), [['from-docker', 'pc-x86-64,pc-x86-32']]);
  assert.equal((await alice(['store', 'verify'])).code, 0);

  const cases: Array<[string, string[], NodeJS.ProcessEnv, RegExp]> = [
    ['unknown image', ['image', 'clone', 'docker:carol/nothing'], { DOCKER_HOST: dockerHost }, /\[NOT_FOUND\]: the Docker daemon at unix:\/\/\S+ has no image carol\/nothing:latest/],
    ['no daemon', ['image', 'clone', 'docker:carol/dimg:v1'], { DOCKER_HOST: `unix://${join(dir, 'absent.sock')}` }, /\[NETWORK\]: no Docker daemon answers at unix:\/\/\S+absent\.sock \(ENOENT\)\n {2}hint: start the Docker daemon/],
    ['exists without --force', ['image', 'clone', 'docker:carol/dimg:v1', 'from-docker'], { DOCKER_HOST: dockerHost }, /\[ALREADY_EXISTS\].*\n {2}hint: .*--force/],
  ];
  for (const [name, args, env, message] of cases) {
    const r = await kilnFor(join(dir, 'home'), 'alice')(args, { KILN_CONFIG: config, ...env });
    assert.equal(r.code, 1, name);
    assert.match(r.stderr, message, name);
  }
  assert.equal((await alice(['image', 'clone', 'docker:carol/dimg:v1', 'from-docker', '--force'])).code, 0);
});
