import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { json, kilnFor, scratch } from '../helpers.ts';
import { armhfBusyboxTarball, busyboxRoot, importRoot, kilnOnTerminal, mountsUnder } from '../image-edit.ts';

/** The busybox root prompt (ash follows it with a cursor-position query on a terminal). */
const PROMPT = /\/ # /;

const layersOf = async (kiln: ReturnType<typeof kilnFor>, name: string): Promise<number> =>
  json<{ manifest: { layers: unknown[] } }>(await kiln(['image', 'inspect', name, '--json'])).manifest.layers.length;

/** Reads a file of an image through `kiln image cp` to the host. */
async function readInImage(kiln: ReturnType<typeof kilnFor>, dir: string, location: string): Promise<string> {
  const out = join(dir, `read-${Math.random().toString(36).slice(2)}`);
  const r = await kiln(['image', 'cp', location, out]);
  assert.equal(r.code, 0, r.stderr);
  return readFileSync(out, 'utf8');
}

test('image shell on a terminal: typed commands change the image, the prompt saves them as a new image of one more layer; /etc/cpuinfo shows at /proc/cpuinfo', { timeout: 120_000 }, async (t) => {
  const dir = scratch(t, 'kiln-edit-shell');
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  const root = busyboxRoot(dir);
  writeFileSync(join(root, 'etc', 'cpuinfo'), 'processor\t: 0\nmodel name\t: ARMv7 Processor rev 4 (v7l)\nHardware\t: BCM2835\n');
  await importRoot(kiln, dir, root, 'base');

  const term = kilnOnTerminal(t, home, ['image', 'shell', 'base']);
  await term.waitFor(PROMPT);
  term.type('echo typed-in-shell > /root/note; grep Hardware /proc/cpuinfo; exit\n');
  await term.waitFor(/\[n\] as a new image/);
  term.type('n\n');
  await term.waitFor(/New image name:/);
  term.type('edited\n');
  assert.equal(await term.exited, 0, term.output());
  assert.match(term.output(), /Hardware\s*: BCM2835/, 'the image\'s /etc/cpuinfo is bind-mounted over /proc/cpuinfo');
  assert.match(term.output(), /Saved alice\/edited:latest/);

  assert.equal(await readInImage(kiln, dir, 'edited:/root/note'), 'typed-in-shell\n');
  assert.equal(await layersOf(kiln, 'edited'), (await layersOf(kiln, 'base')) + 1);
  const original = await kiln(['image', 'cp', 'base:/root/note', join(dir, 'absent')]);
  assert.equal(original.code, 1, 'the shell\'s image is unchanged');
  assert.deepEqual(mountsUnder(home), []);
});

test('image shell with walt-image-shell-start/-shutdown: start (exec init) runs in the background, the shell beside it, then shutdown, and the container ends before the save', { timeout: 120_000 }, async (t) => {
  const dir = scratch(t, 'kiln-edit-hooks');
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  const root = busyboxRoot(dir);
  const script = (path: string, body: string): void => {
    writeFileSync(join(root, path), `#!/bin/sh\n${body}`);
    chmodSync(join(root, path), 0o755);
  };
  script('bin/walt-image-shell-start', 'echo start >> /var/log/hooks\nexec /sbin/init\n');
  // PID 1 of the container: it ends on SIGTERM, as `init 0` would end a real init.
  script('sbin/init', 'echo "init $$" >> /var/log/hooks\ntrap \'echo init-stopped >> /var/log/hooks; exit 0\' TERM\nwhile :; do sleep 1 & wait $!; done\n');
  script('bin/walt-image-shell-shutdown', 'echo shutdown >> /var/log/hooks\nkill -TERM 1\n');
  await importRoot(kiln, dir, root, 'hooked');

  const term = kilnOnTerminal(t, home, ['image', 'shell', 'hooked', '--save-as', 'hooked-after']);
  await term.waitFor(PROMPT);
  // The init starts beside the shell: wait for it before writing, so that the order is the hooks' own.
  term.type('until grep -q init /var/log/hooks 2>/dev/null; do sleep 0.1; done; echo shell >> /var/log/hooks; exit\n');
  assert.equal(await term.exited, 0, term.output());
  assert.equal(await readInImage(kiln, dir, 'hooked-after:/var/log/hooks'), 'start\ninit 1\nshell\nshutdown\ninit-stopped\n');
  assert.deepEqual(mountsUnder(home), []);
});

test('image shell of a foreign (armhf) image runs under qemu-user: uname -m says armv7l', { timeout: 300_000 }, async (t) => {
  const dir = scratch(t, 'kiln-edit-armhf');
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  const tarball = await armhfBusyboxTarball();
  const imported = await kiln(['image', 'import', tarball, 'tiny-armhf', '--platform', 'linux/arm/v7', '--label', 'walt.node.models=rpi-3-b']);
  assert.equal(imported.code, 0, imported.stderr);

  const term = kilnOnTerminal(t, home, ['image', 'shell', 'tiny-armhf', '--save-as', 'armhf-after']);
  await term.waitFor(PROMPT);
  term.type('uname -m > /root/arch; uname -m; exit\n');
  assert.equal(await term.exited, 0, term.output());
  assert.equal(await readInImage(kiln, dir, 'armhf-after:/root/arch'), 'armv7l\n');
});

test('--no-save discards the changes; a dropped session (SIGHUP) leaves no mount, no work files and no image', { timeout: 120_000 }, async (t) => {
  const dir = scratch(t, 'kiln-edit-hup');
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  await importRoot(kiln, dir, busyboxRoot(dir), 'base');

  const discard = kilnOnTerminal(t, home, ['image', 'shell', 'base', '--no-save']);
  await discard.waitFor(PROMPT);
  discard.type('touch /root/x; exit\n');
  assert.equal(await discard.exited, 0, discard.output());
  assert.match(discard.output(), /Changes discarded/);

  const before = json<unknown[]>(await kiln(['image', 'show', '--json'])).length;
  const term = kilnOnTerminal(t, home, ['image', 'shell', 'base', '--save-as', 'never']);
  await term.waitFor(PROMPT);
  term.type('touch /root/half-done\n');
  term.type('echo typed-$((6*7))\n');
  await term.waitFor(/typed-42/);
  // The terminal goes away as under a dropped SSH session: its master side closes, the kernel hangs up kiln's session (SIGHUP).
  term.child.kill('SIGKILL');
  await term.exited;
  // script exits at once; kiln finishes cleaning up shortly after: wait for its work directory to go.
  const work = join(home, 'cache', 'build', 'work');
  for (let i = 0; i < 600 && (mountsUnder(home).length > 0 || readdirSafe(work).length > 0); i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(mountsUnder(home), []);
  assert.deepEqual(readdirSafe(work), []);
  assert.equal(json<unknown[]>(await kiln(['image', 'show', '--json'])).length, before);
  assert.equal((await kiln(['image', 'inspect', 'never'])).code, 1);
});

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    mkdirSync(dir, { recursive: true });
    return [];
  }
}
