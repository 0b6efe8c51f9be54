/**
 * What a person can do to a conversation: star, assign, archive, read state, labels,
 * notes, merge. Each change whose outcome is known shows at once (optimistic), then the
 * conversation, lists and counts are refetched; a refusal is shown as a toast and the
 * refetch puts the truth back.
 */
import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import { useMemo } from 'react';
import { api, unwrap } from '../api/client';
import { showError } from '../ui/toasts';
import { patchConversation, refreshConversation, type ConversationPatch } from './cache';

/** A fresh `Idempotency-Key` for one logical write (a retry of it reuses the key). */
export const idempotencyKey = (): string => crypto.randomUUID();

export type ConversationActions = {
  readonly star: (starred: boolean) => Promise<void>;
  /** `null` unassigns. */
  readonly assign: (memberId: string | null) => Promise<void>;
  readonly archive: (archived: boolean) => Promise<void>;
  /** Clears the unread count (`PATCH unread_count: 0`): no read receipt goes to the person. */
  readonly markRead: () => Promise<void>;
  readonly markUnread: () => Promise<void>;
  /** Adds `label` to `current` (the labels as shown). */
  readonly addLabel: (label: string, current: readonly string[]) => Promise<void>;
  readonly removeLabel: (label: string, current: readonly string[]) => Promise<void>;
  /** Adds an internal note; true once stored. */
  readonly addNote: (text: string) => Promise<boolean>;
  /** Merges conversation `otherId` with this one; the survivor's id, or null when refused. */
  readonly merge: (otherId: string) => Promise<string | null>;
};

/** The actions on conversation `id`, against the cache of `qc`. */
export function conversationActions(qc: QueryClient, id: string): ConversationActions {
  const path = { path: { id } };

  /** Runs `call`, with `patch` shown meanwhile; false when the server refused it. */
  async function run(call: () => Promise<unknown>, patch?: ConversationPatch): Promise<boolean> {
    if (patch) await patchConversation(qc, id, patch);
    try {
      await call();
      return true;
    } catch (err) {
      showError(err);
      return false;
    } finally {
      void refreshConversation(qc, id);
    }
  }

  return {
    star: async (starred) => {
      await run(async () => unwrap(starred ? await api.PUT('/v1/conversations/{id}/star', { params: path }) : await api.DELETE('/v1/conversations/{id}/star', { params: path })), { starred });
    },
    assign: async (memberId) => {
      await run(async () => unwrap(await api.POST('/v1/conversations/{id}/assign', { params: path, body: { assigned_to: memberId } })), { assigned_to: memberId });
    },
    archive: async (archived) => {
      await run(async () => unwrap(await api.POST('/v1/conversations/{id}/archive', { params: path, body: { archived } })), { archived });
    },
    markRead: async () => {
      await run(async () => unwrap(await api.PATCH('/v1/conversations/{id}', { params: path, body: { unread_count: 0 } })), { unread_count: 0 });
    },
    markUnread: async () => {
      await run(async () => unwrap(await api.POST('/v1/conversations/{id}/unread', { params: path })));
    },
    addLabel: async (label, current) => {
      if (current.includes(label)) return;
      await run(async () => unwrap(await api.POST('/v1/conversations/{id}/labels', { params: path, body: { labels: [label] } })), { labels: [...current, label] });
    },
    removeLabel: async (label, current) => {
      await run(async () => unwrap(await api.DELETE('/v1/conversations/{id}/labels', { params: { ...path, query: { label: [label] } } })), {
        labels: current.filter((l) => l !== label),
      });
    },
    addNote: (text) =>
      run(async () => unwrap(await api.POST('/v1/conversations/{id}/notes', { params: { ...path, header: { 'idempotency-key': idempotencyKey() } }, body: { text } }))),
    merge: async (otherId) => {
      let survivor: string | null = null;
      await run(async () => {
        survivor = unwrap(await api.POST('/v1/conversations/{id}/merge', { params: path, body: { conversation_id: otherId } })).id;
      });
      if (survivor !== null) void refreshConversation(qc, otherId);
      return survivor;
    },
  };
}

/** `conversationActions` for a component, stable while `id` is. */
export function useConversationActions(id: string): ConversationActions {
  const qc = useQueryClient();
  return useMemo(() => conversationActions(qc, id), [qc, id]);
}
