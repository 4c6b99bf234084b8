import { validateModel, type ImageRef } from '../store/index.ts';

/** The owner of the platform's default images (seed 002). */
export const DEFAULT_IMAGE_USER = 'waltplatform';

/** A model's default image: `waltplatform/<model>-default:latest` (seed 002). */
export function defaultImageRef(model: string): ImageRef {
  return { user: DEFAULT_IMAGE_USER, name: `${validateModel(model)}-default`, tag: 'latest' };
}
