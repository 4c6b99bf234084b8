/** OCI image-spec v1.1 and Docker schema2 media types Kiln reads and writes. */
export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
} as const;

/** The OCI equivalent of a Docker schema2 media type; OCI types map to themselves. */
export function toOciMediaType(mediaType: string): string | undefined {
  switch (mediaType) {
    case MediaType.dockerManifest:
    case MediaType.ociManifest:
      return MediaType.ociManifest;
    case MediaType.dockerManifestList:
    case MediaType.ociIndex:
      return MediaType.ociIndex;
    case MediaType.dockerConfig:
    case MediaType.ociConfig:
      return MediaType.ociConfig;
    case MediaType.dockerLayer:
    case MediaType.ociLayer:
      return MediaType.ociLayer;
    case MediaType.dockerLayerGzip:
    case MediaType.ociLayerGzip:
      return MediaType.ociLayerGzip;
    case MediaType.dockerLayerZstd:
    case MediaType.ociLayerZstd:
      return MediaType.ociLayerZstd;
    default:
      return undefined;
  }
}

/** Compression of a layer, named as in the media type suffix. */
export type Compression = 'none' | 'gzip' | 'zstd';

/** The OCI layer media type for a compression. */
export function layerMediaType(compression: Compression): string {
  if (compression === 'gzip') return MediaType.ociLayerGzip;
  if (compression === 'zstd') return MediaType.ociLayerZstd;
  return MediaType.ociLayer;
}

/** The compression an OCI or Docker layer media type announces, or undefined if not a layer. */
export function layerCompression(mediaType: string): Compression | undefined {
  const oci = toOciMediaType(mediaType);
  if (oci === MediaType.ociLayer) return 'none';
  if (oci === MediaType.ociLayerGzip) return 'gzip';
  if (oci === MediaType.ociLayerZstd) return 'zstd';
  return undefined;
}
