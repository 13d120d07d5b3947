/** Token under which the deployment's single {@link Uploader} is bound. */
export const Uploader = Symbol.for('ardea.Uploader');

export interface UploadRequest {
  readonly topologyName: string;
  readonly topologyId: string;
  /** A local file: the bundled topology package. */
  readonly packagePath: string;
  readonly signal?: AbortSignal;
}

export interface FetchRequest {
  /** A URI this uploader's `upload` returned. */
  readonly uri: string;
  /** The local file to write the package to; it does not exist yet. */
  readonly destination: string;
  readonly signal?: AbortSignal;
}

/**
 * Puts a topology package where every container of the pool can fetch it.
 *
 * Called by the submitter after packing, before any state is written. `undo` is called when a later
 * submit step fails and by `kill`; it may run in another process than the upload, so it takes the
 * URI rather than relying on instance state.
 */
export interface Uploader {
  /**
   * Stores the package and resolves to the URI containers fetch it from (`file:///…`, `sftp://…`,
   * `https://…`). Uploading again for the same topology id replaces the package; the earlier URI
   * then serves the new package or nothing. Rejects with `UploaderError` naming the source and
   * destination; a failed or aborted upload leaves nothing behind.
   */
  upload(request: UploadRequest): Promise<string>;

  /**
   * Removes what `upload` stored at `uri`. Idempotent: a URI in this uploader's space that holds
   * nothing (any more) resolves; a URI outside its space rejects with `UploaderError`.
   */
  undo(uri: string): Promise<void>;

  /**
   * Optional: copies the package at `uri` into `destination`, in the container that is about to run
   * it. The executor reads `file://`, `http://` and `https://` URIs itself; an uploader whose URIs
   * need anything else implements this, and the executor then fetches every package through it.
   * Rejects with `UploaderError` naming the URI.
   */
  fetch?(request: FetchRequest): Promise<void>;

  /**
   * Releases connections and timers, when the uploader holds any. Idempotent. The deployment's
   * container calls it when it is closed.
   */
  close?(): Promise<void>;
}
