/**
 * A support agent on the Switchboard SDK, in one loop: wait for an inbound message on the
 * live change feed, reply to its conversation by id, mark the conversation read.
 *
 * Run it against a server (README.md beside this file):
 *
 *   SWITCHBOARD_URL=http://localhost:8080 SWITCHBOARD_API_KEY=sb_key_… npx tsx examples/support-agent/agent.ts
 *
 * Replace `cannedAnswer` with a call to your model: it gets the conversation's snapshot
 * (summary and timeline) and the message to answer.
 */
import { pathToFileURL } from 'node:url';
import { Switchboard, SwitchboardError, type ConversationSnapshot, type Event } from '@switchboard/sdk';

/** The `data` of a `message` event: direction, from, subject, text, … */
export type MessageData = Extract<Event, { type: 'message' }>['data'];

/** What an answer is written from. */
export interface AnswerContext {
  /** The conversation: summary, contact and timeline (oldest first). */
  readonly conversation: ConversationSnapshot;
  /** The inbound message to answer. */
  readonly message: MessageData;
}

export interface SupportAgentOptions {
  /** Where to start on the feed: after this seq, or `'latest'` (the default) for messages arriving from now on. */
  readonly after?: number | 'latest';
  /** Writes the reply (your model goes here); {@link cannedAnswer} by default. */
  readonly answer?: (context: AnswerContext) => string | Promise<string>;
  /** Stop after answering this many messages (for tests and one-shot runs); no limit by default. */
  readonly maxMessages?: number;
  /** Stops the loop. */
  readonly signal?: AbortSignal;
  /** Where to say what it does (nothing by default). */
  readonly log?: (line: string) => void;
}

/** A placeholder answer: thanks the person by name and says someone follows up. */
export function cannedAnswer({ conversation, message }: AnswerContext): string {
  const name = message.from?.name?.split(/\s+/)[0] ?? conversation.contact?.display_name ?? 'there';
  const about = conversation.subject ? ` about "${conversation.subject}"` : '';
  return `Hi ${name},\n\nThanks for your message${about}. We are on it and will follow up shortly.\n\nThe support team`;
}

/**
 * Answers inbound messages as they arrive, until `options.signal` aborts or
 * `options.maxMessages` are answered.
 *
 * - Only inbound messages that a person wrote: outbound ones (its own replies) and
 *   automatic ones (out-of-office, delivery reports: `auto_submitted`) are skipped, so two
 *   agents can never answer each other for ever.
 * - The reply's Idempotency-Key is derived from the message answered: a restarted agent
 *   that sees the same message again does not send a second reply (within 24 hours).
 * - A reply the API refuses (a blocked recipient, a disconnected account) is logged with
 *   the server's `fix` and the conversation stays unread for a person to look at.
 *
 * @returns how many messages were answered, and the feed seq to resume after.
 */
export async function runSupportAgent(sb: Switchboard, options: SupportAgentOptions = {}): Promise<{ answered: number; lastSeq: number | null }> {
  const answer = options.answer ?? cannedAnswer;
  const log = options.log ?? (() => undefined);
  let answered = 0;
  let lastSeq: number | null = null;
  if (options.maxMessages === 0) return { answered, lastSeq };
  for await (const event of sb.events.stream({ after: options.after ?? 'latest', types: ['message'], signal: options.signal })) {
    lastSeq = event.seq;
    if (event.type !== 'message') continue;
    const message = event.data;
    if (message.direction !== 'inbound' || message.auto_submitted) continue;
    try {
      const conversation = await sb.conversations.get(event.conversation_id);
      const text = await answer({ conversation, message });
      await sb.conversations.reply(conversation.id, { text }, { idempotencyKey: `support-agent:${message.message_id}` });
      await sb.conversations.markRead(conversation.id);
      log(`answered ${message.from?.address ?? 'someone'} in ${conversation.id}`);
    } catch (err) {
      if (!(err instanceof SwitchboardError)) throw err;
      log(`could not answer ${event.conversation_id}: ${err.code}: ${err.detail} (${err.fix ?? 'no fix given'})`);
      continue;
    }
    answered += 1;
    if (options.maxMessages !== undefined && answered >= options.maxMessages) break;
  }
  return { answered, lastSeq };
}

// Run as a program: `npx tsx examples/support-agent/agent.ts` (Ctrl-C stops it).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const apiKey = process.env.SWITCHBOARD_API_KEY;
  if (!apiKey) {
    console.error('Set SWITCHBOARD_API_KEY (and SWITCHBOARD_URL, default http://localhost:8080).');
    process.exit(1);
  }
  const sb = new Switchboard({ baseUrl: process.env.SWITCHBOARD_URL ?? 'http://localhost:8080', apiKey });
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  console.log('support agent: waiting for messages (Ctrl-C to stop)');
  await runSupportAgent(sb, { signal: stop.signal, log: (line) => console.log(line) });
}
