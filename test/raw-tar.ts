/** A raw tar writer for hostile fixtures: headers say exactly what the test wants, even what no tar tool would write. */

/** One raw member. `size` overrides the header's size field (e.g. a symlink that declares data). */
export interface RawMember {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';
  content?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  devmajor?: number;
  devminor?: number;
  /** pax records (e.g. SCHILY.xattr.user.x), written as an 'x' header before the member. */
  pax?: Record<string, string>;
}

const FLAGS = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', directory: '5', fifo: '6' } as const;

/** One 512-byte ustar header block. */
export function rawHeader(name: string, flag: string, size: number, options: { linkname?: string; mode?: number; uid?: number; gid?: number; devmajor?: number; devminor?: number } = {}): Buffer {
  const block = Buffer.alloc(512);
  const put = (value: string, offset: number, length: number): void => {
    block.write(value.slice(0, length), offset, length, 'utf8');
  };
  const octal = (value: number, offset: number, length: number): void => put(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length);
  put(name, 0, 100);
  octal(options.mode ?? 0o644, 100, 8);
  octal(options.uid ?? 0, 108, 8);
  octal(options.gid ?? 0, 116, 8);
  octal(size, 124, 12);
  octal(1_700_000_000, 136, 12);
  put(flag, 156, 1);
  put(options.linkname ?? '', 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  octal(options.devmajor ?? 0, 329, 8);
  octal(options.devminor ?? 0, 337, 8);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return block;
}

function padded(data: Buffer): Buffer {
  const pad = (512 - (data.length % 512)) % 512;
  return Buffer.concat([data, Buffer.alloc(pad)]);
}

function paxRecords(pax: Record<string, string>): Buffer {
  const records = Object.entries(pax).map(([k, v]) => {
    const body = `${k}=${v}\n`;
    let len = Buffer.byteLength(body) + 2;
    while (Buffer.byteLength(`${len} ${body}`) !== len) len = Buffer.byteLength(`${len} ${body}`);
    return Buffer.from(`${len} ${body}`, 'utf8');
  });
  return Buffer.concat(records);
}

/** A tar archive from raw members, closed by two zero blocks. */
export function rawTar(members: readonly RawMember[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    const type = m.type ?? 'file';
    const content = m.content === undefined ? Buffer.alloc(0) : Buffer.isBuffer(m.content) ? m.content : Buffer.from(m.content);
    if (m.pax) {
      const records = paxRecords(m.pax);
      parts.push(rawHeader(`PaxHeaders/${m.name}`.slice(0, 99), 'x', records.length), padded(records));
    }
    const mode = m.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644);
    parts.push(rawHeader(m.name, FLAGS[type], m.size ?? content.length, { mode, ...(m.linkname !== undefined ? { linkname: m.linkname } : {}), uid: m.uid ?? 0, gid: m.gid ?? 0, devmajor: m.devmajor ?? 0, devminor: m.devminor ?? 0 }));
    if (content.length > 0) parts.push(padded(content));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
