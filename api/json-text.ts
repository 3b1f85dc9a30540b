// Every string in a JSON body (values and keys, at any depth) must be text PostgreSQL can store:
// no NUL character (\u0000) and no lone UTF-16 surrogate. Either one is valid JSON that jsonb and
// text refuse, which used to surface as a 500 after the request had reached the database.
// No key may be `__proto__` either: copying such an object (as the validators do) sets its
// prototype instead of a field, so the key would vanish silently instead of being refused.
// Checked once, before any route reads the body, so the refusal is a 400 that writes nothing.
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.ts';
import { invalidInput } from './errors.ts';

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const unparsable = Symbol('unparsable');

/** The first string the database could not store (or a `__proto__` key), with where it is, or null. Walked with an
 *  explicit stack: a body nested 20,000 deep must not overflow ours. */
export function unstorableText(value: unknown): { path: string; message: string; code: 'unstorable_text' | 'reserved_key' } | null {
  const bad = (s: string): string | null =>
    s.includes('\u0000') ? 'contains a NUL character (\\u0000)' : loneSurrogate.test(s) ? 'contains a lone UTF-16 surrogate' : null;
  // each entry points at its parent: a path is built only for the one string reported
  interface Node { value: unknown; key: string | null; parent: Node | null }
  const pathOf = (n: Node, last?: string): string => {
    const keys: string[] = last === undefined ? [] : [last];
    for (let p: Node | null = n; p && p.key !== null; p = p.parent) keys.unshift(p.key);
    return keys.join('.');
  };
  const todo: Node[] = [{ value, key: null, parent: null }];
  for (let n = todo.pop(); n; n = todo.pop()) {
    const v = n.value;
    if (typeof v === 'string') {
      const why = bad(v);
      if (why) return { path: pathOf(n), message: why, code: 'unstorable_text' };
    } else if (Array.isArray(v)) {
      const parent = n;
      v.forEach((item, i) => todo.push({ value: item, key: String(i), parent }));
    } else if (v && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        const keyWhy = bad(k);
        if (keyWhy) return { path: pathOf(n, JSON.stringify(k)), message: `key ${keyWhy}`, code: 'unstorable_text' };
        if (k === '__proto__') return { path: pathOf(n, k), message: 'key "__proto__" is not accepted', code: 'reserved_key' };
        todo.push({ value: item, key: k, parent: n });
      }
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
      if (found) {
        const what = found.code === 'reserved_key' ? 'Campo não aceito' : 'Texto inválido';
        throw invalidInput([found], `${what} no corpo da requisição (${found.path || 'corpo'}: ${found.message}).`);
      }
    }
    await next();
  };
}
