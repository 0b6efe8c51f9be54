/**
 * Prefixed, time-sortable ids (TypeID: a type prefix and a base32 UUIDv7, SPEC section 5).
 */
import { TypeID, typeid } from 'typeid-js';

/** Every id prefix in use, by the kind of resource it names. */
export const ID_PREFIX = {
  organization: 'org',
  apiKey: 'key',
  identity: 'idn',
  account: 'acct',
  contact: 'ct',
  conversation: 'conv',
  event: 'evt',
  message: 'msg',
  media: 'med',
  webhookEndpoint: 'whk',
  webhookDelivery: 'whd',
  webhookAttempt: 'wha',
  member: 'mem',
  note: 'note',
  call: 'call',
  contactRule: 'rule',
  suggestion: 'sug',
  trainingPair: 'tp',
  view: 'view',
  connection: 'conn',
  session: 'ses',
} as const;

export type IdPrefix = (typeof ID_PREFIX)[keyof typeof ID_PREFIX];

/** A new id such as `conv_01h455vb4pex5vsknk084sn02q`, sortable by creation time. */
export function newId(prefix: IdPrefix): string {
  return typeid(prefix).toString();
}

/**
 * Whether `value` is a well-formed id of the given prefix. Routes treat a malformed
 * id as a 404, like a missing one (SPEC section 5).
 */
export function isId(prefix: IdPrefix, value: string): boolean {
  if (!value.startsWith(`${prefix}_`)) return false;
  try {
    TypeID.fromString(value, prefix);
    return true;
  } catch {
    return false;
  }
}
