// Every string in a JSON body (values and keys, at any depth) must be text PostgreSQL can store:
// no NUL character (\u0000) and no lone UTF-16 surrogate. Either one is valid JSON that jsonb and
// text refuse, which used to surface as a 500 after the request had reached the database.
// Checked once, before any route reads the body, so the refusal is a 400 that writes nothing.
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.ts';
import { invalidInput } from './errors.ts';

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const unparsable = Symbol('unparsable');

/** The first string the database could not store, with where it is, or null. */
export function unstorableText(value: unknown, at: string[] = []): { path: string; message: string } | null {
  const bad = (s: string): string | null =>
    s.includes('\u0000') ? 'contains a NUL character (\\u0000)' : loneSurrogate.test(s) ? 'contains a lone UTF-16 surrogate' : null;
  if (typeof value === 'string') {
    const why = bad(value);
    return why ? { path: at.join('.'), message: why } : null;
  }
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const found = unstorableText(v, [...at, String(i)]);
      if (found) return found;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const keyWhy = bad(k);
      if (keyWhy) return { path: [...at, JSON.stringify(k)].join('.'), message: `key ${keyWhy}` };
      const found = unstorableText(v, [...at, k]);
      if (found) return found;
    }
  }
  return null;
}

/** A JSON request whose body the database could not store is 400 invalid_input. Malformed JSON is
 *  left to the route's validator (also a 400). */
export function storableJson(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const type = c.req.header('content-type') ?? '';
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && /^application\/(.+\+)?json\b/i.test(type)) {
      // c.req.json() keeps the parsed body: the route's validator reads the same one
      const body: unknown = await c.req.json().then((b: unknown) => b, () => unparsable);
      const found = body === unparsable ? null : unstorableText(body);
      if (found) throw invalidInput([{ ...found, code: 'unstorable_text' }], `Texto inválido no corpo da requisição (${found.path || 'corpo'}: ${found.message}).`);
    }
    await next();
  };
}
