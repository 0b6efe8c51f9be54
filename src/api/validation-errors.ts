/**
 * Validation errors in words a caller (often an LLM) can act on: Ajv's errors of one
 * request part become `{param, detail}` items such as `identity_id is required` or
 * `order must be one of: asc, desc`, never Ajv's own text ("must have required property
 * 'identity_id'"). The errors come from Ajv with `verbose` (each names the schema that
 * raised it) and, for a part of up to 10,000 values, `allErrors` (api/validation.ts).
 */
import type { ErrorObject } from 'ajv';
import { MAX_LISTED_ERRORS, type FieldProblem } from '../errors.js';

/** The request part Fastify validated (`err.validationContext`). */
export type RequestPart = 'body' | 'querystring' | 'params' | 'headers' | string;

const dotted = (instancePath: string) => instancePath.replace(/^\//, '').split('/').filter(Boolean)
  .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).join('.');
const join = (...parts: (string | undefined)[]) => parts.filter(Boolean).join('.');
/** A property name as a path step (an empty name shows as `""`). */
const step = (name: unknown) => (name === '' ? '""' : String(name));

type Schema = Record<string, unknown>;
const asSchema = (v: unknown): Schema => (v !== null && typeof v === 'object' ? v as Schema : {});

const FORMATS: Record<string, string> = {
  email: 'an email address',
  'date-time': 'an RFC 3339 date-time such as 2024-05-01T12:00:00Z',
  date: 'a date such as 2024-05-01',
  uri: 'an absolute URL',
  url: 'an absolute URL',
  uuid: 'a UUID',
  hostname: 'a host name',
  ipv4: 'an IPv4 address',
  ipv6: 'an IPv6 address',
};

const TYPES: Record<string, string> = {
  string: 'a string', integer: 'an integer', number: 'a number', boolean: 'true or false',
  object: 'an object', array: 'an array', null: 'null',
};

const list = (values: readonly unknown[]) => values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

/** What a schema accepts, in a few words (`an email address`, `"sms"`, `an array of strings`). */
function kindOf(schema: Schema): string {
  if ('const' in schema) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return `one of ${list(schema.enum)}`;
  const union = (schema.anyOf ?? schema.oneOf) as unknown[] | undefined;
  if (Array.isArray(union)) return union.map((s) => kindOf(asSchema(s))).join(' or ');
  const type = schema.type;
  if (Array.isArray(type)) return type.map((t) => TYPES[String(t)] ?? String(t)).join(' or ');
  if (type === 'string' && typeof schema.format === 'string') return FORMATS[schema.format] ?? `a string in ${schema.format} format`;
  if (type === 'array' && schema.items && typeof schema.items === 'object') {
    const item = kindOf(asSchema(schema.items)).replace(/^an? /, '');
    return `an array of ${item.startsWith('one of') ? `values ${item}` : `${item}${item.endsWith('s') ? 'es' : 's'}`}`;
  }
  return TYPES[String(type)] ?? 'a valid value';
}

/** The property names an object schema allows, for "allowed: …" hints. */
function allowedNames(schema: unknown): string[] {
  const properties = asSchema(asSchema(schema).properties);
  return Object.keys(properties);
}

/** One Ajv error (not a union) in words. */
function describeOne(e: ErrorObject, part: RequestPart): FieldProblem {
  const path = dotted(e.instancePath);
  const params = e.params as Record<string, unknown>;
  const param = path || part;
  const said = (detail: string, at = param): FieldProblem => ({ param: at, detail });
  switch (e.keyword) {
    case 'required': {
      const missing = join(path, step(params.missingProperty));
      return said(`${missing} is required`, missing);
    }
    case 'additionalProperties': {
      const extra = step(params.additionalProperty);
      const at = join(path, extra);
      const allowed = allowedNames(e.parentSchema);
      const what = part === 'querystring' ? 'a query parameter of this endpoint' : path ? `a field of ${path}` : 'a field of this request';
      const none = part === 'querystring' ? 'this endpoint takes no query parameters' : path ? `${path} takes no fields` : 'this endpoint takes no body fields';
      const hint = allowed.length > 0 ? `allowed: ${allowed.join(', ')}` : none;
      return said(`${at} is not ${what}; ${hint}`, at);
    }
    case 'type':
      // Fastify validates a missing body as null.
      if (e.data == null && !path && part === 'body') return said('body must be a JSON object; none (or null) was sent');
      return said(`${param} must be ${kindOf(asSchema(e.parentSchema).type !== undefined ? asSchema(e.parentSchema) : { type: e.schema ?? params.type })}`);
    case 'enum': return said(`${param} must be one of: ${list(params.allowedValues as unknown[])}`);
    case 'const': return said(`${param} must be ${JSON.stringify(params.allowedValue)}`);
    case 'format': return said(`${param} must be ${FORMATS[String(params.format)] ?? `in ${String(params.format)} format`}`);
    case 'minLength': return said(params.limit === 1 ? `${param} must not be empty` : `${param} must be at least ${plural(Number(params.limit), 'character')} long`);
    case 'maxLength': return said(`${param} must be at most ${plural(Number(params.limit), 'character')} long`);
    case 'minimum': return said(`${param} must be at least ${String(params.limit)}`);
    case 'maximum': return said(`${param} must be at most ${String(params.limit)}`);
    case 'exclusiveMinimum': return said(`${param} must be greater than ${String(params.limit)}`);
    case 'exclusiveMaximum': return said(`${param} must be less than ${String(params.limit)}`);
    case 'multipleOf': return said(`${param} must be a multiple of ${String(params.multipleOf)}`);
    case 'minItems': return said(`${param} must have at least ${plural(Number(params.limit), 'item')}`);
    case 'maxItems': return said(`${param} must have at most ${plural(Number(params.limit), 'item')}`);
    case 'minProperties': return said(`${param} must have at least ${plural(Number(params.limit), 'key')}`);
    case 'maxProperties': return said(`${param} must have at most ${plural(Number(params.limit), 'key')}`);
    case 'uniqueItems': return said(`${param} must not repeat an item (items ${String(params.j)} and ${String(params.i)} are the same)`);
    case 'pattern': return said(`${param} must match the pattern ${String(params.pattern)}`);
    case 'propertyNames': return said(`${param} has a key that is not allowed`);
    default: return said(`${param} is not valid (${e.keyword})`);
  }
}

const isUnion = (e: ErrorObject) => e.keyword === 'anyOf' || e.keyword === 'oneOf';

/**
 * The outermost failed union each error belongs to (a union's branch errors come with the
 * union's own error, at a longer schema path and the same or a deeper instance path).
 * Failed unions have few distinct schema paths (one per union of the schema), so this is
 * linear in the errors, however many there are.
 */
function ownersOf(errors: readonly ErrorObject[]): Map<ErrorObject, ErrorObject> {
  const owners = new Map<ErrorObject, ErrorObject>();
  // schema path → instance path → the union that failed there.
  const unions = new Map<string, Map<string, ErrorObject>>();
  for (const u of errors) {
    if (!isUnion(u)) continue;
    const at = unions.get(u.schemaPath) ?? new Map<string, ErrorObject>();
    unions.set(u.schemaPath, at.set(u.instancePath, u));
  }
  if (unions.size === 0) return owners;
  // Outermost first: a union's schema path is shorter than those of unions inside it.
  const byPath = [...unions].map(([path, at]) => ({ prefix: `${path}/`, at })).sort((a, b) => a.prefix.length - b.prefix.length);
  for (const e of errors) {
    search: for (const { prefix, at } of byPath) {
      if (!e.schemaPath.startsWith(prefix)) continue;
      for (let path = e.instancePath; ; path = path.slice(0, path.lastIndexOf('/'))) {
        const union = at.get(path);
        if (union && union !== e) { owners.set(e, union); break search; }
        if (path === '') break;
      }
    }
  }
  return owners;
}

/** The values a schema fixes (`const`, `enum`, or a union of constants), or null. */
function fixedValues(schema: Schema): unknown[] | null {
  if ('const' in schema) return [schema.const];
  if (Array.isArray(schema.enum)) return schema.enum;
  const union = (schema.anyOf ?? schema.oneOf) as unknown[] | undefined;
  if (!Array.isArray(union) || union.length === 0) return null;
  const parts = union.map((s) => fixedValues(asSchema(s)));
  return parts.every((p) => p !== null) ? parts.flat() : null;
}

/**
 * Whether a union branch is the wrong one for the value: its type does not match, or a
 * property it fixes (a discriminator such as `channel`) has another value or is missing.
 */
function wrongBranch(union: ErrorObject, branch: Schema, errors: readonly ErrorObject[]): boolean {
  const properties = asSchema(branch.properties);
  const fixed = (name: unknown) => fixedValues(asSchema(properties[String(name)])) !== null;
  return errors.some((e) => {
    if (e.instancePath === union.instancePath) {
      if (e.keyword === 'type' || e.keyword === 'const' || e.keyword === 'enum') return true;
      return e.keyword === 'required' && fixed((e.params as { missingProperty?: unknown }).missingProperty);
    }
    const child = e.instancePath.slice(union.instancePath.length + 1);
    return e.instancePath.startsWith(`${union.instancePath}/`) && !child.includes('/') && fixed(child);
  });
}

/**
 * A failed union: the allowed values when every branch is a constant; else the errors of
 * the branch the value comes closest to (right type, right discriminator, fewest errors);
 * else what each branch would take.
 */
function describeUnion(union: ErrorObject, inside: readonly ErrorObject[], part: RequestPart, limit: number): Described {
  const one = (item: FieldProblem): Described => ({ items: [item], total: 1 });
  const param = dotted(union.instancePath) || part;
  const branches = (Array.isArray(union.schema) ? union.schema : []).map(asSchema);
  const values = fixedValues({ anyOf: branches });
  if (values) return one({ param, detail: `${param} must be one of: ${list(values)}` });
  // Each error of the union is in the branch its schema path names next: `<union>/<i>/…`.
  const byBranch = branches.map(() => [] as ErrorObject[]);
  const start = union.schemaPath.length + 1;
  for (const e of inside) {
    const end = e.schemaPath.indexOf('/', start);
    byBranch[Number(e.schemaPath.slice(start, end === -1 ? undefined : end))]?.push(e);
  }
  const candidates = branches
    .map((branch, i) => ({ branch, errors: byBranch[i]! }))
    .filter(({ branch, errors }) => errors.length > 0 && !wrongBranch(union, branch, errors));
  if (candidates.length > 0) {
    const closest = candidates.reduce((a, b) => (b.errors.length < a.errors.length ? b : a));
    return describeErrors(closest.errors, part, limit);
  }
  // Objects told apart by a constant property (`channel`): name its allowed values.
  const tagValues = (b: Schema, k: string) => fixedValues(asSchema(asSchema(b.properties)[k]));
  const tag = Object.keys(asSchema(branches[0]?.properties)).find((k) => branches.every((b) => tagValues(b, k) !== null));
  const isObject = union.data !== null && typeof union.data === 'object' && !Array.isArray(union.data);
  if (tag !== undefined && branches.length > 1 && isObject) {
    const at = join(dotted(union.instancePath), tag);
    return one({ param: at, detail: `${at} must be one of: ${list(branches.flatMap((b) => tagValues(b, tag)!))}` });
  }
  const wanted = branches.length > 0 ? branches.map(kindOf).join(' or ') : 'one of the documented forms';
  return one({ param, detail: `${param} must be ${wanted}` });
}

/** The problems of a request part: the first ones in words, and how many there are. */
export interface Described {
  /** At most the `limit` asked for, in the order Ajv found them. */
  readonly items: readonly FieldProblem[];
  /** How many problems there are in all (a failed union counts once). */
  readonly total: number;
}

/**
 * Ajv's errors of one request part, in words, in the order Ajv found them; a failed
 * union (`anyOf`/`oneOf`) gives the errors that matter instead of one per branch. Only
 * the first `limit` are put into words, so a body with a hundred thousand errors costs
 * little more than counting them.
 *
 * @param errors Ajv's `errors`, from a validator compiled with `verbose: true` (the
 *   schemas of unions and objects name the allowed values and fields).
 * @param part the request part (`body`, `querystring`, …): the `param` of an error about
 *   the whole part, and the wording of unknown names ("query parameter" or "field").
 * @param limit how many to describe ({@link MAX_LISTED_ERRORS} by default).
 * @returns the items (duplicates removed; never empty when `errors` is not) and the total.
 */
export function describeErrors(errors: readonly ErrorObject[], part: RequestPart, limit = MAX_LISTED_ERRORS): Described {
  const owners = ownersOf(errors);
  const owned = new Map<ErrorObject, ErrorObject[]>();
  for (const [e, union] of owners) {
    const inside = owned.get(union);
    if (inside) inside.push(e);
    else owned.set(union, [e]);
  }
  const out: FieldProblem[] = [];
  const seen = new Set<string>();
  let total = 0;
  for (const e of errors) {
    if (owners.has(e)) continue;
    if (out.length >= limit) {
      total += 1;
      continue;
    }
    // A union can stand for several problems (those of its closest branch).
    const described = isUnion(e) ? describeUnion(e, owned.get(e) ?? [], part, limit - out.length) : { items: [describeOne(e, part)], total: 1 };
    total += described.total - described.items.length;
    for (const item of described.items) {
      const key = `${item.param}\n${item.detail}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(item);
      total += 1;
    }
  }
  if (out.length === 0 && errors.length > 0) return { items: [{ param: part, detail: `${part} is not valid` }], total: 1 };
  return { items: out, total };
}

/**
 * The `detail` of a problem listing `items` of `total` problems: the first one's, with
 * how many more there are (all of them, listed or not).
 */
export function summarize({ items, total }: Described): string {
  const [first] = items;
  if (!first) return 'The request is not valid.';
  if (total <= 1) return `${first.detail}.`;
  const listed = total > items.length ? `; the first ${items.length} are listed in \`errors\`` : ' (see `errors`)';
  return `${first.detail}; and ${plural(total - 1, 'more problem')}${listed}.`;
}
