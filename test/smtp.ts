import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

// A real SMTP peer on loopback (smtp-server), whose received messages mailparser reads.

export interface Received {
  /** RCPT TO addresses of the SMTP transaction. */
  rcptTo: string[];
  mail: ParsedMail;
}

export interface SmtpPeer {
  url: string;
  received: Received[];
  /** While set, every RCPT TO is answered with this temporary failure. */
  reject: string | null;
  /** Delay before the server answers the message data. */
  dataDelayMs: number;
  /** Messages whose data the server has started to receive. */
  dataStarted: number;
  close(): Promise<void>;
}

export async function startSmtpPeer(): Promise<SmtpPeer> {
  const peer: SmtpPeer = { url: '', received: [], reject: null, dataDelayMs: 0, dataStarted: 0, close: async () => undefined };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(_address, _session, callback) {
      if (peer.reject === null) {
        callback();
        return;
      }
      callback(Object.assign(new Error(peer.reject), { responseCode: 450 }));
    },
    onData(stream, session, callback) {
      peer.dataStarted += 1;
      simpleParser(stream).then(
        async (mail) => {
          if (peer.dataDelayMs > 0) await sleep(peer.dataDelayMs);
          peer.received.push({ rcptTo: session.envelope.rcptTo.map((r) => r.address), mail });
          callback();
        },
        (error: unknown) => {
          callback(error instanceof Error ? error : new Error(String(error)));
        },
      );
    },
  });
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.server.address() as AddressInfo;
  peer.url = `smtp://127.0.0.1:${port}/?ignoreTLS=true`;
  peer.close = () =>
    new Promise<void>((resolve) => {
      server.close(resolve);
    });
  return peer;
}

export const addresses = (field: AddressObject | AddressObject[] | undefined) =>
  (Array.isArray(field) ? field : field === undefined ? [] : [field]).flatMap((a) => a.value.map((v) => v.address));

