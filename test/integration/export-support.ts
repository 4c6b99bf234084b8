import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from '../helpers.ts';

/** Everything a user could notice of a tree: per path its type, mode, owners, size, content, target, device, xattrs, hardlink group. */
export function describeTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const inodes = new Map<number, string>();
  const xattrs = new Map<string, string>();
  const dump = sh('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', root]);
  let current = '';
  for (const line of dump.split('\n')) {
    if (line.startsWith('# file: ')) current = line.slice(8);
    else if (line.includes('=')) xattrs.set(current, `${xattrs.get(current) ?? ''}${line};`);
  }
  const walk = (rel: string): void => {
    const path = join(root, rel);
    const st = lstatSync(path);
    let what = `${st.mode.toString(8)} ${st.uid}:${st.gid}`;
    if (st.isFile()) {
      what += ` ${st.size} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
      if (st.nlink > 1) {
        const first = inodes.get(st.ino) ?? rel;
        inodes.set(st.ino, first);
        what += ` link-group:${first}`;
      }
    }
    if (st.isSymbolicLink()) what += ` -> ${readlinkSync(path)}`;
    if (st.isCharacterDevice() || st.isBlockDevice()) what += ` rdev ${st.rdev}`;
    what += ` ${xattrs.get(path) ?? ''}`;
    out[rel] = what;
    if (st.isDirectory()) for (const name of readdirSync(path).sort()) walk(rel === '' ? name : `${rel}/${name}`);
  };
  walk('');
  return out;
}

