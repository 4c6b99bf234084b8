import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { KilnError, ErrorCode } from '../core/index.ts';
import type { StepInput } from './plan.ts';
import type { BuildSpec } from './spec.ts';

/** What running one step inside the sandbox takes: the command, read-only binds, environment. */
export interface StepCommand {
  argv: string[];
  binds: Array<readonly [string, string]>;
  env: Record<string, string>;
}

/** Quotes a word for sh. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

const APT_CLEAN = 'apt-get clean && rm -rf /var/lib/apt/lists/*';

/** The sources.list line of a repo: a full "deb …" line, "URI suite components", or a bare URI (suite from `apt:`, component main). */
export function aptSourceLine(url: string, suite: string, keyFile: string | undefined): string {
  const signed = keyFile ? `[signed-by=${keyFile}] ` : '';
  if (/^deb(-src)?\s/.test(url)) return url;
  return /\s/.test(url.trim()) ? `deb ${signed}${url.trim()}` : `deb ${signed}${url} ${suite} main`;
}

/** Fetches a repository key on the host (the image may have no downloader yet). */
async function fetchKey(url: string, alias: string): Promise<Uint8Array> {
  const res = await fetch(url).catch((err: unknown) => {
    throw new KilnError(ErrorCode.NETWORK, `repos ${alias}: cannot fetch gpg key ${url}: ${(err as Error).message}`, { cause: err });
  });
  if (!res.ok) throw new KilnError(ErrorCode.NETWORK, `repos ${alias}: gpg key ${url} answered HTTP ${res.status}`, { hint: 'check the gpg URL of the repo' });
  return new Uint8Array(await res.arrayBuffer());
}

/** The real host path of a copyfiles source, checked by loadSpecs (inside the spec's directory or an allowed root). */
function checkedSource(spec: BuildSpec, src: string): string {
  const host = spec.copyHosts?.get(src);
  if (host === undefined) throw new KilnError(ErrorCode.CONFIG, `${spec.file}: copyfiles source "${src}" was not checked`, { hint: 'specs are read with loadSpecs, which checks their host files' });
  return host;
}

/** The sandboxed command of a step (apt), preparing host-side inputs under `work`. */
export async function stepCommand(spec: BuildSpec, input: StepInput, work: string): Promise<StepCommand> {
  const env: Record<string, string> = spec.options.proxy ? { http_proxy: spec.options.proxy, https_proxy: spec.options.proxy } : {};
  const sh = (script: string, args: string[] = []): string[] => ['/bin/sh', '-c', script, 'sh', ...args];
  switch (input.kind) {
    case 'repos': {
      const dir = join(work, 'in');
      await mkdir(dir, { recursive: true });
      for (const r of input.repos) {
        let keyFile: string | undefined;
        if (r.gpg) {
          const key = await fetchKey(r.gpg, r.alias);
          const armored = Buffer.from(key.subarray(0, 40)).toString('latin1').includes('-----BEGIN');
          keyFile = `/etc/apt/keyrings/kiln-${r.alias}.${armored ? 'asc' : 'gpg'}`;
          await writeFile(join(dir, basename(keyFile)), key);
        }
        await writeFile(join(dir, `kiln-${r.alias}.list`), `${aptSourceLine(r.url, spec.apt.suite, keyFile)}\n`);
      }
      const script = 'set -e; mkdir -p /etc/apt/sources.list.d /etc/apt/keyrings; for f in /tmp/kiln-in/*; do case "$f" in *.list) cp "$f" /etc/apt/sources.list.d/ ;; *) cp "$f" /etc/apt/keyrings/ ;; esac; chmod 644 /etc/apt/*/"${f##*/}"; done';
      return { argv: sh(script), binds: [[dir, '/tmp/kiln-in']], env };
    }
    case 'package_groups':
    case 'packages':
      return { argv: sh(`set -e; apt-get update -q; apt-get install -y -q --no-install-recommends "$@"; ${APT_CLEAN}`, input.names), binds: [], env };
    case 'remove_packages':
      return { argv: sh(`set -e; apt-get purge -y -q "$@"; ${APT_CLEAN}`, input.names), binds: [], env };
    case 'copyfiles': {
      const binds: Array<readonly [string, string]> = [];
      const lines = ['set -e'];
      input.files.forEach((f, i) => {
        const inside = `/tmp/kiln-copy/${i}`;
        binds.push([checkedSource(spec, f.src), inside]);
        const dst = f.dst.endsWith('/') ? `${f.dst}${basename(f.src)}` : f.dst;
        lines.push(
          `if [ -d ${inside} ]; then mkdir -p ${shellQuote(dst)} && cp -R -P --preserve=mode ${inside}/. ${shellQuote(dst)}/;`
            + ` else mkdir -p "$(dirname ${shellQuote(dst)})" && cp --preserve=mode ${inside} ${shellQuote(dst)}; fi`,
        );
      });
      return { argv: sh(lines.join('\n')), binds, env };
    }
    case 'cmd':
      return { argv: ['/bin/sh', '-c', input.cmd], binds: [], env };
    case 'bootstrap':
    case 'ansible':
      throw new Error(`${input.kind} runs on the host, not in the sandbox`);
  }
}
