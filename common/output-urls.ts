// What the provider returns is shown to users as links: only http(s) URLs without credentials
// are kept. A `javascript:` or `data:` URL, or anything unparsable, fails the job instead of
// reaching a page where someone clicks it.

/** Why an output URL cannot be shown to users, or null when it can. */
export function outputUrlProblem(raw: string): string | null {
  if (!URL.canParse(raw)) return 'não é uma URL';
  const url = new URL(raw);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `esquema ${url.protocol.replace(/:$/, '')} não permitido (apenas http e https)`;
  if (url.username || url.password) return 'URL com credenciais';
  return null;
}

/** The job's error when any output URL is refused, else null. */
export function outputUrlsRefusal(urls: readonly string[]): string | null {
  for (const u of urls) {
    const problem = outputUrlProblem(u);
    if (problem) return `O provedor devolveu um resultado com URL inválida (${problem}): ${u.slice(0, 200)}`;
  }
  return null;
}
