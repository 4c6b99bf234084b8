import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigFile } from './load.ts';

test('kiln.yaml server: NFS and node-identity settings, and their errors', () => {
  const server = parseConfigFile('server:\n  nfs: ganesha\n  nfs_ganesha_config: /etc/ganesha/kiln.conf\n  nfs_ganesha_pid: /run/ganesha.pid\n  nfs_port: 2049\n  nfs_mount_port: 20048\n  dns: 192.168.152.1, 9.9.9.9\n', 'k.yaml').server;
  assert.ok(server);
  assert.equal(server.nfs, 'ganesha');
  assert.equal(server.nfs_ganesha_config, '/etc/ganesha/kiln.conf');
  assert.equal(server.nfs_ganesha_pid, '/run/ganesha.pid');
  assert.equal(server.nfs_port, 2049);
  assert.equal(server.nfs_mount_port, 20048);
  assert.deepEqual(server.dns, ['192.168.152.1', '9.9.9.9']);
  assert.equal(parseConfigFile('server:\n  http_port: 80\n', 'k.yaml').server?.nfs, undefined);
  const cases: Array<[string, RegExp]> = [
    ['server:\n  nfs: samba\n', /k\.yaml:2:8: nfs "samba" is not one of kernel, ganesha, off/u],
    ['server:\n  nfs_ganesha_config: kiln.conf\n', /nfs_ganesha_config "kiln\.conf" is not an absolute path/u],
    ['server:\n  nfs_port: 0\n', /nfs_port "0" is not a port number/u],
    ['server:\n  dns: example.org\n', /dns "example\.org" is not an IP address/u],
  ];
  for (const [text, message] of cases) assert.throws(() => parseConfigFile(text, 'k.yaml'), message);
});
