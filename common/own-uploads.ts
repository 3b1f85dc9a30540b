// fila's own upload URLs: `<public base URL>/uploads/<name>`. Whoever holds the store (the API, a
// worker on the same volume) reads such a file from the store by its name instead of fetching a
// URL — in development those URLs are on loopback, which no user-given URL may reach.

/** A stored upload's name: a random UUID and the accepted type's extension (nothing else can be a path). */
export const storedUploadName = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(png|jpg|webp|mp4|mov|webm)$/;

/** The upload's name when `url` is one of ours under `publicBaseUrl`, else null. */
export function ownUploadName(url: string, publicBaseUrl: string): string | null {
  if (!URL.canParse(url) || !URL.canParse(publicBaseUrl)) return null;
  const u = new URL(url);
  const base = new URL(publicBaseUrl);
  const prefix = `${base.pathname.replace(/\/+$/, '')}/uploads/`;
  if (u.origin !== base.origin || !u.pathname.startsWith(prefix) || u.search) return null;
  const name = u.pathname.slice(prefix.length);
  return storedUploadName.test(name) ? name : null;
}
