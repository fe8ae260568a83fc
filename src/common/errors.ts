/**
 * The one error model of custos. Every failure a caller can see is a CustosError with a stable
 * `code` (dotted, machine-readable), an HTTP status for the REST edge, and, where a party is to
 * blame, the `culprit` (a node id, or "coordinator", or "client"). Messages never contain secrets.
 */
export type ErrorDetail = Record<string, string | number | boolean | null | string[]>;

export class CustosError extends Error {
  readonly code: string;
  readonly status: number;
  readonly culprit: string | undefined;
  readonly detail: ErrorDetail | undefined;
  constructor(code: string, message: string, opts: { status?: number; culprit?: string; detail?: ErrorDetail; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = opts.status ?? 500;
    this.culprit = opts.culprit;
    this.detail = opts.detail;
  }
  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, culprit: this.culprit, detail: this.detail };
  }
}

/** Bad input from a client or an operator (400 unless said otherwise). */
export class ValidationError extends CustosError {
  constructor(message: string, opts: { code?: string; status?: number; detail?: ErrorDetail } = {}) {
    super(opts.code ?? 'request.invalid', message, { status: opts.status ?? 400, culprit: 'client', detail: opts.detail });
  }
}

export class NotFoundError extends CustosError {
  constructor(what: string, id: string) {
    super(`${what}.not_found`, `${what} ${JSON.stringify(id)} does not exist`, { status: 404, detail: { id } });
  }
}

export class ConflictError extends CustosError {
  constructor(code: string, message: string, detail?: ErrorDetail) {
    super(code, message, { status: 409, detail });
  }
}

/**
 * A protocol run ended because a party misbehaved (identifiable abort). `culprit` names the
 * party whose message failed a check; the session must not be continued.
 */
export class ProtocolAbort extends CustosError {
  constructor(code: string, culprit: string, message: string, detail?: ErrorDetail) {
    super(code, message, { status: 502, culprit, detail });
  }
}

/** A message, envelope or bundle failed authentication or binding checks. */
export class AuthenticationError extends CustosError {
  constructor(code: string, message: string, culprit?: string, detail?: ErrorDetail) {
    super(code, message, { status: 403, culprit, detail });
  }
}

/** The HSM or the keystore refused or failed. Never carries key material. */
export class HsmError extends CustosError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, { status: 500, cause: cause === undefined ? undefined : sanitizeCause(cause) });
  }
}

/** Single-use material (a nonce, a presignature) was already consumed or is unknown. */
export class ReuseError extends CustosError {
  constructor(code: string, message: string, culprit?: string, detail?: ErrorDetail) {
    super(code, message, { status: 409, culprit, detail });
  }
}

/** The cluster cannot currently do what was asked (no quorum reachable, pool empty…). */
export class UnavailableError extends CustosError {
  constructor(code: string, message: string, detail?: ErrorDetail) {
    super(code, message, { status: 503, detail });
  }
}

export class ConfigError extends CustosError {
  constructor(message: string, detail?: ErrorDetail) {
    super('config.invalid', message, { status: 500, detail });
  }
}

function sanitizeCause(cause: unknown): Error {
  // PKCS#11 errors carry only a return code name; keep that, drop anything else.
  if (cause instanceof Error) return new Error(cause.message.slice(0, 200));
  return new Error(String(cause).slice(0, 200));
}

export function isCustosError(e: unknown): e is CustosError {
  return e instanceof CustosError;
}

/** Turns any thrown value into a CustosError without leaking internals. */
export function asCustosError(e: unknown): CustosError {
  if (e instanceof CustosError) return e;
  return new CustosError('internal', 'internal error', { status: 500, cause: e instanceof Error ? new Error(e.message.slice(0, 200)) : undefined });
}
