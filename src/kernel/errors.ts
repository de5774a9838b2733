/** One entry of a module's error catalogue: the public status and title of a stable code. */
export interface ErrorSpec {
  status: number;
  title: string;
}

export type ErrorCatalog = Readonly<Record<string, ErrorSpec>>;

const CODE = /^[A-Z][A-Z0-9_]*$/;

/** Declares a module's error catalogue; codes are UPPER_SNAKE and statuses 4xx/5xx. */
export function defineErrors<const C extends ErrorCatalog>(catalog: C): C {
  for (const [code, spec] of Object.entries(catalog)) {
    if (!CODE.test(code)) throw new Error(`error code ${code} is not UPPER_SNAKE_CASE`);
    // `status < 400 || status > 599` alone would let NaN and 404.5 through.
    if (!Number.isInteger(spec.status) || spec.status < 400 || spec.status > 599) {
      throw new Error(`error ${code}: status must be an integer from 400 to 599, got ${spec.status}`);
    }
  }
  return catalog;
}

/**
 * An expected failure with a public code. `detail` is shown to the client, so it must never hold
 * SQL, stack traces or secrets; put those in `cause` (logged, never sent).
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly title: string;
  readonly detail: string | undefined;
  readonly extensions: Readonly<Record<string, unknown>>;

  constructor(options: {
    code: string;
    spec: ErrorSpec;
    detail?: string;
    extensions?: Record<string, unknown>;
    cause?: unknown;
  }) {
    super(options.detail ?? options.spec.title, { cause: options.cause });
    this.name = 'AppError';
    this.code = options.code;
    this.status = options.spec.status;
    this.title = options.spec.title;
    this.detail = options.detail;
    this.extensions = options.extensions ?? {};
  }
}

/** Returns a typed constructor for a catalogue's errors: `fail('NOT_FOUND', 'no such workspace')`. */
export function errorsOf<const C extends ErrorCatalog>(catalog: C) {
  return (code: keyof C & string, detail?: string, extensions?: Record<string, unknown>, cause?: unknown): AppError =>
    new AppError({
      code,
      spec: catalog[code] as ErrorSpec,
      ...(detail === undefined ? {} : { detail }),
      ...(extensions === undefined ? {} : { extensions }),
      cause,
    });
}

/** RFC 9457 problem details, as sent to clients. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

export function problemType(code: string): string {
  return `urn:palisade:problem:${code.toLowerCase().replaceAll('_', '-')}`;
}

export function toProblem(error: AppError, instance: string): Problem {
  return {
    ...error.extensions,
    type: problemType(error.code),
    title: error.title,
    status: error.status,
    code: error.code,
    ...(error.detail === undefined ? {} : { detail: error.detail }),
    instance,
  };
}
