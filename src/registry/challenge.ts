/** One authentication challenge of a WWW-Authenticate header (RFC 7235 §4.1). */
export interface Challenge {
  /** Lower-cased scheme: "basic", "bearer", … */
  scheme: string;
  /** Lower-cased parameter names: realm, service, scope, error, … */
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/u;

/**
 * Parses a WWW-Authenticate header into its challenges, e.g.
 * `Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"`.
 * Unparseable tails are ignored rather than guessed at.
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let rest = header.trim();
  let current: Challenge | undefined;
  while (rest.length > 0) {
    rest = rest.replace(/^[\s,]+/u, '');
    const token = TOKEN.exec(rest)?.[0];
    if (!token) break;
    const after = rest.slice(token.length);
    const param = /^\s*=\s*/u.exec(after);
    if (param && current && !/^\s*=\s*=/u.test(after)) {
      rest = after.slice(param[0].length);
      let value: string;
      if (rest.startsWith('"')) {
        let i = 1;
        value = '';
        while (i < rest.length && rest[i] !== '"') {
          if (rest[i] === '\\' && i + 1 < rest.length) i++;
          value += rest[i];
          i++;
        }
        rest = rest.slice(i + 1);
      } else {
        value = /^[^,\s]*/u.exec(rest)?.[0] ?? '';
        rest = rest.slice(value.length);
      }
      current.params[token.toLowerCase()] = value;
      continue;
    }
    current = { scheme: token.toLowerCase(), params: {} };
    out.push(current);
    rest = after;
    // token68 form (`Basic abc==`): skip it, it carries no parameters.
    const t68 = /^\s+[A-Za-z0-9._~+/-]+=*\s*(?:,|$)/u.exec(rest);
    if (t68 && !/=\s*"/u.test(t68[0]) && !/^\s+[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*=[^=]/u.test(rest)) rest = rest.slice(t68[0].length);
  }
  return out;
}
