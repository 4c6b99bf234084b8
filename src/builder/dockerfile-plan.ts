import { posix } from 'node:path';
import { dockerfileError, expandVars, parsePairs, splitWords, type DockerInstruction, type ParsedDockerfile } from './dockerfile-parse.ts';
import { stepKey } from './plan.ts';

/** Where a stage starts: nothing, an earlier stage, or an image named as the user wrote it. */
export type DockerFrom = { kind: 'scratch' } | { kind: 'stage'; index: number } | { kind: 'image'; name: string };

/** The container part of an image config that a Dockerfile changes. */
export interface ContainerConfig {
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Labels?: Record<string, string> | null;
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object>;
  Shell?: string[];
  [key: string]: unknown;
}

/** Where COPY reads: the build context or an earlier stage's root. */
export type CopySource = { kind: 'context' } | { kind: 'stage'; index: number };

/** What a Dockerfile step does: everything its result depends on besides the steps before it. */
export type DockerStepInput =
  | { kind: 'docker-run'; argv: string[]; env: string[]; user: string; workdir: string }
  | {
    kind: 'docker-copy'; add: boolean; from: CopySource; srcs: string[]; dest: string; chown?: string; chmod?: string;
    /** Hash of what the sources hold (context), or the source stage's last key; filled in before keys are computed. */
    content?: string;
  }
  | { kind: 'docker-workdir'; path: string };

/** One step: an instruction that changes the file system (RUN, COPY, ADD, WORKDIR). */
export interface DockerStep {
  line: number;
  col: number;
  /** What users read: "RUN apt-get install -y hello". */
  name: string;
  input: DockerStepInput;
  key?: string;
  cached?: boolean;
}

/** One stage: FROM … [AS name] and its steps, with the config it ends with (its base's, changed by its instructions). */
export interface DockerStage {
  index: number;
  name?: string;
  from: DockerFrom;
  line: number;
  col: number;
  platform?: string;
  steps: DockerStep[];
  config: ContainerConfig;
}

/** The FROM of each stage, its names expanded with the global ARGs: what the I/O side resolves before planning. */
export function stageBases(parsed: ParsedDockerfile, buildArgs: ReadonlyMap<string, string>): Array<{ from: DockerFrom; name?: string; line: number; col: number; platform?: string }> {
  const globals = new Map<string, string>();
  const names: string[] = [];
  const out: Array<{ from: DockerFrom; name?: string; line: number; col: number; platform?: string }> = [];
  let seenFrom = false;
  for (const ins of parsed.instructions) {
    if (ins.keyword === 'ARG' && !seenFrom) {
      for (const [k, v] of parsePairs(ins.args, parsed.escape, globals, false)) {
        const value = buildArgs.get(k) ?? v;
        if (value !== undefined) globals.set(k, value);
      }
      continue;
    }
    if (!seenFrom && ins.keyword !== 'FROM') throw dockerfileError(parsed.file, ins.line, ins.col, `${ins.keyword} before the first FROM`, 'only ARG may come before FROM');
    if (ins.keyword !== 'FROM') continue;
    seenFrom = true;
    const words = splitWords(expandVars(ins.args, globals, parsed.escape), parsed.escape);
    const [image, as, name, ...extra] = words;
    if (image === undefined || (as !== undefined && (as.toUpperCase() !== 'AS' || name === undefined)) || extra.length > 0) {
      throw dockerfileError(parsed.file, ins.line, ins.col, `FROM takes an image and an optional "AS <name>", not "${ins.args}"`);
    }
    const stageName = name?.toLowerCase();
    const earlier = names.indexOf(image.toLowerCase());
    const from: DockerFrom = image === 'scratch' ? { kind: 'scratch' } : earlier >= 0 ? { kind: 'stage', index: earlier } : { kind: 'image', name: image };
    names.push(stageName ?? `\u0000${out.length}`);
    const platform = ins.flags.platform !== undefined ? expandVars(ins.flags.platform, globals, parsed.escape) : undefined;
    out.push({ from, ...(stageName ? { name: stageName } : {}), line: ins.line, col: ins.col, ...(platform ? { platform } : {}) });
  }
  if (out.length === 0) throw dockerfileError(parsed.file, 1, 1, 'no FROM instruction', 'a Dockerfile starts with FROM <image> (or FROM scratch)');
  return out;
}

function unknownFlags(file: string, ins: DockerInstruction, allowed: readonly string[]): void {
  for (const flag of Object.keys(ins.flags)) {
    if (!allowed.includes(flag)) throw dockerfileError(file, ins.line, ins.col, `${ins.keyword} --${flag} is not supported`, allowed.length > 0 ? `${ins.keyword} takes ${allowed.map((f) => `--${f}`).join(', ')}` : `${ins.keyword} takes no flags here`);
  }
}

const envMap = (env: readonly string[]): Map<string, string> => new Map(env.map((e) => [e.slice(0, e.indexOf('=') < 0 ? e.length : e.indexOf('=')), e.includes('=') ? e.slice(e.indexOf('=') + 1) : '']));

/**
 * Plans a Dockerfile (pure): each stage's steps and final config. `baseConfig(i)` gives the
 * config of stage i's base image (for `image` bases); stage bases take the earlier stage's.
 * Build args override ARG defaults; ARG values reach RUN as environment, not the image.
 */
export function planDockerfile(parsed: ParsedDockerfile, buildArgs: ReadonlyMap<string, string>, baseConfig: (stage: number) => ContainerConfig): DockerStage[] {
  const { file, escape } = parsed;
  const bases = stageBases(parsed, buildArgs);
  const stages: DockerStage[] = [];
  const globals = new Map<string, string>();
  let stage: DockerStage | undefined;
  let args = new Map<string, string>();
  let cmdSet = false;
  for (const ins of parsed.instructions) {
    const cur = stage;
    if (ins.keyword === 'ARG' && !cur) {
      for (const [k, v] of parsePairs(ins.args, escape, globals, false)) {
        const value = buildArgs.get(k) ?? v;
        if (value !== undefined) globals.set(k, value);
      }
      continue;
    }
    if (ins.keyword === 'FROM') {
      unknownFlags(file, ins, ['platform']);
      const base = bases[stages.length] as (typeof bases)[number];
      const inherited = base.from.kind === 'stage' ? (stages[base.from.index] as DockerStage).config : base.from.kind === 'image' ? baseConfig(stages.length) : {};
      stage = { index: stages.length, ...(base.name ? { name: base.name } : {}), from: base.from, line: ins.line, col: ins.col, ...(base.platform ? { platform: base.platform } : {}), steps: [], config: structuredClone(inherited) };
      stages.push(stage);
      args = new Map();
      cmdSet = false;
      continue;
    }
    if (!cur) continue;
    const config = cur.config;
    const env = envMap(config.Env ?? []);
    // Expansion sees ARGs, then ENV (ENV wins).
    const vars = new Map([...args, ...env]);
    const expand = (s: string): string => expandVars(s, vars, escape);
    const shell = config.Shell ?? ['/bin/sh', '-c'];
    const workdir = config.WorkingDir || '/';
    const at = (message: string, hint?: string): Error => dockerfileError(file, ins.line, ins.col, message, hint);
    const short = ins.args.replace(/\s+/g, ' ');
    const name = `${ins.keyword} ${short.length > 70 ? `${short.slice(0, 67)}...` : short}`;
    if (ins.keyword !== 'RUN' && ins.keyword !== 'COPY' && ins.keyword !== 'ADD') unknownFlags(file, ins, []);
    switch (ins.keyword) {
      case 'ARG':
        for (const [k, v] of parsePairs(ins.args, escape, vars, false)) {
          const value = buildArgs.get(k) ?? v ?? globals.get(k);
          if (value !== undefined) args.set(k, value);
          else args.delete(k);
        }
        break;
      case 'ENV':
        for (const [k, v] of parsePairs(ins.args, escape, vars, true)) {
          if (v === undefined) throw at(`ENV ${k} has no value`, 'write ENV name=value');
          env.set(k, v);
        }
        config.Env = [...env].map(([k, v]) => `${k}=${v}`);
        break;
      case 'LABEL':
        for (const [k, v] of parsePairs(ins.args, escape, vars, false)) {
          if (v === undefined) throw at(`LABEL ${k} has no value`, 'write LABEL name=value');
          config.Labels = { ...(config.Labels ?? {}), [k]: v };
        }
        break;
      case 'WORKDIR': {
        const path = posix.resolve(workdir, expand(ins.args.trim()));
        config.WorkingDir = path;
        cur.steps.push({ line: ins.line, col: ins.col, name: `WORKDIR ${path}`, input: { kind: 'docker-workdir', path } });
        break;
      }
      case 'USER':
        config.User = expand(ins.args.trim());
        break;
      case 'SHELL':
        if (!ins.json || ins.json.length === 0) throw at('SHELL takes the JSON form: SHELL ["executable", "parameters"]');
        config.Shell = ins.json;
        break;
      case 'ENTRYPOINT':
      case 'CMD': {
        const value = ins.json ?? [...shell, ins.args];
        if (ins.keyword === 'CMD') {
          config.Cmd = value;
          cmdSet = true;
        } else {
          config.Entrypoint = value;
          // As Docker: a CMD inherited from the base is dropped by a new ENTRYPOINT.
          if (!cmdSet) config.Cmd = null;
        }
        break;
      }
      case 'EXPOSE':
        for (const port of splitWords(expand(ins.args), escape)) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(port)) throw at(`EXPOSE ${port}: not a port (80, 80/tcp, 53/udp)`);
          config.ExposedPorts = { ...(config.ExposedPorts ?? {}), [port.includes('/') ? port.toLowerCase() : `${port}/tcp`]: {} };
        }
        break;
      case 'VOLUME':
        for (const v of ins.json ?? splitWords(expand(ins.args), escape)) config.Volumes = { ...(config.Volumes ?? {}), [v]: {} };
        break;
      case 'RUN': {
        unknownFlags(file, ins, []);
        const argv = ins.json ?? [...shell, ins.args];
        if (argv.length === 0) throw at('RUN has no command');
        const runEnv = [...args].filter(([k]) => !env.has(k)).map(([k, v]) => `${k}=${v}`);
        cur.steps.push({ line: ins.line, col: ins.col, name, input: { kind: 'docker-run', argv, env: [...(config.Env ?? []), ...runEnv], user: config.User ?? '', workdir } });
        break;
      }
      case 'COPY':
      case 'ADD': {
        unknownFlags(file, ins, ins.keyword === 'COPY' ? ['from', 'chown', 'chmod'] : ['chown', 'chmod']);
        const words = ins.json ?? splitWords(ins.args, escape);
        const all = words.map(expand);
        if (all.length < 2) throw at(`${ins.keyword} needs a source and a destination`);
        const srcs = all.slice(0, -1);
        let dest = all.at(-1) as string;
        if (srcs.length > 1 && !dest.endsWith('/')) throw at(`${ins.keyword} with several sources needs a destination ending in "/"`);
        if (ins.keyword === 'ADD') {
          const url = srcs.find((s) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s) || s.startsWith('git@'));
          if (url) throw at(`ADD ${url}: Kiln does not download sources in ADD`, 'fetch it in a RUN step (curl, wget) or put the file in the build context');
        }
        dest = dest.startsWith('/') ? dest : `${workdir.endsWith('/') ? workdir : `${workdir}/`}${dest}`;
        let from: CopySource = { kind: 'context' };
        if (ins.flags.from !== undefined) {
          const ref = expand(ins.flags.from).toLowerCase();
          const index = /^\d+$/.test(ref) ? Number(ref) : stages.findIndex((s) => s.name === ref);
          if (index < 0 || index >= cur.index) throw at(`COPY --from=${ins.flags.from}: no earlier stage has that name or number`, 'name a stage with FROM … AS <name> before this one');
          from = { kind: 'stage', index };
        }
        const chown = ins.flags.chown !== undefined ? expand(ins.flags.chown) : undefined;
        const chmod = ins.flags.chmod !== undefined ? expand(ins.flags.chmod) : undefined;
        if (chmod !== undefined && !/^[0-7]{3,4}$/.test(chmod)) throw at(`${ins.keyword} --chmod=${chmod}: Kiln takes an octal mode (0644, 755)`);
        cur.steps.push({ line: ins.line, col: ins.col, name, input: { kind: 'docker-copy', add: ins.keyword === 'ADD', from, srcs, dest, ...(chown ? { chown } : {}), ...(chmod ? { chmod } : {}) } });
        break;
      }
    }
  }
  return stages;
}

/** The stages the last one needs (its base stages and COPY --from sources), in build order. */
export function neededStages(stages: readonly DockerStage[], target = stages.length - 1): number[] {
  const need = new Set<number>();
  const visit = (i: number): void => {
    if (need.has(i)) return;
    need.add(i);
    const s = stages[i] as DockerStage;
    if (s.from.kind === 'stage') visit(s.from.index);
    for (const step of s.steps) if (step.input.kind === 'docker-copy' && step.input.from.kind === 'stage') visit(step.input.from.index);
  };
  visit(target);
  return [...need].sort((a, b) => a - b);
}

/**
 * Gives each step of stage `stage` its cache key, chained from `base` (the stage's base key).
 * A COPY --from step's content is the source stage's last key; returns the stage's last key.
 */
export function keyStage(stage: DockerStage, base: string, stageKeys: ReadonlyMap<number, string>): string {
  let previous = base;
  for (const step of stage.steps) {
    const input = step.input.kind === 'docker-copy' && step.input.from.kind === 'stage' ? { ...step.input, content: stageKeys.get(step.input.from.index) } : step.input;
    step.input = input;
    // The engine's key function: same cache, a kind of input of its own.
    step.key = stepKey(previous, input as never);
    previous = step.key;
  }
  return previous;
}
