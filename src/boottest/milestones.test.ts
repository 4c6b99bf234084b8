import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanConsole, createMilestoneTracker, formatMilestone, milestonesFor } from './milestones.ts';
import { acceleratorFor, randomMac, vmProfileFor } from './models.ts';
import { qemuArgs } from './vm.ts';

const NODE = { mac: '52:54:00:aa:bb:cc', name: 'boot-test-aabbcc' };

test('a live boot\'s milestones: server events whenever they come, console lines in order', () => {
  const t = createMilestoneTracker(milestonesFor('live'), NODE);

  assert.deepEqual(t.event({ protocol: 'dhcp', client: '52:54:00:00:00:01', result: 'ack', ip: '10.213.5.101' }), [], 'another MAC');
  assert.deepEqual(t.event({ protocol: 'dhcp', client: NODE.mac, result: 'ack', ip: '10.213.5.100' }), [{ name: 'DHCP', detail: '10.213.5.100 from kiln' }]);
  assert.deepEqual(t.event({ protocol: 'http', path: '/boot/start.ipxe', result: 'ok', node: 'other' }), []);
  assert.deepEqual(t.event({ protocol: 'http', path: '/boot/start.ipxe', result: 'ok', node: NODE.name }), [{ name: 'second-stage script', detail: '/boot/start.ipxe over http' }]);
  assert.equal(t.waiting(), 'kernel');
  const text = [
    'Linux version 6.1.0-13-amd64 (gcc)', 'IP-Config: eth0 complete (dhcp from 10.213.5.1):',
    'Mounting "/run/live/medium/rootfs.squashfs" on "//filesystem.squashfs" via "/dev/loop0"...',
    'Welcome to Debian GNU/Linux 12 (bookworm)!', '', 'vm1 login: ',
  ].join('\n');
  assert.deepEqual(t.console(text).map((r) => [r.name, r.detail]), [
    ['kernel', '6.1.0-13-amd64'], ['initramfs', 'eth0'], ['root mounted', '/run/live/medium/rootfs.squashfs'],
    ['init', 'Debian GNU/Linux 12 (bookworm)'], ['login prompt', 'vm1'],
  ]);
  assert.equal(t.done(), false);
  assert.equal(t.waiting(), 'SSH answering');
  assert.deepEqual(t.reach('SSH answering', 'root@10.213.5.100'), [{ name: 'SSH answering', detail: 'root@10.213.5.100' }]);
  assert.deepEqual(t.reach('SSH answering'), [], 'once');
  assert.equal(t.done(), true);
  assert.equal(t.waiting(), undefined);
});

test('console milestones are found only after the previous one (a login prompt before the kernel does not count)', () => {
  const t = createMilestoneTracker(milestonesFor('live'), NODE);
  assert.deepEqual(t.console('old login: \nLinux version 6.1\n').map((r) => r.name), ['kernel']);
  assert.equal(t.waiting(), 'DHCP');
});

test('formatting and console cleaning', () => {
  assert.equal(formatMilestone({ name: 'DHCP', seconds: 12.3, detail: '10.213.5.100 from kiln' }), '  12.3 s  DHCP  (10.213.5.100 from kiln)');
  assert.equal(formatMilestone({ name: 'kernel', seconds: 3 }), '   3.0 s  kernel');
  assert.equal(cleanConsole('\x1b[2J\x1b[0;1mWelcome\r\n'), 'Welcome\n');
});

test('models: a PC boots under qemu-system-x86_64; a Raspberry Pi and unknown models are refused with a reason', () => {
  assert.equal(vmProfileFor('pc-x86-64').qemu, 'qemu-system-x86_64');
  assert.throws(() => vmProfileFor('rpi-3-b-plus'), (err: Error & { code?: string; hint?: string }) => err.code === 'UNSUPPORTED' && /Raspberry Pi/u.test(err.message) && /pc-x86-64/u.test(err.hint ?? ''));
  assert.throws(() => vmProfileFor('qemu-arm-64'), { code: 'UNSUPPORTED' });
  assert.equal(acceleratorFor(true), 'kvm');
  assert.equal(acceleratorFor(false), 'tcg');
});

test('the VM: a locally administered unicast MAC, plugged into the tap, booting from the network only', () => {
  assert.equal(randomMac(Buffer.from([0xff, 1, 2, 3, 4, 5])), 'fe:01:02:03:04:05');
  assert.equal(randomMac(Buffer.from([0x01, 0xab, 2, 3, 4, 5])), '02:ab:02:03:04:05');
  const args = qemuArgs({ profile: vmProfileFor('pc-x86-64'), accel: 'tcg', mac: '02:00:00:00:00:01', tap: 'ktap0' });
  assert.ok(args.includes('tap,id=n0,ifname=ktap0,script=no,downscript=no'));
  assert.ok(args.includes('e1000,netdev=n0,mac=02:00:00:00:00:01'));
  assert.deepEqual(args.slice(args.indexOf('-accel'), args.indexOf('-accel') + 2), ['-accel', 'tcg']);
});

test('an NFS boot\'s root is mounted when initramfs-tools runs its nfs-bottom scripts (or walt-init overlays it)', () => {
  const t = createMilestoneTracker(milestonesFor('nfs'), NODE);
  const text = [
    'Linux version 6.1.0-13-amd64 (gcc)', 'Run /init as init process', 'Begin: Running /scripts/nfs-premount ... done.',
    'Begin: Running /scripts/nfs-bottom ... done.', 'walt-init: root 10.213.5.1:/var/lib/walt/nodes/52:54:00:aa:bb:cc/fs under a RAM overlay',
    'Welcome to Debian GNU/Linux 12 (bookworm)!',
  ].join('\n');
  assert.deepEqual(t.console(text).map((r) => [r.name, r.detail]), [['kernel', '6.1.0-13-amd64'], ['initramfs', '/init'], ['root mounted', 'nfs'], ['init', 'Debian GNU/Linux 12 (bookworm)']]);
  assert.equal(createMilestoneTracker(milestonesFor('nfs'), NODE).console('Linux version 6\nRun /init as init process\nwalt-init: root 10.0.0.1:/x/fs under a RAM overlay\n').at(-1)?.detail, '10.0.0.1:/x/fs');
});
