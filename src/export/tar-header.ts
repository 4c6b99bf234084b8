/** A ustar header for a directory owned by root (mode 0755), as GNU tar writes one. */
export function directoryHeader(name: string, mtime = 0): Buffer {
  const block = Buffer.alloc(512);
  const put = (value: string, offset: number, length: number): void => {
    block.write(value.slice(0, length), offset, length, 'utf8');
  };
  const octal = (value: number, offset: number, length: number): void => put(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length);
  put(name.endsWith('/') ? name : `${name}/`, 0, 100);
  octal(0o755, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(0, 124, 12);
  octal(mtime, 136, 12);
  put('5', 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  put('root', 265, 32);
  put('root', 297, 32);
  // The checksum is computed with its own field as eight spaces.
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return block;
}

/** Mount points a live initramfs needs in the root filesystem (it mounts proc, sys, dev and run onto them). */
export const MOUNT_POINTS: readonly string[] = ['proc', 'sys', 'dev', 'run'];
