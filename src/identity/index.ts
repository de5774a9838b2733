import type { Config } from '../config.ts';
import { defineModule } from '../kernel/module.ts';
import { identityErrors } from './errors.ts';
import { identityPermissions, identityRoles } from './permissions.ts';
import { createPasswordService } from './password-service.ts';
import { registerGuard } from './guard.ts';
import { identityRoutes, registerCsrfGuard } from './routes.ts';
import type { IdentityOptions } from './service.ts';

/** The identity service's settings, from the configuration. */
export function identityOptions(config: Config): IdentityOptions {
  return {
    publicUrl: config.publicUrl,
    sessionMaxAgeSeconds: config.identity.sessionMaxAgeSeconds,
    privilegedMaxAgeSeconds: config.identity.privilegedMaxAgeSeconds,
    idleTimeoutSeconds: config.identity.idleTimeoutSeconds,
    lockoutThreshold: config.identity.lockoutThreshold,
    lockoutSeconds: config.identity.lockoutSeconds,
    // AUTH-11 and AUTH-2: fixed by the spec.
    invitationTtlSeconds: 72 * 3600,
    resetTtlSeconds: 3600,
  };
}

/**
 * Identity: invitation-only accounts, argon2id passwords, sign-in with lockout, sessions checked
 * and revocable on every request, password reset by mail, first-run setup.
 */
export const identityModule = defineModule({
  id: 'identity',
  migrations: new URL('./sql/', import.meta.url),
  errors: identityErrors,
  permissions: identityPermissions,
  roles: identityRoles,
  async global(app, { db, config, access }) {
    registerGuard(app, { db, access, options: identityOptions(config) }, config.publicUrl.startsWith('https://'));
    registerCsrfGuard(app, { secureCookies: config.publicUrl.startsWith('https://'), allowedOrigins: [new URL(config.publicUrl).origin] });
  },
  async routes(app, { db, config, mailQueued, access }) {
    const passwords = createPasswordService({
      argon2: config.identity.argon2,
      breachApiUrl: config.identity.breachApiUrl,
      onBreachCheckUnavailable: () => {
        app.log.warn('online breached-password check unavailable; the offline list applied');
      },
    });
    const secure = config.publicUrl.startsWith('https://');
    await identityRoutes(
      app,
      {
        db,
        passwords,
        mailQueued,
        access,
        options: identityOptions(config),
      },
      { secureCookies: secure, allowedOrigins: [new URL(config.publicUrl).origin], sessionMaxAgeSeconds: config.identity.sessionMaxAgeSeconds },
    );
  },
});
