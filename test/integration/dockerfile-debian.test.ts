import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { kilnFor, scratch, sh } from '../helpers.ts';

// The Debian base is built once into a KILN_HOME kept between runs (its step cache), so a warm run does not bootstrap Debian again.
const HOME = join(process.env.TMPDIR ?? tmpdir(), 'kiln-test-cache', 'dockerfile-home');
const kiln = kilnFor(HOME, 'docker');

const BASE = `options:
  layer_type: 'base'
  name: 'deb-base'
  publish_tags: '12'
  pkg_manager: 'apt'
  parent: 'scratch'
packages: [hello]
`;

test('USER runs RUN steps on a Debian base as that user: primary group, supplementary groups, or the group named', async (t) => {
  mkdirSync(HOME, { recursive: true });
  const dir = scratch(t, 'kiln-dockerfile-debian');
  writeFileSync(join(dir, 'base.yaml'), BASE);
  const base = await kiln(['image', 'build', join(dir, 'base.yaml')]);
  assert.equal(base.code, 0, base.stderr);

  const ctx = join(dir, 'ctx');
  mkdirSync(ctx);
  // A nonce keeps the user steps out of the cache of earlier runs.
  writeFileSync(join(ctx, 'Dockerfile'), `FROM deb-base:12
RUN groupadd --gid 2000 extra && useradd --create-home --uid 1234 --groups extra app
USER app
RUN echo ${randomBytes(4).toString('hex')} > /dev/null; { id -u; id -g; id -G; } > /home/app/as-name && touch /home/app/mine
USER 1234:2000
RUN { id -u; id -g; id -G; } > /home/app/as-ids
USER root
RUN id -u > /root-id
`);
  const built = await kiln(['image', 'build', 'users', '--from-dir', ctx]);
  assert.equal(built.code, 0, built.stderr);
  const rootfs = join(dir, 'rootfs.tar');
  assert.equal((await kiln(['image', 'export', 'users', rootfs, '--format', 'rootfs'])).code, 0);
  const read = (path: string): string => sh('tar', ['-xOf', rootfs, path]);
  assert.equal(read('./home/app/as-name'), '1234\n1234\n1234 2000\n');
  assert.equal(read('./home/app/as-ids'), '1234\n2000\n2000\n');
  assert.equal(read('./root-id'), '0\n');
  assert.match(sh('tar', ['--numeric-owner', '-tvf', rootfs, './home/app/mine']), /^-\S+ 1234\/1234 /);
});
