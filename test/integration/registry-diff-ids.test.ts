import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { kilnFor, scratch, sh, snapshotStore } from '../helpers.ts';
import { startRegistry, writeKilnYaml } from '../registry-servers.ts';
import { makeTar, sha256Of, writeLayoutRaw } from '../oci-fixture.ts';

test('a pull refuses an image whose config lists wrong diff_ids, as an import does, and leaves the store as it was', async (t) => {
  const dir = scratch(t, 'kiln-diffid');
  const reg = await startRegistry(t, dir, { kind: 'none' });
  const config = writeKilnYaml(dir, [{ label: 'local', api: 'docker-registry-v2', host: '127.0.0.1', port: reg.port, protocol: 'http', auth: 'none' }]);
  const home = join(dir, 'home');
  const kiln = (args: readonly string[]) => kilnFor(home, 'carol')(args, { KILN_CONFIG: config, DOCKER_HOST: `unix://${join(dir, 'no-docker.sock')}` });
  const tar = await makeTar([{ name: 'etc', type: 'directory' }, { name: 'etc/hostname', content: 'node\n' }]);
  const gz = gzipSync(tar);
  const gzType = 'application/vnd.oci.image.layer.v1.tar+gzip';
  const cases = [
    { name: 'compressed-digest', diffIds: [sha256Of(gz)], message: new RegExp(`has diff_id ${sha256Of(tar)}, the config expects ${sha256Of(gz)}`) },
    { name: 'too-few', diffIds: [] as string[], message: /0 diff_ids for 1 layers/ },
  ];
  // skopeo pushes the layouts as they are (it does not check diff_ids).
  for (const c of cases) {
    writeLayoutRaw(join(dir, c.name), [{ blob: gz, mediaType: gzType }], c.diffIds);
    sh('skopeo', ['copy', '--dest-tls-verify=false', `oci:${join(dir, c.name)}:fixture:latest`, `docker://${reg.host}/dave/${c.name}:v1`]);
  }
  const good = join(dir, 'good');
  writeLayoutRaw(good, [{ blob: gz, mediaType: gzType }], [sha256Of(tar)]);
  sh('skopeo', ['copy', '--dest-tls-verify=false', `oci:${good}:fixture:latest`, `docker://${reg.host}/dave/good:v1`]);
  const cloned = await kiln(['image', 'clone', 'local:dave/good:v1', 'good']);
  assert.equal(cloned.code, 0, cloned.stderr);

  const before = snapshotStore(home);
  for (const c of cases) {
    const result = await kiln(['image', 'clone', `local:dave/${c.name}:v1`, c.name]);
    assert.equal(result.code, 1, `${c.name}: ${result.stderr}`);
    assert.match(result.stderr, /\[DIGEST_MISMATCH\]/, c.name);
    assert.match(result.stderr, c.message, c.name);
    assert.match(result.stderr, /\n {2}hint: \S/, c.name);
    assert.equal(snapshotStore(home).replace(/\ntmp: .*/u, ''), before.replace(/\ntmp: .*/u, ''), `${c.name}: the store is as it was`);
  }
  assert.equal((await kiln(['store', 'verify'])).code, 0);
});
