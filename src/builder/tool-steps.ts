import type { StepInput } from './plan.ts';
import type { SandboxResult } from './sandbox.ts';
import type { BuildSpec } from './spec.ts';
import { isRpmInput, runRpmStep } from './pkg-rpm.ts';
import { runAnsibleStep } from './ansible.ts';

/** What a tool step runs with. */
export interface ToolStepOptions {
  signal?: AbortSignal;
  onLine: (line: string) => void;
}

/** Whether a step is run by a package manager or Ansible on the image root (dnf, zypper, ansible) rather than as a command inside it. */
export function isToolStep(input: StepInput): boolean {
  return isRpmInput(input) || input.kind === 'ansible';
}

/** Runs a tool step on `root`, the overlay's merged directory; `work` is the step's private work directory. */
export async function runToolStep(spec: BuildSpec, input: StepInput, root: string, work: string, options: ToolStepOptions): Promise<SandboxResult> {
  const common = { onLine: options.onLine, ...(options.signal ? { signal: options.signal } : {}) };
  if (isRpmInput(input)) return runRpmStep(input, root, work, { ...common, ...(spec.options.proxy ? { proxy: spec.options.proxy } : {}) });
  if (input.kind === 'ansible') return runAnsibleStep(spec, input, root, work, common);
  throw new Error(`step kind ${input.kind} is not a tool step`);
}
