import { KilnError, ErrorCode } from '../core/index.ts';

/** One instruction of a Dockerfile, with where it starts. */
export interface DockerInstruction {
  /** Upper-case keyword: FROM, RUN, COPY… */
  keyword: string;
  /** The text after the keyword and its flags, continuation lines joined (escape + newline removed). */
  args: string;
  /** `--name=value` flags before the arguments (FROM, RUN, COPY, ADD). */
  flags: Record<string, string>;
  /** The JSON (exec) form's strings, when the arguments are a JSON array of strings. */
  json?: string[];
  line: number;
  col: number;
}

/** A parsed Dockerfile: its file name (for messages), escape character and instructions. */
export interface ParsedDockerfile {
  file: string;
  escape: string;
  instructions: DockerInstruction[];
}

/** The instructions Kiln builds; any other is an error at its position. */
export const DOCKER_KEYWORDS = ['FROM', 'RUN', 'COPY', 'ADD', 'ENV', 'ARG', 'LABEL', 'WORKDIR', 'USER', 'SHELL', 'ENTRYPOINT', 'CMD', 'EXPOSE', 'VOLUME'] as const;
const FLAGGED = new Set(['FROM', 'RUN', 'COPY', 'ADD']);

/** A Dockerfile error at `file:line:col`. */
export function dockerfileError(file: string, line: number, col: number, message: string, hint?: string): KilnError {
  return new KilnError(ErrorCode.CONFIG, `${file}:${line}:${col}: ${message}`, { hint: hint ?? 'see the Dockerfile reference; Kiln builds the instructions listed in its README' });
}

/** Reads the parser directives at the top (`# escape=` and `# syntax=`); stops at the first other line. */
function directives(lines: readonly string[]): { escape: string; count: number } {
  let escape = '\\';
  let count = 0;
  for (const line of lines) {
    const m = /^\s*#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$/.exec(line);
    if (!m) break;
    const name = (m[1] as string).toLowerCase();
    if (name === 'escape') escape = m[2] as string;
    else if (name !== 'syntax' && name !== 'check') break;
    count++;
  }
  return { escape, count };
}

/** Splits leading `--flag=value` words off `text`. */
function takeFlags(text: string): { flags: Record<string, string>; rest: string; bad?: string } {
  const flags: Record<string, string> = {};
  let rest = text;
  for (;;) {
    const m = /^--([a-zA-Z-]+)(?:=(\S*))?\s*/.exec(rest);
    if (!m) break;
    if (m[2] === undefined) return { flags, rest, bad: m[1] as string };
    flags[m[1] as string] = m[2];
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

function jsonForm(text: string): string[] | undefined {
  if (!text.startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;
  } catch {
    // Not JSON: Docker then takes the text as the shell form.
    return undefined;
  }
}

/**
 * Parses a Dockerfile (pure): parser directives, comments, line continuations with the
 * escape character, keywords, flags and the exec form. Unknown or unsupported instructions
 * are errors with `file:line:col`.
 */
export function parseDockerfile(text: string, file: string): ParsedDockerfile {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const { escape, count } = directives(lines);
  const instructions: DockerInstruction[] = [];
  let i = count;
  while (i < lines.length) {
    const first = lines[i] as string;
    const start = i;
    i++;
    const trimmed = first.trimStart();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const col = first.length - trimmed.length + 1;
    // Joins continuation lines; comment and empty lines inside an instruction are dropped, as Docker does.
    let body = trimmed;
    const continues = (s: string): boolean => s.trimEnd().endsWith(escape);
    while (continues(body) && i <= lines.length) {
      body = body.trimEnd().slice(0, -escape.length);
      while (i < lines.length && /^\s*(#.*)?$/.test(lines[i] as string)) i++;
      if (i >= lines.length) break;
      body += lines[i] as string;
      i++;
    }
    const m = /^(\S+)\s*([\s\S]*)$/.exec(body) as RegExpExecArray;
    const keyword = (m[1] as string).toUpperCase();
    if (!(DOCKER_KEYWORDS as readonly string[]).includes(keyword)) {
      throw dockerfileError(file, start + 1, col, `unsupported instruction ${m[1]}`, `Kiln builds ${DOCKER_KEYWORDS.join(', ')}; remove or replace this instruction`);
    }
    let rest = (m[2] as string).trim();
    let flags: Record<string, string> = {};
    if (FLAGGED.has(keyword)) {
      const taken = takeFlags(rest);
      if (taken.bad !== undefined) throw dockerfileError(file, start + 1, col, `${keyword} flag --${taken.bad} needs a value (--${taken.bad}=…)`);
      flags = taken.flags;
      rest = taken.rest;
    }
    if (/(^|\s)<<-?["']?[A-Za-z_]/.test(rest) && ['RUN', 'COPY', 'ADD'].includes(keyword)) {
      throw dockerfileError(file, start + 1, col, `${keyword}: heredocs are not supported`, 'write the content to a file of the context and COPY it');
    }
    const json = jsonForm(rest);
    instructions.push({ keyword, args: rest, flags, ...(json ? { json } : {}), line: start + 1, col });
  }
  return { file, escape, instructions };
}

/** Splits words as Docker does for COPY, ADD, ENV, LABEL, ARG, EXPOSE, VOLUME: whitespace separates, quotes group, the escape character escapes. */
export function splitWords(text: string, escape: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === escape && i + 1 < text.length && quote !== "'") {
      word += text[i + 1];
      inWord = true;
      i++;
    } else if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * Expands `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alt}` from `vars` (unset is empty);
 * the escape character before `$` keeps it literal.
 */
export function expandVars(text: string, vars: ReadonlyMap<string, string>, escape: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === escape && text[i + 1] === '$') {
      out += escape === '\\' ? '\\$' : '$';
      i++;
      continue;
    }
    if (c !== '$') {
      out += c;
      continue;
    }
    const braced = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}/.exec(text.slice(i));
    const bare = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(i));
    if (braced) {
      const value = vars.get(braced[1] as string);
      const set = value !== undefined && value !== '';
      out += braced[2] === '-' ? (set ? value : (braced[3] as string)) : braced[2] === '+' ? (set ? (braced[3] as string) : '') : (value ?? '');
      i += braced[0].length - 1;
    } else if (bare) {
      out += vars.get(bare[1] as string) ?? '';
      i += bare[0].length - 1;
    } else out += c;
  }
  return out;
}

/** Parses `key=value …` pairs (ENV, LABEL, ARG) or the legacy `key value` form; values are expanded from `vars`. */
export function parsePairs(args: string, escape: string, vars: ReadonlyMap<string, string>, legacy: boolean): Array<[string, string | undefined]> {
  const words = splitWords(expandVars(args, vars, escape), escape);
  if (legacy && words.length > 0 && !(words[0] as string).includes('=')) {
    const m = /^\s*(\S+)\s+([\s\S]*)$/.exec(args);
    return m ? [[m[1] as string, expandVars(m[2] as string, vars, escape)]] : [[words[0] as string, undefined]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    return eq < 0 ? [w, undefined] : [w.slice(0, eq), w.slice(eq + 1)];
  });
}
