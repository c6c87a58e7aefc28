/**
 * Errors in the OpenAI API's shape: `{"error": {"message", "type", "param", "code"}}` with the
 * HTTP status the official clients map to their error classes (400 BadRequestError, 401
 * AuthenticationError, 404 NotFoundError, 429 RateLimitError, 503 …).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type: string = status === 401 ? 'authentication_error' : status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'server_error' : 'invalid_request_error',
  ) {
    super(message);
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const badRequest = (message: string, param: string | null = null, code: string | null = null): ApiError => new ApiError(400, message, param, code);
