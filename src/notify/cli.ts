import type { Database } from '../db/database.ts';

// A type alias, not an interface: query<R>() wants an indexable row type.
type OutboxRow = {
  id: string;
  workspace_id: string | null;
  kind: string;
  to_address: string;
  subject: string;
  text_body: string | null;
  status: string;
  attempts: number;
  last_error: string | null;
  created_at: Date;
  sent_at: Date | null;
};

/**
 * Makes stored text safe for a terminal: control characters other than line feed and tab
 * (ANSI escape sequences, carriage returns that overwrite a line) are shown as `\u{…}`, so a
 * crafted body cannot rewrite what the operator sees (log and terminal injection).
 */
function printable(text: string): string {
  return text.replace(/[^\P{Cc}\n\t]/gu, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`);
}

/**
 * `palisade outbox [--all]`: the text the CLI prints. Shows the queued mails (to, subject,
 * created, body), oldest first; with `all`, sent and failed ones too (sent ones without their
 * body: it was cleared after sending). Marks nothing: a mail read here stays queued.
 *
 * @param options.all include sent and failed mails @default false
 * @param options.limit most mails printed @default 100
 */
export async function outboxCommand(db: Database, options: { all?: boolean; limit?: number } = {}): Promise<string> {
  const all = options.all ?? false;
  const limit = options.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1) throw new TypeError(`limit must be a positive integer, got ${limit}`);
  const { rows, total } = await db.withSystem('notify: read outbox', async (tx) => {
    const list = await tx.query<OutboxRow>(
      `SELECT id, workspace_id, kind, to_address, subject, text_body, status, attempts, last_error, created_at, sent_at
         FROM central.mail_outbox
        WHERE $1 OR status = 'queued'
        ORDER BY created_at, id
        LIMIT $2`,
      [all, limit],
    );
    const count = await tx.query<{ n: number }>(
      `SELECT count(*)::integer AS n FROM central.mail_outbox WHERE $1 OR status = 'queued'`,
      [all],
    );
    return { rows: list.rows, total: count.rows[0]?.n ?? 0 };
  });
  if (rows.length === 0) return all ? 'outbox: no mail' : 'outbox: no queued mail';
  const blocks = rows.map((m) => {
    const lines = [
      `mail ${m.id} (${m.status}${m.attempts > 0 ? `, ${m.attempts} attempt(s)` : ''})`,
      `  kind:      ${m.kind}`,
      `  workspace: ${m.workspace_id ?? '-'}`,
      `  to:        ${m.to_address}`,
      `  subject:   ${printable(m.subject)}`,
      `  created:   ${m.created_at.toISOString()}`,
    ];
    if (m.sent_at !== null) lines.push(`  sent:      ${m.sent_at.toISOString()}`);
    if (m.last_error !== null) lines.push(`  error:     ${printable(m.last_error)}`);
    lines.push('');
    if (m.text_body === null) lines.push('  (body removed after sending)');
    else lines.push(...printable(m.text_body).split('\n').map((l) => `  | ${l}`));
    return lines.join('\n');
  });
  const shown = rows.length < total ? `${rows.length} of ${total}` : `${total}`;
  blocks.push(`${shown} ${all ? 'mail(s)' : 'queued mail(s)'}`);
  return blocks.join('\n\n');
}
