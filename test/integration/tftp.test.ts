import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTftpServer, type BootRequestLog, type TftpServerOptions } from '../../src/boot/index.ts';
import { createDirResolver } from '../dir-resolver.ts';
import { runProgram, scratch } from '../helpers.ts';
import { rawFetch, requestThenSilence } from '../tftp-raw-client.ts';

/** sha256 of a file, streamed. */
async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A file of random bytes, written in 1 MiB pieces; returns its sha256. */
function writeRandom(path: string, size: number): string {
  const hash = createHash('sha256');
  writeFileSync(path, '');
  for (let done = 0; done < size; ) {
    const piece = randomBytes(Math.min(1 << 20, size - done));
    hash.update(piece);
    writeFileSync(path, piece, { flag: 'a' });
    done += piece.length;
  }
  return hash.digest('hex');
}

/** A TFTP server on 127.0.0.1 over a directory of boot files, stopped when the test ends. */
async function serve(t: Parameters<typeof scratch>[0], options: TftpServerOptions = {}) {
  const dir = scratch(t, 'kiln-tftp');
  const root = join(dir, 'root');
  mkdirSync(join(root, 'boot'), { recursive: true });
  const logs: BootRequestLog[] = [];
  const waiters: (() => void)[] = [];
  const server = createTftpServer({
    address: '127.0.0.1',
    port: 0,
    resolver: createDirResolver(root),
    log: (e) => {
      logs.push(e);
      for (const w of waiters.splice(0)) w();
    },
    options,
  });
  const { port } = await server.start();
  t.after(() => server.stop());
  /** Resolves once a log line matches. */
  const logged = async (match: (e: BootRequestLog) => boolean): Promise<BootRequestLog> => {
    for (;;) {
      const found = logs.find(match);
      if (found) return found;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  /** Resolves once `n` lines are logged. */
  const count = async (n: number): Promise<void> => {
    while (logs.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return { dir, root, port, logs, logged, count, server };
}

const tftpHpa = (port: number, command: string, cwd: string) => runProgram('sh', ['-c', `cd '${cwd}' && tftp -m binary 127.0.0.1 ${port} -c ${command}`]);
const atftp = (port: number, remote: string, local: string, options: Record<string, string>) =>
  runProgram('atftp', ['--get', '-r', remote, '-l', local, ...Object.entries(options).flatMap(([k, v]) => ['--option', `${k} ${v}`]), '127.0.0.1', String(port)]);

test('tftp-hpa, atftp and curl fetch a small file and a symlink to it', async (t) => {
  const s = await serve(t);
  writeFileSync(join(s.root, 'boot', 'start.ipxe'), '#!ipxe\nkernel vmlinuz\nboot\n');
  symlinkSync('boot/start.ipxe', join(s.root, 'start.ipxe'));
  const want = readFileSync(join(s.root, 'boot', 'start.ipxe'));

  assert.equal((await tftpHpa(s.port, `get /start.ipxe a`, s.dir)).code, 0);
  assert.deepEqual(readFileSync(join(s.dir, 'a')), want);
  const r = await atftp(s.port, 'boot/start.ipxe', join(s.dir, 'b'), { tsize: '0' });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readFileSync(join(s.dir, 'b')), want);
  const c = await runProgram('curl', ['-sS', '-o', join(s.dir, 'c'), `tftp://127.0.0.1:${s.port}/start.ipxe`]);
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(readFileSync(join(s.dir, 'c')), want);
  const line = await s.logged((e) => e.path === 'start.ipxe' && e.result === 'ok');
  assert.equal(line.served, join('boot', 'start.ipxe'));
  assert.equal(line.bytes, want.length);
});

test('a file over 32 MiB at 512-byte blocks crosses the block-number rollover (tftp-hpa and curl)', async (t) => {
  const s = await serve(t);
  const size = 32 * 1024 * 1024 + 512 * 100 + 17; // 65536 blocks and more
  const sum = writeRandom(join(s.root, 'big'), size);
  const r = await tftpHpa(s.port, 'get big big.hpa', s.dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await sha256File(join(s.dir, 'big.hpa')), sum);
  const c = await runProgram('curl', ['-sS', '--tftp-blksize', '512', '-o', join(s.dir, 'big.curl'), `tftp://127.0.0.1:${s.port}/big`]);
  assert.equal(c.code, 0, c.stderr);
  assert.equal(await sha256File(join(s.dir, 'big.curl')), sum);
});

test('atftp with blksize 1468, windowsize 8 and tsize, and curl with blksize 1468, get every byte', async (t) => {
  const s = await serve(t);
  const size = 5 * 1468 * 8 * 100; // ends on a window and block boundary: an empty last block
  const sum = writeRandom(join(s.root, 'kernel'), size);
  const odd = writeRandom(join(s.root, 'initrd'), 3_000_001);
  for (const [file, want] of [['kernel', sum], ['initrd', odd]] as const) {
    const r = await atftp(s.port, file, join(s.dir, `${file}.atftp`), { blksize: '1468', windowsize: '8', tsize: '0' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256File(join(s.dir, `${file}.atftp`)), want);
    const c = await runProgram('curl', ['-sS', '--tftp-blksize', '1468', '-o', join(s.dir, `${file}.curl`), `tftp://127.0.0.1:${s.port}/${file}`]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(await sha256File(join(s.dir, `${file}.curl`)), want);
  }
  const raw = await rawFetch(s.port, 'kernel', { blksize: '1468', windowsize: '64', tsize: '0' });
  assert.equal(raw.sha256, sum);
  assert.equal((await s.logged((e) => e.path === 'kernel' && e.result === 'ok')).bytes, size);
});

test('a write request is refused with an access violation and nothing is written', async (t) => {
  const s = await serve(t);
  writeFileSync(join(s.dir, 'upload'), 'data');
  const r = await tftpHpa(s.port, 'put upload', s.dir);
  assert.match(r.stderr + r.stdout, /Access violation/);
  const a = await runProgram('atftp', ['--put', '-l', join(s.dir, 'upload'), '-r', 'upload', '127.0.0.1', String(s.port)]);
  assert.notEqual(a.code, 0);
  assert.equal(existsSync(join(s.root, 'upload')), false);
  assert.equal((await s.logged((e) => e.path === 'upload')).result, 'forbidden');
});

test('a path climbing with ".." is refused, and a missing file is "File not found"', async (t) => {
  const s = await serve(t);
  writeFileSync(join(s.dir, 'secret'), 'host file');
  const r = await tftpHpa(s.port, 'get ../secret stolen', s.dir);
  assert.match(r.stderr + r.stdout, /Access violation/);
  assert.equal(readFileSync(join(s.dir, 'stolen'), { flag: 'a+' }).length, 0);
  const raw = await rawFetch(s.port, 'boot/../../secret');
  assert.equal(raw.error?.code, 2);
  const missing = await rawFetch(s.port, 'boot/nothing');
  assert.deepEqual(missing.error, { code: 1, message: 'File not found' });
  const c = await runProgram('curl', ['-sS', '-o', join(s.dir, 'x'), `tftp://127.0.0.1:${s.port}/nothing`]);
  assert.equal(c.code, 68, c.stderr); // curl's "TFTP: File Not Found"
  assert.equal((await s.logged((e) => e.path === 'boot/nothing')).result, 'not-found');
});

test('duplicate ACKs in lock-step are ignored (no Sorcerer\'s Apprentice doubling)', async (t) => {
  const s = await serve(t);
  const sum = writeRandom(join(s.root, 'f'), 512 * 200 + 3);
  const raw = await rawFetch(s.port, 'f', {}, { duplicateAcks: true });
  assert.equal(raw.sha256, sum);
  assert.equal(raw.packets, 201);
});

test('a windowed client that loses DATA packets gets them resent, across bursts bigger than one send turn', async (t) => {
  const s = await serve(t, { retransmitMs: 50 }); // a loss at a window's end waits for the retransmission
  // 64 blocks of 8 KiB: a 512 KiB window, sent in more than one burst.
  const sum = writeRandom(join(s.root, 'f'), (3 << 20) + 5);
  const raw = await rawFetch(s.port, 'f', { blksize: '8192', windowsize: '64' }, { dropEvery: 97 });
  assert.equal(raw.sha256, sum);
  assert.equal(raw.bytes, (3 << 20) + 5);
  assert.ok(raw.packets > 385, 'some blocks were sent twice');
  const lockStep = await rawFetch(s.port, 'f', { blksize: '1468' }, { dropEvery: 200 });
  assert.equal(lockStep.sha256, sum);
});

test('a client that goes silent mid-transfer does not delay another, and is given up after its retries', async (t) => {
  const s = await serve(t, { retransmitMs: 200, maxRetries: 4 });
  const sum = writeRandom(join(s.root, 'kernel'), 4 << 20);
  const silent = await requestThenSilence(s.port, 'kernel', { blksize: '1468', windowsize: '8' });
  t.after(() => silent.close());
  const r = await atftp(s.port, 'kernel', join(s.dir, 'k'), { blksize: '1468', windowsize: '8' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await sha256File(join(s.dir, 'k')), sum);
  const ok = s.logs.findIndex((e) => e.result === 'ok');
  assert.notEqual(ok, -1);
  const gaveUp = await s.logged((e) => e.result === 'timeout');
  assert.ok(s.logs.indexOf(gaveUp) > ok, 'the real client finished before the silent one was given up');
  assert.ok(silent.packets() >= 2, 'the OACK was retransmitted');
});

test('a request that is never acknowledged past its OACK holds no file open (a forged request pins no memory or descriptor)', async (t) => {
  const s = await serve(t, { retransmitMs: 200, maxRetries: 3 });
  const file = join(s.root, 'kernel');
  const sum = writeRandom(file, 1 << 20);
  const openOnFile = (): number => readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(join('/proc/self/fd', fd)) === file;
    } catch {
      return false; // the directory's own descriptor, closed once listed
    }
  }).length;
  // The largest block and window a client may ask for: a ring of 64 x 64 KiB if it were made now.
  const silent = await requestThenSilence(s.port, 'kernel', { blksize: '65464', windowsize: '64' });
  t.after(() => silent.close());
  while (silent.packets() < 2) await new Promise((r) => setTimeout(r, 20));
  assert.equal(openOnFile(), 0, 'the OACK went out (twice) and the file is not open');
  // A client that acknowledges the OACK gets the file.
  const raw = await rawFetch(s.port, 'kernel', { blksize: '65464', windowsize: '64' });
  assert.equal(raw.sha256, sum);
  assert.equal((await s.logged((e) => e.result === 'timeout')).path, 'kernel');
  assert.equal(openOnFile(), 0);
});

test('200 concurrent clients fetch a 1 MiB file, every checksum right', async (t) => {
  const s = await serve(t);
  const sum = writeRandom(join(s.root, 'file'), 1 << 20);
  const variants: Record<string, string>[] = [{}, { blksize: '1468' }, { blksize: '1468', windowsize: '8', tsize: '0' }, { blksize: '8192', windowsize: '4' }];
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => rawFetch(s.port, 'file', variants[i % variants.length])));
  assert.deepEqual(results.filter((r) => r.sha256 !== sum), []);
  // The server logs a transfer when the client's last ACK reaches it, after the client is done.
  await s.count(200);
  assert.deepEqual(s.logs.filter((e) => e.result !== 'ok'), []);
});

test('past maxTransfers a request is refused as busy; stop() ends running transfers', async (t) => {
  const s = await serve(t, { maxTransfers: 1 });
  writeRandom(join(s.root, 'f'), 100_000);
  const silent = await requestThenSilence(s.port, 'f');
  t.after(() => silent.close());
  while (silent.packets() === 0) await new Promise((r) => setTimeout(r, 10));
  const busy = await rawFetch(s.port, 'f');
  assert.match(busy.error?.message ?? '', /busy/);
  await s.server.stop();
  assert.equal((await s.logged((e) => e.path === 'f' && e.result === 'aborted')).client, '127.0.0.1');
});
