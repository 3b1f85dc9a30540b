// Bearer tokens: HS256 JWTs whose `sub` is the user id, as Supabase issues them. Operators carry
// `fila_role: "operator"` (Supabase's own `role` claim is left alone).
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import type { MiddlewareHandler } from 'hono';
import { ApiError } from './errors.ts';
import type { AppEnv } from './context.ts';

export interface Caller {
  userId: string;
  operator: boolean;
}

/** Whom tokens must be for: `aud` (Supabase issues `authenticated`) and, when set, `iss`
 *  (a Supabase project's is `https://<ref>.supabase.co/auth/v1`). */
export interface TokenAudience {
  audience: string;
  issuer?: string | null;
}
export const defaultTokenAudience: TokenAudience = { audience: 'authenticated', issuer: null };

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function key(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

/** A token for `userId` (the CLI, `npm start` and tests sign with this). */
export async function signToken(
  secret: string,
  userId: string,
  opts: { operator?: boolean; expiresIn?: string; audience?: string; issuer?: string | null } = {},
): Promise<string> {
  const jwt = new SignJWT({ role: 'authenticated', ...(opts.operator ? { fila_role: 'operator' } : {}) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setAudience(opts.audience ?? defaultTokenAudience.audience);
  if (opts.issuer) jwt.setIssuer(opts.issuer);
  return jwt
    .setIssuedAt()
    .setExpirationTime(opts.expiresIn ?? '24h')
    .sign(key(secret));
}

/** The caller of a bearer token, or an ApiError 401 saying why not. */
export async function verifyToken(secret: string, token: string, expected: TokenAudience = defaultTokenAudience): Promise<Caller> {
  try {
    // algorithms pinned: `alg: none` and asymmetric algorithm confusion are refused by jose; a
    // token signed with the same secret for another audience (or issuer) is not for us
    const { payload } = await jwtVerify(token, key(secret), {
      algorithms: ['HS256'],
      requiredClaims: ['sub', 'exp', 'aud', ...(expected.issuer ? ['iss'] : [])],
      audience: expected.audience,
      ...(expected.issuer ? { issuer: expected.issuer } : {}),
      clockTolerance: 5,
    });
    if (typeof payload.sub !== 'string' || !uuid.test(payload.sub)) {
      throw new ApiError(401, 'invalid_token', 'Token inválido: o usuário (sub) não é um UUID.');
    }
    return { userId: payload.sub.toLowerCase(), operator: payload.fila_role === 'operator' };
  } catch (err) {
    if (err instanceof ApiError) throw err;
    if (err instanceof joseErrors.JWTExpired) throw new ApiError(401, 'token_expired', 'Sessão expirada: entre novamente.');
    if (err instanceof joseErrors.JWTClaimValidationFailed && (err.claim === 'aud' || err.claim === 'iss')) {
      throw new ApiError(401, 'invalid_token', `Token inválido: emitido para outro destino (${err.claim}).`);
    }
    if (err instanceof joseErrors.JOSEError) throw new ApiError(401, 'invalid_token', 'Token inválido.');
    throw err;
  }
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  return /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1] ?? null;
}

export function requireAuth(secret: string, expected: TokenAudience = defaultTokenAudience): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearerToken(c.req.header('authorization'));
    if (!token) {
      c.header('WWW-Authenticate', 'Bearer');
      throw new ApiError(401, 'unauthorized', 'Autenticação necessária (Authorization: Bearer <token>).');
    }
    try {
      c.set('caller', await verifyToken(secret, token, expected));
    } catch (err) {
      if (err instanceof ApiError) c.header('WWW-Authenticate', 'Bearer error="invalid_token"');
      throw err;
    }
    c.set('log', c.var.log.child({ user_id: c.var.caller.userId }));
    await next();
  };
}

export function requireOperator(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!c.var.caller.operator) throw new ApiError(403, 'forbidden', 'Apenas operadores podem fazer isto.');
    await next();
  };
}
