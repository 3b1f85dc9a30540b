/**
 * An error from the fila API, carrying the server's code and message unchanged (show `message` to
 * the user: for `user_has_active_job` it is the exact sentence the product wants). Failures that
 * never reached the server have status 0 and code `network_error`.
 */
export class FilaApiError extends Error {
  override readonly name = 'FilaApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The API's error body (`{ error: { code, message, details? } }`) of a failed response. */
  static async fromResponse(res: Response): Promise<FilaApiError> {
    return FilaApiError.fromBody(res.status, await res.text(), res.statusText);
  }

  /** The same from a status and the body's text (an XMLHttpRequest's answer). */
  static fromBody(status: number, text: string, statusText = ''): FilaApiError {
    try {
      const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
      if (body.error && typeof body.error.code === 'string' && typeof body.error.message === 'string') {
        return new FilaApiError(status, body.error.code, body.error.message, body.error.details);
      }
    } catch (err) {
      // not JSON (a proxy's error page): described below from the status line
      return new FilaApiError(status, `http_${status}`, text.slice(0, 200) || statusText || `HTTP ${status}`, undefined, { cause: err });
    }
    return new FilaApiError(status, `http_${status}`, statusText || `HTTP ${status}`);
  }

  static network(err: unknown): FilaApiError {
    const message = err instanceof Error ? err.message : String(err);
    return new FilaApiError(0, 'network_error', `Sem conexão com o servidor: ${message}`, undefined, { cause: err });
  }
}
