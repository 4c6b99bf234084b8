import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PC_LIVE_BOOT, advanceMilestones, cleanConsole, tail } from './vm.ts';

// Console excerpts of a real run (HTTP variant), escape sequences included.
const CONSOLE = [
  'iPXE initialising devices...ok\r\n', 'Configuring (net0 52:54:00:12:34:56)...... ok\r\n',
  'Kiln: pc-x86-64 start.ipxe\r\n',
  '\x1bc[    0.000000] Linux version 6.1.0-50-amd64 (debian-kernel@lists.debian.org)\r\n',
  '[    0.000000] Command line: initrd=initrd boot=live fetch=http://10.0.2.2:35141/images/pc-node-walt/12/amd64/rootfs.squashfs ip=dhcp\r\n',
  'IP-Config: ens3 complete (dhcp from 10.0.2.2):\r\n',
  "Begin: Trying wget http://10.0.2.2:35141/images/pc-node-walt/12/amd64/rootfs.squashfs -O /run/live/medium/live/rootfs.squashfs ... Connecting to 10.0.2.2:35141\r\n",
  "'/run/live/medium/live/rootfs.squashfs' saved\r\n",
  'Begin: Mounting "/run/live/medium/live/rootfs.squashfs" on "/run/live/rootfs/rootfs.squashfs" via "/dev/loop0" ... done.\r\n',
  '\x1b[0;1;39mWelcome to \x1b[0mDebian GNU/Linux 12 (bookworm)\x1b[0m!\r\n',
  'Debian GNU/Linux 12 vm ttyS0\r\n\r\nvm login: ',
];

test('milestones are found in order, each after the previous one, across console chunks', () => {
  let state = { next: 0, from: 0 };
  let text = '';
  const seen: string[] = [];
  for (const chunk of CONSOLE) {
    text += chunk;
    const step = advanceMilestones(cleanConsole(text), PC_LIVE_BOOT, state);
    seen.push(...step.found);
    state = { next: step.next, from: step.from };
  }
  assert.deepEqual(seen, PC_LIVE_BOOT.map((m) => m.name));
});

test('a milestone is not taken from text before the previous one (the kernel command line names the SquashFS too)', () => {
  const text = cleanConsole(CONSOLE.slice(0, 5).join(''));
  const step = advanceMilestones(text, PC_LIVE_BOOT, { next: 0, from: 0 });
  assert.equal(step.found.at(-1), 'kernel booting');
  assert.equal(PC_LIVE_BOOT[step.next]?.name, 'initramfs DHCP');
});

test('the console is shown without escape sequences, its last lines on failure', () => {
  assert.equal(cleanConsole('\x1b[0;32m  OK  \x1b[0m] x\r\n'), '  OK  ] x\n');
  assert.equal(tail('a\n\nb\nc\n', 2), 'b\nc');
});
