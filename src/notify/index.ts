import { defineModule } from '../kernel/module.ts';

/**
 * E-mail: mails are queued in the business transaction (central.mail_outbox) and sent after
 * commit over SMTP, or kept in the outbox for `npm run palisade -- outbox` when no SMTP_URL is set.
 */
export const notifyModule = defineModule({
  id: 'notify',
  migrations: new URL('./sql/', import.meta.url),
});
