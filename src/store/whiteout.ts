/** OCI whiteout markers (image-spec layer.md): `.wh.<name>` hides <name> of lower layers, `.wh..wh..opq` all of a directory's. */
export const WHITEOUT = '.wh.';
export const OPAQUE = '.wh..wh..opq';

/**
 * True when a `.wh.` member names something a whiteout may hide: not "", "." or "..",
 * which would hide the directory itself or its parent (outside the root, at the top).
 */
export function isWhiteoutName(base: string): boolean {
  const target = base.slice(WHITEOUT.length);
  return base.startsWith(WHITEOUT) && target !== '' && target !== '.' && target !== '..';
}
