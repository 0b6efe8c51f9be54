/**
 * Names for the API's shapes, taken from the generated OpenAPI types of
 * `@switchboard/sdk` (never written out by hand).
 */
import type { components, paths } from '@switchboard/sdk';

type Schemas = components['schemas'];

export type Problem = Schemas['Problem'];
export type Conversation = Schemas['Conversation'];
export type Member = Schemas['Member'];
export type Identity = Schemas['Identity'];
export type View = Schemas['View'];
export type Suggestion = Schemas['Suggestion'];
export type Contact = Schemas['Contact'];
export type Sender = Schemas['Sender'];
export type TimelineEvent = Schemas['Event'];
export type EventType = TimelineEvent['type'];
export type Channel = Conversation['channel'];

/** An event of one type, with its own `data`. */
export type EventOf<T extends EventType> = Extract<TimelineEvent, { type: T }>;
export type MessageData = EventOf<'message'>['data'];
export type MessageStatus = MessageData['status'];
export type MediaItem = MessageData['media'][number];

/** `GET /v1/conversations/{id}`: the summary, contact, sender health and first events. */
export type ConversationSnapshot = paths['/v1/conversations/{id}']['get']['responses'][200]['content']['application/json'];
/** One page of `GET /v1/conversations`. */
export type ConversationPage = paths['/v1/conversations']['get']['responses'][200]['content']['application/json'];
/** The query of `GET /v1/conversations`. */
export type ConversationQuery = NonNullable<paths['/v1/conversations']['get']['parameters']['query']>;
/** One page of `GET /v1/conversations/{id}/events`. */
export type EventPage = paths['/v1/conversations/{id}/events']['get']['responses'][200]['content']['application/json'];
/** `GET /v1/auth/session` and the answer of a sign-in. */
export type Session = paths['/v1/auth/session']['get']['responses'][200]['content']['application/json'];
/** One line of `GET /v1/views/counts`. */
export type ViewCount = paths['/v1/views/counts']['get']['responses'][200]['content']['application/json']['data'][number];
