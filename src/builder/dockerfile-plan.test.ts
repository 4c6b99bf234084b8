import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KilnError } from '../core/index.ts';
import { parseDockerfile } from './dockerfile-parse.ts';
import { keyStage, neededStages, planDockerfile, stageBases, type ContainerConfig, type DockerStage, type DockerStepInput } from './dockerfile-plan.ts';

const plan = (text: string, args: Record<string, string> = {}, base: ContainerConfig = {}): DockerStage[] =>
  planDockerfile(parseDockerfile(text, 'Dockerfile'), new Map(Object.entries(args)), () => structuredClone(base));

const last = (stages: DockerStage[]): DockerStage => stages.at(-1) as DockerStage;

/** The input of step `i` of the last stage, narrowed to `kind`. */
function input<K extends DockerStepInput['kind']>(stages: DockerStage[], i: number, kind: K): Extract<DockerStepInput, { kind: K }> {
  const value = last(stages).steps[i]?.input;
  assert.equal(value?.kind, kind);
  return value as Extract<DockerStepInput, { kind: K }>;
}

function throwsAt(fn: () => unknown, message: RegExp, hint?: RegExp, what?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof KilnError, String(err));
    assert.match(err.message, message);
    assert.ok(err.hint && err.hint.length > 0, 'an error has a hint');
    if (hint) assert.match(err.hint, hint);
    return true;
  }, what);
}

test('a global ARG before FROM names the base; --build-arg overrides it', () => {
  const text = 'ARG BASE=debian\nARG TAG=12\nFROM ${BASE}:${TAG} AS build\nFROM build\nFROM scratch\n';
  const parsed = parseDockerfile(text, 'Dockerfile');
  assert.deepEqual(stageBases(parsed, new Map()).map((b) => b.from), [{ kind: 'image', name: 'debian:12' }, { kind: 'stage', index: 0 }, { kind: 'scratch' }]);
  assert.deepEqual(stageBases(parsed, new Map([['BASE', 'alpine']]))[0]?.from, { kind: 'image', name: 'alpine:12' });
  assert.equal(stageBases(parsed, new Map())[0]?.name, 'build');
});

test('ARG scoping: a global ARG reaches a stage only when redeclared; a stage ARG ends at the next FROM; build args win', () => {
  const text = 'ARG V=global\nARG W=w\nFROM x\nARG V\nARG S=stage\nRUN one\nFROM x\nRUN two\n';
  const stages = plan(text);
  assert.deepEqual(input(stages.slice(0, 1), 0, 'docker-run').env, ['V=global', 'S=stage']);
  assert.deepEqual(input(stages, 0, 'docker-run').env, []);
  assert.deepEqual(input(plan(text, { V: 'cli', S: 'cli-s' }).slice(0, 1), 0, 'docker-run').env, ['V=cli', 'S=cli-s']);
  // ARG values reach RUN as environment, never the image's config.
  assert.equal(stages[0]?.config.Env, undefined);
  // ARGs expand in instructions after them; ENV wins over ARG of the same name.
  const expanded = plan('FROM x\nARG D=/opt\nARG X=arg\nCOPY a $D/\nENV X=env\nWORKDIR /$X\nRUN r\n');
  assert.equal(input(expanded, 0, 'docker-copy').dest, '/opt/');
  assert.equal(input(expanded, 1, 'docker-workdir').path, '/env');
  assert.deepEqual(input(expanded, 2, 'docker-run').env, ['X=env', 'D=/opt']);
  // An ARG without a default and without a build arg is unset.
  assert.deepEqual(input(plan('FROM x\nARG NONE\nRUN r\n'), 0, 'docker-run').env, []);
});

test('ENV, LABEL, USER, WORKDIR, EXPOSE, VOLUME shape the config; the base config is inherited', () => {
  const stages = plan([
    'FROM x',
    'ENV A=1 B="two words"',
    'ENV LEGACY some value',
    'ENV PATH=/opt/bin:$PATH',
    'LABEL walt.image.preferred-name="demo" other=$A',
    'USER node',
    'WORKDIR /srv',
    'WORKDIR app',
    'EXPOSE 80 53/UDP 8000-8001',
    'VOLUME ["/data"]',
    'VOLUME /logs /cache',
  ].join('\n'), {}, { Env: ['PATH=/usr/bin'], Labels: { base: 'yes' } });
  const config = last(stages).config;
  assert.deepEqual(config.Env, ['PATH=/opt/bin:/usr/bin', 'A=1', 'B=two words', 'LEGACY=some value']);
  assert.deepEqual(config.Labels, { base: 'yes', 'walt.image.preferred-name': 'demo', other: '1' });
  assert.equal(config.User, 'node');
  assert.equal(config.WorkingDir, '/srv/app');
  assert.deepEqual(Object.keys(config.ExposedPorts ?? {}), ['80/tcp', '53/udp', '8000-8001/tcp']);
  assert.deepEqual(Object.keys(config.Volumes ?? {}), ['/data', '/logs', '/cache']);
  assert.deepEqual(last(stages).steps.map((s) => s.name), ['WORKDIR /srv', 'WORKDIR /srv/app']);
});

test('ENTRYPOINT drops an inherited CMD, not one set earlier in the same stage; SHELL changes the shell form', () => {
  const base = { Cmd: ['/bin/sh'], Entrypoint: null };
  assert.equal(last(plan('FROM x\nENTRYPOINT ["/app"]\n', {}, base)).config.Cmd, null);
  assert.deepEqual(last(plan('FROM x\nCMD ["--help"]\nENTRYPOINT ["/app"]\n', {}, base)).config.Cmd, ['--help']);
  assert.deepEqual(last(plan('FROM x\nENTRYPOINT ["/app"]\nCMD ["-v"]\n', {}, base)).config.Cmd, ['-v']);
  assert.deepEqual(last(plan('FROM x\nLABEL a=b\n', {}, base)).config.Cmd, ['/bin/sh']);
  const shell = plan('FROM x\nSHELL ["/bin/bash", "-eu", "-c"]\nRUN echo $HOME\nCMD echo hi\nRUN ["/bin/true", "x"]\n');
  assert.deepEqual(input(shell, 0, 'docker-run').argv, ['/bin/bash', '-eu', '-c', 'echo $HOME']);
  assert.deepEqual(last(shell).config.Cmd, ['/bin/bash', '-eu', '-c', 'echo hi']);
  assert.deepEqual(input(shell, 1, 'docker-run').argv, ['/bin/true', 'x']);
  assert.deepEqual(input(plan('FROM x\nRUN a\n'), 0, 'docker-run').argv, ['/bin/sh', '-c', 'a']);
});

test('RUN records the user, working directory and environment it runs with', () => {
  const run = input(plan('FROM x\nENV E=1\nUSER 1000:1000\nWORKDIR /w\nRUN id\n'), 1, 'docker-run');
  assert.deepEqual(run, { kind: 'docker-run', argv: ['/bin/sh', '-c', 'id'], env: ['E=1'], user: '1000:1000', workdir: '/w' });
});

test('COPY and ADD: sources, destination against WORKDIR, --from by name or number, --chown, --chmod', () => {
  const stages = plan('FROM x AS one\nRUN a\nFROM x AS two\nWORKDIR /app\nCOPY a.txt "b c.txt" ./\nCOPY --from=one /built /srv/built\nCOPY --from=0 --chown=node:node --chmod=640 /x y\nADD ["src dir", "/opt/"]\n');
  assert.deepEqual(input(stages, 1, 'docker-copy'), { kind: 'docker-copy', add: false, from: { kind: 'context' }, srcs: ['a.txt', 'b c.txt'], dest: '/app/./' });
  assert.deepEqual(input(stages, 2, 'docker-copy').from, { kind: 'stage', index: 0 });
  const third = input(stages, 3, 'docker-copy');
  assert.deepEqual([third.from, third.chown, third.chmod, third.dest], [{ kind: 'stage', index: 0 }, 'node:node', '640', '/app/y']);
  assert.deepEqual(input(stages, 4, 'docker-copy'), { kind: 'docker-copy', add: true, from: { kind: 'context' }, srcs: ['src dir'], dest: '/opt/' });
});

test('each unsupported or wrong use is an error at its file:line:col, with a hint', () => {
  const cases: Array<[string, RegExp, RegExp?]> = [
    ['FROM x\nRUN --mount=type=cache,target=/var/cache/apt apt-get update\n', /^Dockerfile:2:1: RUN --mount is not supported/, /RUN takes no flags/],
    ['FROM x\n\nRUN --network=none true\n', /^Dockerfile:3:1: RUN --network is not supported/],
    ['FROM x\nADD https://example.org/a.tgz /a\n', /^Dockerfile:2:1: ADD https:\/\/example.org\/a.tgz: Kiln does not download sources in ADD/, /RUN step \(curl, wget\)/],
    ['FROM x\nADD git@github.com:a/b.git /b\n', /^Dockerfile:2:1: ADD git@github.com:a\/b.git/],
    ['FROM x\nADD --checksum=sha256:00 a /a\n', /^Dockerfile:2:1: ADD --checksum is not supported/],
    ['FROM x\nCOPY --link a /a\n', /^Dockerfile:2:1: COPY flag --link needs a value/],
    ['FROM x\nCOPY --parents=true a /a\n', /^Dockerfile:2:1: COPY --parents is not supported/],
    ['FROM x\nCOPY a b c\n', /^Dockerfile:2:1: COPY with several sources needs a destination ending in "\/"/],
    ['FROM x\nCOPY a\n', /^Dockerfile:2:1: COPY needs a source and a destination/],
    ['FROM x\nCOPY --chmod=u+x a /a\n', /^Dockerfile:2:1: COPY --chmod=u\+x: Kiln takes an octal mode/],
    ['FROM x\nCOPY --from=later /a /a\nFROM x AS later\n', /^Dockerfile:2:1: COPY --from=later: no earlier stage/],
    ['FROM x AS self\nCOPY --from=self /a /a\n', /^Dockerfile:2:1: COPY --from=self: no earlier stage/],
    ['FROM x\nSHELL /bin/bash -c\n', /^Dockerfile:2:1: SHELL takes the JSON form/],
    ['FROM x\nENV ONLY\n', /^Dockerfile:2:1: ENV ONLY has no value/],
    ['FROM x\nLABEL nolabel\n', /^Dockerfile:2:1: LABEL nolabel has no value/],
    ['FROM x\nEXPOSE http\n', /^Dockerfile:2:1: EXPOSE http: not a port/],
    ['FROM --platform=linux/arm64 x\nFROM --other=1 y\n', /^Dockerfile:2:1: FROM --other is not supported/],
    ['RUN echo\nFROM x\n', /^Dockerfile:1:1: RUN before the first FROM/, /only ARG may come before FROM/],
    ['ARG A=1\n', /^Dockerfile:1:1: no FROM instruction/],
    ['FROM a b\n', /^Dockerfile:1:1: FROM takes an image and an optional "AS <name>"/],
  ];
  for (const [text, message, hint] of cases) throwsAt(() => plan(text), message, hint, text);
});

test('keys: chained from the base, equal for equal input; an edited last RUN changes only the last key', () => {
  const keys = (text: string, base = 'base-key'): string[] => {
    const stages = plan(text);
    const stageKeys = new Map<number, string>();
    for (const [i, s] of stages.entries()) stageKeys.set(i, keyStage(s, s.from.kind === 'stage' ? (stageKeys.get(s.from.index) as string) : base, stageKeys));
    return last(stages).steps.map((s) => s.key as string);
  };
  const text = 'FROM x\nRUN a\nCOPY f /f\nENV E=1\nRUN last\n';
  const one = keys(text);
  assert.equal(one.length, 3);
  assert.deepEqual(keys(text), one);
  const edited = keys(text.replace('RUN last', 'RUN other'));
  assert.deepEqual(edited.slice(0, 2), one.slice(0, 2));
  assert.notEqual(edited[2], one[2]);
  // ENV changes what later RUNs see, so their keys.
  assert.notEqual(keys(text.replace('E=1', 'E=2'))[2], one[2]);
  // A different base changes every key.
  assert.ok(keys(text, 'other-base').every((k, i) => k !== one[i]));
  // COPY --from takes the source stage's last key as its content.
  const multi = 'FROM x AS a\nRUN build\nFROM x\nCOPY --from=a /out /out\n';
  assert.notEqual(keys(multi)[0], keys(multi.replace('RUN build', 'RUN build2'))[0]);
});

test('neededStages: the last stage, its base stages and COPY --from sources, in order', () => {
  const stages = plan('FROM x AS unused\nRUN u\nFROM x AS tools\nRUN t\nFROM x AS base\nRUN b\nFROM base\nCOPY --from=tools /t /t\n');
  assert.deepEqual(neededStages(stages), [1, 2, 3]);
  assert.deepEqual(neededStages(stages, 0), [0]);
});
