import { createPwnedRangeChecker } from './breached.ts';
import { checkPasswordPolicy, createPasswordHasher } from './passwords.ts';
import type { PasswordService } from './service.ts';

/**
 * The identity service's password rules and hashing (AUTH-1): the offline policy and breached
 * list always; the online k-anonymity check when configured, failing open (the offline list has
 * already applied, and a third party's outage must not stop invitations being accepted).
 */
export function createPasswordService(options: {
  argon2: { memoryCost: number; timeCost: number };
  breachApiUrl?: string | undefined;
  onBreachCheckUnavailable?: () => void;
}): PasswordService {
  const hasher = createPasswordHasher({ memoryCost: options.argon2.memoryCost, timeCost: options.argon2.timeCost, parallelism: 1 });
  const online = options.breachApiUrl === undefined ? null : createPwnedRangeChecker({ baseUrl: options.breachApiUrl });
  return {
    async problems(password, context) {
      const verdict = checkPasswordPolicy(password, context);
      if (!verdict.ok) return verdict.reasons;
      if (online !== null) {
        const answer = await online(password);
        if (answer === 'breached') return ['BREACHED'];
        if (answer === 'unavailable') options.onBreachCheckUnavailable?.();
      }
      return null;
    },
    hash: (password) => hasher.hash(password),
    verify: (hash, password) => hasher.verify(hash, password),
    async dummyVerify(password) {
      await hasher.dummyVerify(password);
    },
  };
}
