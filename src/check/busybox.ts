/** Applets WalT's boot procedure runs through /bin/busybox (seed 001, B.6). */
export const REQUIRED_APPLETS = ['awk', 'cat', 'chroot', 'ls', 'mktemp', 'mkfifo', 'nc', 'realpath', 'reboot', 'rm', 'sed', 'sh', 'sleep', 'timeout', 'uname'] as const;

const MIN_RUN = 8;
const MAX_NAME = 40;

function isNameByte(b: number): boolean {
  // a-z 0-9 _ - . [ — the characters busybox applet names use ("[[", "run-parts", "mkfs.ext2")
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x5f || b === 0x2d || b === 0x2e || b === 0x5b || b === 0x5d;
}

/**
 * Finds busybox's applet name table in its binary without running it: the longest run of
 * NUL-separated names in strictly increasing order (busybox keeps them sorted for its
 * binary search). Undefined when no such run exists.
 */
export function findAppletNames(data: Buffer): string[] | undefined {
  let best: [number, number] = [0, 0]; // [start, count] of the best run
  let runStart = -1;
  let runCount = 0;
  let prevStart = -1;
  let prevEnd = -1;
  let i = 0;
  const closeRun = (): void => {
    if (runCount > best[1]) best = [runStart, runCount];
    runStart = -1;
    runCount = 0;
  };
  while (i < data.length) {
    // A name starts after a NUL byte.
    if (i > 0 && data[i - 1] !== 0) {
      const nul = data.indexOf(0, i);
      if (nul < 0) break;
      closeRun();
      i = nul + 1;
      continue;
    }
    let j = i;
    while (j < data.length && j - i <= MAX_NAME && isNameByte(data[j] as number)) j++;
    const valid = j > i && j < data.length && data[j] === 0 && j - i <= MAX_NAME;
    if (!valid) {
      closeRun();
      const nul = data.indexOf(0, i);
      if (nul < 0) break;
      i = nul + 1;
      continue;
    }
    if (runCount > 0 && prevEnd === i - 1 && Buffer.compare(data.subarray(prevStart, prevEnd), data.subarray(i, j)) < 0) {
      runCount++;
    } else {
      closeRun();
      runStart = i;
      runCount = 1;
    }
    prevStart = i;
    prevEnd = j;
    i = j + 1;
  }
  closeRun();
  if (best[1] < MIN_RUN) return undefined;
  const names: string[] = [];
  let at = best[0];
  for (let n = 0; n < best[1]; n++) {
    const end = data.indexOf(0, at);
    names.push(data.subarray(at, end).toString('latin1'));
    at = end + 1;
  }
  return names;
}
