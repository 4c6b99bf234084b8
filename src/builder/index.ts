/** Build: image-builder YAML specs (seed 004) → validated spec (pure) → plan with cache keys (pure) → steps run in a sandbox, cached per step. */
export { parseSpec, formatProblems, specPosition, APT_DEFAULTS, type BuildSpec, type ParsedSpec, type SpecRepo, type SpecCopy, type SpecCmd } from './spec.ts';
export { SPEC_SCHEMA, OPTIONS_SCHEMA, levenshtein, closest, type SpecProblem } from './spec-schema.ts';
export { loadSpecs, checkSpecFiles, specError } from './spec-load.ts';
export { planBuild, formatPlan, canonicalJson, stepKey, baseKey, type BuildPlan, type PlanStep, type StepInput } from './plan.ts';
export { buildImages, type BuildOptions, type SpecOutcome } from './build.ts';
export type { BuildResult, StepOutcome } from './execute.ts';
export { pruneBuildCache } from './cache.ts';
export { buildDockerfile, type DockerfileOptions, type DockerfileOutcome } from './dockerfile-build.ts';
export { parseDockerfile, type ParsedDockerfile } from './dockerfile-parse.ts';
export type { DockerStage, DockerStep } from './dockerfile-plan.ts';
export { MAX_LAYERS, mountImage, readStoredImage, hasChanges, saveEdit, squashImage, type MountedImage, type StoredImage, type SaveOptions, type SaveResult } from './image-edit.ts';
export { parseCopyLocation, tarEntry, entryOf, applyTarInRoot, imageDestination, hostDestination, extractOnHost, imageSource, type CopyLocation } from './image-cp.ts';
export { planShell, runShell, type ShellPlan, type ShellOptions } from './image-shell.ts';
export { checkForeignArch } from './foreign.ts';
