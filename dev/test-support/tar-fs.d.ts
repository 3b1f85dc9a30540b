// tar-fs ships no types; fila uses only extract() (unpacking the packaged Chromium for tests).
declare module 'tar-fs' {
  import type { Writable } from 'node:stream';
  export function extract(directory: string): Writable;
}
