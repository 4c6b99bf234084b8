/** What one cpio archive in a buffer held: member names and where the archive ended. */
export interface CpioArchive {
  names: string[];
  end: number;
  /** Set when the archive is malformed or truncated (names read so far are kept). */
  error?: string;
}

const HEADER = 110;
const TRAILER = 'TRAILER!!!';

function hex(data: Buffer, at: number): number {
  const text = data.toString('latin1', at, at + 8);
  return /^[0-9a-fA-F]{8}$/.test(text) ? Number.parseInt(text, 16) : Number.NaN;
}

/** True when a "newc" cpio header (070701, or 070702 with checksums) starts at `offset`. */
export function isCpioAt(data: Buffer, offset: number): boolean {
  const magic = data.toString('latin1', offset, offset + 6);
  return magic === '070701' || magic === '070702';
}

/** Lists the member names of one "newc" cpio archive starting at `offset`, up to its trailer (pure). */
export function parseCpio(data: Buffer, offset: number): CpioArchive {
  const names: string[] = [];
  let at = offset;
  for (;;) {
    if (at + HEADER > data.length) return { names, end: at, error: `truncated cpio archive at offset ${at}` };
    if (!isCpioAt(data, at)) return { names, end: at, error: `bad cpio header at offset ${at}` };
    const fileSize = hex(data, at + 54);
    const nameSize = hex(data, at + 94);
    if (Number.isNaN(fileSize) || Number.isNaN(nameSize) || nameSize < 1 || nameSize > 4096) return { names, end: at, error: `bad cpio header at offset ${at}` };
    const nameEnd = at + HEADER + nameSize;
    if (nameEnd > data.length) return { names, end: at, error: `truncated cpio archive at offset ${at}` };
    const name = data.toString('utf8', at + HEADER, nameEnd - 1);
    const dataStart = Math.ceil(nameEnd / 4) * 4;
    const next = Math.ceil((dataStart + fileSize) / 4) * 4;
    if (name === TRAILER) return { names, end: Math.min(next, data.length) };
    if (dataStart + fileSize > data.length) return { names, end: at, error: `truncated cpio archive at offset ${at}` };
    names.push(name.replace(/^\.?\/+/, ''));
    at = next;
  }
}
