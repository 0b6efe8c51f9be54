/**
 * Live updates: one EventSource on `GET /v1/events/stream?after=latest` (the session
 * cookie authenticates it). Each committed event invalidates the queries it may change,
 * gathered over a short window so a burst of events costs one refetch; `typing` signals
 * go to the typing store. EventSource reconnects by itself with Last-Event-ID; when the
 * server refuses it outright (the session ended, a restart), the session is checked and
 * the stream opened again from the last event seen.
 */
import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { keys } from '../api/keys';
import type { EventType, TimelineEvent } from '../api/types';
import { setTyping } from './typing';

/** What an event may change: the lists and counts, the conversation itself, its suggestions. */
const LISTS = 1;
const CONVERSATION = 2;
const SUGGESTIONS = 4;

const EFFECTS: Record<EventType, number> = {
  message: LISTS | CONVERSATION,
  message_status: CONVERSATION,
  label_added: LISTS | CONVERSATION,
  label_removed: LISTS | CONVERSATION,
  archived: LISTS | CONVERSATION,
  unarchived: LISTS | CONVERSATION,
  no_reply_expired: LISTS | CONVERSATION,
  sla_breached: LISTS | CONVERSATION,
  read: LISTS | CONVERSATION,
  unread: LISTS | CONVERSATION,
  starred: LISTS | CONVERSATION,
  unstarred: LISTS | CONVERSATION,
  assigned: LISTS | CONVERSATION,
  note: CONVERSATION,
  call: LISTS | CONVERSATION,
  suggestion_created: SUGGESTIONS,
  suggestion_sent: SUGGESTIONS | CONVERSATION,
  suggestion_dismissed: SUGGESTIONS | CONVERSATION,
  reaction: CONVERSATION,
  connection_activated: LISTS | CONVERSATION,
  connection_released: LISTS | CONVERSATION,
  merged: LISTS | CONVERSATION | SUGGESTIONS,
};

/** A `typing` signal: live only, never stored, so not one of the API's event schemas. */
type TypingSignal = { readonly conversation_id: string; readonly state: 'started' | 'stopped'; readonly direction: 'inbound' | 'outbound' };

const BATCH_MS = 120;
const REOPEN_MS = 3_000;

/**
 * Invalidations gathered from events and applied together: the first event of a quiet
 * spell waits `BATCH_MS` for its fellows; while the refetches of one flush run, new events
 * wait for them, so a busy organization gets one refetch at a time instead of a refetch
 * cancelled and started again by every event.
 */
class Batch {
  #lists = false;
  readonly #conversations = new Set<string>();
  readonly #suggestions = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  #flushing = false;
  #stopped = false;
  readonly #qc: QueryClient;

  constructor(qc: QueryClient) {
    this.#qc = qc;
  }

  add(effects: number, conversationIds: readonly string[]): void {
    if (effects & LISTS) this.#lists = true;
    for (const id of conversationIds) {
      if (effects & CONVERSATION) this.#conversations.add(id);
      if (effects & SUGGESTIONS) this.#suggestions.add(id);
    }
    if (!this.#timer && !this.#flushing) this.#timer = setTimeout(() => void this.#flush(), BATCH_MS);
  }

  /** After a gap in the stream nothing on screen can be trusted: everything is refetched. */
  everything(): void {
    void this.#qc.invalidateQueries({ predicate: (q) => q.queryKey[0] !== keys.session[0] });
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  async #flush(): Promise<void> {
    this.#timer = null;
    if (this.#stopped) return;
    const qc = this.#qc;
    const work: Promise<unknown>[] = [];
    if (this.#lists) {
      work.push(qc.invalidateQueries({ queryKey: keys.conversationLists }), qc.invalidateQueries({ queryKey: keys.viewCountsAll }));
    }
    for (const id of this.#conversations) {
      work.push(qc.invalidateQueries({ queryKey: keys.conversation(id) }), qc.invalidateQueries({ queryKey: keys.timeline(id) }));
    }
    for (const id of this.#suggestions) work.push(qc.invalidateQueries({ queryKey: keys.suggestions(id) }));
    this.#lists = false;
    this.#conversations.clear();
    this.#suggestions.clear();
    this.#flushing = true;
    await Promise.allSettled(work);
    this.#flushing = false;
    if (this.#lists || this.#conversations.size > 0 || this.#suggestions.size > 0) this.add(0, []);
  }
}

/** Keeps every query of the signed-in shell up to date while it is mounted. */
export function useLiveUpdates(): void {
  const qc = useQueryClient();
  useEffect(() => {
    const batch = new Batch(qc);
    let source: EventSource | null = null;
    let lastId = '';
    let reopen: ReturnType<typeof setTimeout> | null = null;
    let stopped = false;

    const onEvent = (e: MessageEvent<string>) => {
      if (e.lastEventId) lastId = e.lastEventId;
      const event = JSON.parse(e.data) as TimelineEvent;
      const ids = event.type === 'merged' ? [event.conversation_id, event.data.into] : [event.conversation_id];
      if (event.type === 'message' && event.data.direction === 'inbound') setTyping(event.conversation_id, false);
      batch.add(EFFECTS[event.type] ?? LISTS | CONVERSATION, ids);
    };
    const onTyping = (e: MessageEvent<string>) => {
      const signal = JSON.parse(e.data) as TypingSignal;
      if (signal.direction === 'inbound') setTyping(signal.conversation_id, signal.state === 'started');
    };
    const open = (resumed: boolean) => {
      source = new EventSource(`/v1/events/stream?after=${lastId || 'latest'}`);
      for (const type of Object.keys(EFFECTS)) source.addEventListener(type, onEvent);
      source.addEventListener('typing', onTyping);
      // Reopened from scratch (no event seen yet): what happened meanwhile is unknown.
      if (resumed && !lastId) source.addEventListener('open', () => batch.everything(), { once: true });
      source.addEventListener('error', () => {
        if (source?.readyState !== EventSource.CLOSED || stopped) return;
        source.close();
        reopen = setTimeout(async () => {
          await qc.refetchQueries({ queryKey: keys.session });
          if (!stopped && qc.getQueryData(keys.session)) open(true);
        }, REOPEN_MS);
      });
    };
    open(false);
    return () => {
      stopped = true;
      source?.close();
      if (reopen) clearTimeout(reopen);
      batch.stop();
    };
  }, [qc]);
}
