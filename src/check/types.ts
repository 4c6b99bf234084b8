import type { FileContent, ImageTree } from '../store/index.ts';

/** How a requirement came out: met, not met, doubtful, or just worth knowing. */
export type Status = 'pass' | 'fail' | 'warn' | 'info';

/** One line of a check report. Problems in the image are findings, never exceptions. */
export interface Finding {
  /** Stable rule id, e.g. "busybox.applets" (for --json consumers and tests). */
  id: string;
  /** What is required, in a few words. */
  requirement: string;
  /** The node model this finding is about, for per-model requirements. */
  model?: string;
  status: Status;
  /** True for the seeds' mandatory features: a mandatory failure makes the image unbootable. */
  mandatory: boolean;
  /** What was found in the image. */
  found: string;
  /** How to fix it, for failures and warnings. */
  fix?: string;
}

/** Content a rule needs besides the file tree: a file (up to a limit), or what Kiln derives from one. */
export type Need =
  | { kind: 'file'; path: string; limit: number }
  | { kind: 'kernel-config'; path: string }
  | { kind: 'initramfs'; path: string };

/** A kernel's build configuration (CONFIG_X → y/m/n/value), or why it could not be read. */
export type KernelConfig = { ok: true; options: ReadonlyMap<string, string>; source: string } | { ok: false; reason: string };

/** The member names of an initramfs (all its concatenated cpio archives), or why they could not be read. */
export type InitramfsListing = { ok: true; names: ReadonlySet<string>; layout: string } | { ok: false; reason: string };

/** Everything rules see: the tree, the image's labels and what was loaded for them (keys are tree paths, no leading "/"). */
export interface CheckInput {
  tree: ImageTree;
  labels: Readonly<Record<string, string>>;
  /** The OCI platform architecture of the image config (amd64, arm64, arm…). */
  architecture: string;
  /** The node models to check (from --model, else the walt.node.models label). */
  models: readonly string[];
  files: ReadonlyMap<string, FileContent>;
  kernelConfigs: ReadonlyMap<string, KernelConfig>;
  initramfs: ReadonlyMap<string, InitramfsListing>;
}

/** A bootability rule: which contents it needs given what is known so far (pure), and its findings (pure). */
export interface Rule {
  id: string;
  needs?(input: CheckInput): Need[];
  evaluate(input: CheckInput): Finding[];
}
