/** A file a second-stage boot script downloads over TFTP/HTTP, and what it is for. */
export interface BootLoad {
  role: 'kernel' | 'initrd' | 'dtb' | 'file';
  /** The path as the server sees it: relative to /boot/<model>/ (seed 001, B.3: TFTP redirection). */
  name: string;
  line: number;
}

/** What a start.uboot or start.ipxe script loads; names it cannot resolve (variables) are listed apart. */
export interface BootScript {
  kind: 'u-boot' | 'ipxe';
  loads: BootLoad[];
  unresolved: string[];
  /** Why the script could not be read, when it could not. */
  error?: string;
}

const UIMAGE_MAGIC = 0x27051956;

/** The text of a U-Boot script, unwrapping a legacy mkimage header (`mkimage -T script`). */
function scriptText(data: Buffer): string | { error: string } {
  if (data.length >= 4 && data.readUInt32BE(0) === 0xd00dfeed) return { error: 'a FIT image; Kiln reads plain and legacy (mkimage -T script) scripts' };
  if (data.length < 64 || data.readUInt32BE(0) !== UIMAGE_MAGIC) return data.toString('utf8');
  // Header (64 bytes), then a 0-terminated list of 32-bit lengths, then the first image: the script.
  let at = 64;
  const lengths: number[] = [];
  while (at + 4 <= data.length && lengths.length < 64) {
    const n = data.readUInt32BE(at);
    at += 4;
    if (n === 0) break;
    lengths.push(n);
  }
  const first = lengths[0];
  if (first === undefined || at + first > data.length) return { error: 'a truncated mkimage script' };
  return data.toString('utf8', at, at + first);
}

function unquote(token: string): string {
  return token.replace(/^["']|["']$/g, '');
}

/** Maps a URI or TFTP name to the path below /boot/<model>/, or undefined when variables remain. */
function serverPath(uri: string): string | undefined {
  let path = unquote(uri).replace(/^[a-z]+:\/\/[^/]*/i, ''); // tftp://${next-server}/x, http://host/x
  path = path.replace(/^(?:\$\{[^}]+\}|\$[A-Za-z_]\w*|[0-9.]+):(?!\/\/)/, ''); // U-Boot [host:]file
  path = path.replace(/^(?:\$\{[^}]+\}\/)+/, ''); // ${base-url}/kernel
  path = path.replace(/[?#].*$/, '');
  if (path === '' || /\$/.test(path)) return undefined;
  return path.replace(/^\/+/, '');
}

function roleOf(hint: string, name: string): BootLoad['role'] {
  const h = `${hint} ${name}`.toLowerCase();
  if (/ramdisk|initrd|initramfs/.test(h)) return 'initrd';
  if (/fdt|dtb/.test(h)) return 'dtb';
  if (/kernel|vmlinu|zimage|bzimage|\bimage\b|uimage/.test(h)) return 'kernel';
  return 'file';
}

const IPXE_LOADERS = new Set(['kernel', 'initrd', 'imgfetch', 'module', 'chain', 'imgload', 'imgexec', 'imgselect']);
const UBOOT_LOADERS = new Set(['tftp', 'tftpboot', 'tftpb', 'wget', 'nfs']);

/** Reads which files a second-stage boot script (start.uboot or start.ipxe) downloads (pure). */
export function parseBootScript(data: Buffer, kind: BootScript['kind']): BootScript {
  const text = kind === 'u-boot' ? scriptText(data) : data.toString('utf8');
  if (typeof text !== 'string') return { kind, loads: [], unresolved: [], error: text.error };
  if (text.includes('\0')) return { kind, loads: [], unresolved: [], error: 'binary data, not a script' };
  const loads: BootLoad[] = [];
  const unresolved: string[] = [];
  const add = (role: BootLoad['role'], uri: string, line: number): void => {
    const name = serverPath(uri);
    if (name === undefined) unresolved.push(unquote(uri));
    else loads.push({ role, name, line });
  };
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    for (const command of kind === 'u-boot' ? raw.split(';') : [raw]) {
      const tokens = command.trim().split(/\s+/).filter(Boolean);
      const verb = tokens[0];
      if (!verb || verb.startsWith('#')) continue;
      if (kind === 'ipxe' && IPXE_LOADERS.has(verb)) {
        const args: string[] = [];
        for (let i = 1; i < tokens.length; i++) {
          const t = tokens[i] as string;
          if (t === '||' || t === '&&') break;
          if (/^--?[a-z]/.test(t)) {
            if (!t.includes('=') && /^(?:-n|--name|-t|--timeout)$/.test(t)) i++;
            continue;
          }
          args.push(t);
        }
        const uri = args[0];
        if (uri === undefined) continue;
        const role: BootLoad['role'] = verb === 'kernel' ? 'kernel' : verb === 'initrd' || verb === 'module' ? (/\.dtb$/.test(uri) ? 'dtb' : 'initrd') : roleOf('', uri);
        add(role, uri, line);
      } else if (kind === 'u-boot' && UBOOT_LOADERS.has(verb)) {
        const args = tokens.slice(1).filter((t) => t !== '||' && t !== '&&');
        const cut = args.findIndex((t) => t === '||' || t === '&&' || t === 'reset');
        const real = cut >= 0 ? args.slice(0, cut) : args;
        if (real.length === 0) continue;
        const [addr, file] = real.length >= 2 ? [real[0] as string, real[1] as string] : /addr|^0x[0-9a-f]+$/i.test(real[0] as string) ? [real[0] as string, undefined] : ['', real[0] as string];
        if (file === undefined) {
          unresolved.push(`${verb} ${addr} (the file name comes from the bootfile variable)`);
          continue;
        }
        add(roleOf(addr, unquote(file)), file, line);
      }
    }
  });
  return { kind, loads, unresolved };
}
