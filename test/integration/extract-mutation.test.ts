import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { applyLayer, type Descriptor } from '../../src/store/index.ts';
import { digestOf, isKilnError, type Digest } from '../../src/core/index.ts';
import { scratch } from '../helpers.ts';
import { rawTar, type RawMember } from '../raw-tar.ts';
import { prng } from '../mutators.ts';

function fingerprint(dir: string): string {
  const lines: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      const st = lstatSync(full);
      lines.push(`${full} ${st.mode} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(full);
      else if (st.isFile()) lines.push(createHash('sha256').update(readFileSync(full)).digest('hex'));
    }
  };
  walk(dir);
  return lines.join('\n');
}

/** Offsets of the header blocks of a raw tar (members and pax records), found by walking it. */
function headerOffsets(tar: Buffer): number[] {
  const offsets: number[] = [];
  let off = 0;
  while (off + 512 <= tar.length && tar.subarray(off, off + 512).some((b) => b !== 0)) {
    offsets.push(off);
    const size = Number.parseInt(tar.subarray(off + 124, off + 136).toString('latin1').replace(/\0.*$/, '').trim() || '0', 8);
    const flag = String.fromCharCode(tar[off + 156] ?? 0);
    off += 512 + (flag === '2' || flag === '1' || flag === '5' ? 0 : Math.ceil(size / 512) * 512);
  }
  return offsets;
}

function rechecksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
}

const FIELDS = [[0, 100], [100, 8], [108, 8], [116, 8], [124, 12], [136, 12], [156, 1], [157, 100], [329, 8], [337, 8], [345, 155]] as const;

/** One mutation of a header block: a field overwritten with something a hostile writer would try. */
function mutate(tar: Buffer, rand: () => number, canary: string): Buffer {
  const out = Buffer.from(tar);
  const offsets = headerOffsets(out);
  const at = offsets[Math.floor(rand() * offsets.length)] ?? 0;
  const block = out.subarray(at, at + 512);
  const [start, length] = FIELDS[Math.floor(rand() * FIELDS.length)] as readonly [number, number];
  const choices: Array<() => string | Buffer> = [
    () => `../../../../..${canary}/x`,
    () => `${canary}/y`,
    () => '/',
    () => '.',
    () => 'a/../../b',
    () => String.fromCharCode(...Array.from({ length }, () => Math.floor(rand() * 256))),
    () => '77777777777',
    () => Buffer.from([0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    () => Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    () => '0000000',
    () => '1234567',
    () => '-1',
    () => '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZxLKSgV'[Math.floor(rand() * 42)] as string,
  ];
  const value = (choices[Math.floor(rand() * choices.length)] as () => string | Buffer)();
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1');
  block.fill(0, start, start + length);
  bytes.copy(block, start, 0, Math.min(bytes.length, length));
  if (rand() < 0.5) rechecksum(block);
  const r = rand();
  if (r < 0.1) return out.subarray(0, Math.floor(rand() * out.length));
  if (r < 0.2) {
    const i = Math.floor(rand() * out.length);
    out[i] = (out[i] ?? 0) ^ (1 << Math.floor(rand() * 8));
  }
  return out;
}

test('seeded mutation run: 2,000 mutated layers through the extractor give KilnErrors or a tree inside the root, never a crash or a write outside', async (t) => {
  const dir = scratch(t, 'kiln-mutate');
  const canary = join(dir, 'canary');
  mkdirSync(canary);
  writeFileSync(join(canary, 'secret'), 'secret\n');
  const before = fingerprint(canary);
  const base: RawMember[] = [
    { name: 'etc/', type: 'directory' },
    { name: 'etc/hostname', content: 'node\n' },
    { name: 'etc/link', type: 'symlink', linkname: canary },
    { name: 'usr/', type: 'directory' },
    { name: 'usr/bin/', type: 'directory' },
    { name: 'usr/bin/tool', content: 'x'.repeat(1500), mode: 0o4755, pax: { 'SCHILY.xattr.user.a': 'b' } },
    { name: 'usr/bin/hard', type: 'hardlink', linkname: 'usr/bin/tool' },
    { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
    { name: 'bin/via', content: 'via\n' },
    { name: 'dev/', type: 'directory' },
    { name: 'dev/.wh.gone' },
    { name: 'opt/.wh..wh..opq' },
  ];
  const tar = rawTar(base);
  const seed = Number(process.env.KILN_MUTATION_SEED ?? 20261201);
  const cases = Number(process.env.KILN_MUTATION_CASES ?? 2000);
  const rand = prng(seed);
  const outcomes = { ok: 0, refused: new Map<string, number>() };
  const deadline = Date.now() + 240_000;
  for (let i = 0; i < cases && Date.now() < deadline; i++) {
    const bytes = mutate(tar, rand, canary);
    const root = join(dir, 'root');
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root);
    const layer: Descriptor = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(bytes) as Digest, size: bytes.length };
    // Overlay mode makes a device per whiteout (a process each): every fourth case.
    for (const mode of i % 4 === 0 ? (['merge', 'overlay'] as const) : (['merge'] as const)) {
      try {
        await applyLayer(root, layer, () => Readable.from([bytes]), { mode });
        outcomes.ok++;
      } catch (err) {
        assert.ok(isKilnError(err), `seed ${seed} case ${i} (${mode}): not a KilnError: ${(err as Error).stack}`);
        outcomes.refused.set(err.code, (outcomes.refused.get(err.code) ?? 0) + 1);
      }
    }
    assert.equal(fingerprint(canary), before, `seed ${seed} case ${i}: nothing outside the root changed`);
  }
  t.diagnostic(`extracted ${outcomes.ok}, refused ${JSON.stringify(Object.fromEntries(outcomes.refused))}`);
  assert.ok(outcomes.ok > 0 && outcomes.refused.size > 0, 'the run exercised both outcomes');
});
