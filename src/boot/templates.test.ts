import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderTemplate, templatePaths, WALT_PORTS } from './templates.ts';

const vars = { server_ip: '192.168.152.1', server_mac: '52:54:00:12:34:56', ...WALT_PORTS, walt_image_id: 'abc', walt_image_size_kib: 2048 };

test('templates get WalT\'s %(name)s values, %% becomes %, unknown fields stay as written', () => {
  const cases: Array<[string, string]> = [
    ['server %(server_ip)s iburst\n', 'server 192.168.152.1 iburst\n'],
    ['rpc=%(walt_server_rpc_port)s logs=%(walt_server_logs_port)s up=%(walt_server_notify_bootup_port)s net=%(walt_node_net_service_port)s', 'rpc=12345 logs=12347 up=12347 net=12346'],
    ['%(walt_image_id)s %(walt_image_size_kib)d %(server_mac)s', 'abc 2048 52:54:00:12:34:56'],
    ['100%% sure', '100% sure'],
    ['%(nope)s and %s and %(server_ip)x', '%(nope)s and %s and %(server_ip)x'],
  ];
  for (const [text, expected] of cases) assert.equal(renderTemplate(text, vars), expected);
});

test('image.spec: JSON or YAML templates list, in tree form; absent or broken specs have none', () => {
  assert.deepEqual(templatePaths('{"templates": ["/etc/ntp.conf", "/bin/walt-x"]}'), ['etc/ntp.conf', 'bin/walt-x']);
  assert.deepEqual(templatePaths('templates:\n  - /etc/hosts\n'), ['etc/hosts']);
  assert.deepEqual(templatePaths(undefined), []);
  assert.deepEqual(templatePaths('{"features": {}}'), []);
  assert.deepEqual(templatePaths('{"templates": [1, "/a"'), []);
});
