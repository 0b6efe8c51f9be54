/** Media (`sb.media`): uploads to attach to a send with `media_ids`, and downloads. */
import type { RequestOptions, Upload } from '../types.js';
import { Resource } from './resource.js';

export class Media extends Resource {
  /**
   * Uploads a file (multipart/form-data, field `file`).
   *
   * @param file the bytes, with their type (`new Blob([bytes], { type: 'image/png' })`, or a `File`).
   * @param filename the name the recipient sees (a `File` has its own).
   * @returns the upload; pass its `id` in `media_ids`.
   * @throws SwitchboardError 413 `payload_too_large`, 415 `unsupported_media_type`.
   */
  upload(file: Blob, filename?: string, options?: RequestOptions): Promise<Upload> {
    const form = () => {
      const body = new FormData();
      body.append('file', file, filename ?? (file as Partial<File>).name ?? 'upload');
      return body;
    };
    return this.write((init) => this.api.POST('/v1/media', {
      // The document types the part as a binary string; the body sent is the form.
      body: {} as { file: string }, bodySerializer: form, ...init,
    }), options);
  }

  /** An attachment's or upload's bytes. @throws NotFoundError */
  download(id: string, options?: RequestOptions): Promise<Blob> {
    return this.read((init) => this.api.GET('/v1/media/{id}', { params: { path: { id } }, parseAs: 'blob', ...init }), options) as Promise<Blob>;
  }
}
