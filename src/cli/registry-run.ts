// What the registry commands (`kiln image search|clone|publish`, `kiln login|logout`, `kiln registry list`) do once parsed; loaded only when one of them runs (the table is registry-commands.ts).
import { KilnError, ErrorCode } from '../core/index.ts';
import { formatImageRef, loadCheckFormat, shortImageName, type Credentials } from '../app/index.ts';
import type { Run } from './command.ts';
import { renderTable } from './format.ts';

export const search: Run = async (ctx, [keyword]) => {
  const { hits, failures } = await ctx.kiln.searchImages(ctx.request(), keyword);
  for (const f of failures) ctx.logger.warn(`${f.location}: skipped: ${f.message}${f.hint ? ` (hint: ${f.hint})` : ''}`);
  if (ctx.json) {
    ctx.out(JSON.stringify({ images: hits, unreachable: failures }, null, 2));
    return;
  }
  if (hits.length === 0) {
    ctx.out('Sorry, no image could match your request.');
    return;
  }
  const link = (h: (typeof hits)[number]): string => h.cloneUrl ?? `[needs a newer server: walt.server.minversion=${h.minVersion}]`;
  ctx.out(renderTable(['User', 'Image name', 'Location', 'Compatibility', 'Clonable link'], hits.map((h) => [h.user, shortImageName(h), h.where, h.models.join(','), link(h)])));
};

export const clone: Run = async (ctx, [url, name], values) => {
  const result = await ctx.kiln.cloneImage(ctx.request(), url as string, {
    name, force: values.force === true, platform: typeof values.platform === 'string' ? values.platform : undefined,
  });
  const { record, check } = result;
  if (ctx.json) {
    ctx.out(JSON.stringify({
      name: shortImageName(record.ref), ref: formatImageRef(record.ref), url, digest: record.manifestDigest,
      sourceDigest: result.sourceDigest ?? null, downloaded: result.downloaded ?? null, reused: result.reused ?? null,
      ...(check ? { check: { ok: check.ok, counts: check.counts } } : {}),
    }, null, 2));
  } else if (!ctx.quiet) {
    ctx.out(`Cloned ${url} as ${shortImageName(record.ref)} (${record.manifestDigest})`);
    if (check) ctx.out((await loadCheckFormat()).formatCheckSummary(check));
  }
};

export const publish: Run = async (ctx, [image], values) => {
  // A failed boot throws BOOT_FAILED: nothing is pushed.
  const booted = values['boot-test'] === true ? await (await import('./boot-test-run.ts')).runBootTest(ctx, image as string, values, false) : undefined;
  const r = await ctx.kiln.publishImage(ctx.request(), image as string, { registry: values.registry as string | undefined, force: values.force === true });
  if (ctx.json) {
    ctx.out(JSON.stringify({ ref: formatImageRef(r.record.ref), registry: r.registry.label, cloneUrl: r.cloneUrl, digest: r.digest, blobs: r.blobs, ...(booted ? { bootTest: booted } : {}) }, null, 2));
    return;
  }
  if (!ctx.quiet) ctx.out(`Published ${shortImageName(r.record.ref)} to ${r.registry.label} (${r.blobs.uploaded} blobs uploaded, ${r.blobs.mounted} mounted, ${r.blobs.exists} already there)`);
  ctx.out(`Clone URL: ${r.cloneUrl}`);
};

async function readStdin(): Promise<string> {
  let text = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) text += chunk as string;
  return text.replace(/\r?\n$/u, '');
}

/** Reads a line from the terminal; with `hidden`, nothing typed is echoed. */
function prompt(question: string, hidden: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const input = process.stdin;
    process.stderr.write(question);
    let answer = '';
    const finish = (err?: Error): void => {
      input.off('data', onData);
      if (hidden) input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(answer);
    };
    const onData = (data: string): void => {
      for (const ch of data) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || ch === '\u0004') return finish(new KilnError(ErrorCode.USAGE, 'login cancelled', { hint: 'nothing was saved' }));
        if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
        else answer += ch;
        if (!hidden) process.stderr.write(ch);
      }
    };
    input.setEncoding('utf8');
    if (hidden) input.setRawMode(true);
    input.on('data', onData);
    input.resume();
  });
}

async function askCredentials(username: string | undefined, passwordStdin: boolean): Promise<Credentials> {
  if (passwordStdin) {
    if (username === undefined) throw new KilnError(ErrorCode.USAGE, '--password-stdin needs --username', { hint: 'kiln login <label> --username <user> --password-stdin' });
    return { username, password: await readStdin() };
  }
  if (!process.stdin.isTTY) {
    throw new KilnError(ErrorCode.USAGE, 'no terminal to ask for the password', { hint: 'pipe it in: kiln login <label> --username <user> --password-stdin' });
  }
  const user = username ?? (await prompt('Username: ', false));
  return { username: user, password: await prompt('Password: ', true) };
}

export const loginCmd: Run = async (ctx, [label], values) => {
  const creds = await askCredentials(values.username as string | undefined, values['password-stdin'] === true);
  const { registry, file } = await ctx.kiln.login(ctx.request(), label as string, creds);
  if (ctx.json) ctx.out(JSON.stringify({ registry: registry.label, username: creds.username, authFile: file }));
  else if (!ctx.quiet) ctx.out(`Logged in to ${registry.label} as ${creds.username} (credentials in ${file})`);
};

export const logoutCmd: Run = async (ctx, [label]) => {
  const { registry, file } = await ctx.kiln.logout(ctx.request(), label as string);
  if (ctx.json) ctx.out(JSON.stringify({ registry: registry.label, authFile: file }));
  else if (!ctx.quiet) ctx.out(`Logged out of ${registry.label} (${file})`);
};

export const list: Run = async (ctx) => {
  const rows = await ctx.kiln.listRegistries(ctx.request());
  if (ctx.json) {
    ctx.out(JSON.stringify(rows, null, 2));
    return;
  }
  if (rows.length === 0) {
    ctx.out('No registry is configured (kiln.yaml has an empty registries list).');
    return;
  }
  ctx.out(renderTable(['Label', 'API', 'URL', 'Protocol', 'Auth', 'Repository', 'Logged in'],
    rows.map((r) => [r.label, r.api, r.url, r.protocol, r.auth, r.repository ?? '-', r.loggedIn ? 'yes' : 'no'])));
};
