import {
  formatImageRef, labelModels, shortImageName, waltCloneUrl, type ImageRecord, type Platform,
} from '../store/index.ts';

/** An image as users see it (`kiln image show --json`, `inspect --json`, and the daemon's API). */
export interface ImageView {
  /** `<name>[:<tag>]` for the user's own images, `<user>/<name>:<tag>` for others'. */
  name: string;
  ref: string;
  user: string;
  image: string;
  tag: string;
  created: string;
  size: number;
  models: string[];
  /** True when a node boots it. */
  inUse: boolean;
  cloneUrl: string;
  digest: string;
  platform: Platform;
  labels: Record<string, string>;
}

/** True when the image claims node models (walt.node.models): `kiln image show` lists only those. */
export function isNodeImage(record: ImageRecord): boolean {
  return labelModels(record.labels).length > 0;
}

/** The view of one image for `user`. */
export function imageView(record: ImageRecord, user: string, inUse: boolean): ImageView {
  return {
    name: record.ref.user === user ? shortImageName(record.ref) : formatImageRef(record.ref),
    ref: formatImageRef(record.ref),
    user: record.ref.user,
    image: record.ref.name,
    tag: record.ref.tag,
    created: record.created,
    size: record.size,
    models: labelModels(record.labels),
    inUse,
    cloneUrl: waltCloneUrl(record.ref),
    digest: record.manifestDigest,
    platform: record.platform,
    labels: record.labels,
  };
}
