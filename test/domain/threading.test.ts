/**
 * Email threading (SPEC section 4, "Email threading"), as plain functions over plain data.
 *
 * The store's Message-ID index is modelled in memory here with the rules of
 * `recordMessageIds` (new ids inserted, a ghost becoming stored keeps its conversation,
 * a stored id never moves), so arrival-order properties are checked without a database.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_REFERENCES, indexEntries, lookupIds, normalizeMessageId, parseInReplyTo, parseMessageIds, placeMessage, referencedIds,
  subjectKey, wantsSubjectFallback, type IndexedId, type Placement, type ThreadingInput,
} from '../../src/domain/threading.js';

const OFF = { subjectFallback: false } as const;
const ON = { subjectFallback: true } as const;

function msg(p: Partial<ThreadingInput> & { messageId: string | null }): ThreadingInput {
  return { inReplyTo: [], references: [], subject: 'Hello', ...p };
}

/**
 * An in-memory Message-ID index for one identity, with the store's write rules (new ids
 * inserted, a ghost becoming stored keeps its conversation, a stored id never moves) and
 * its merges (the oldest linked conversation survives; the others' ids move to it).
 */
class MemoryIndex {
  readonly rows = new Map<string, IndexedId>();
  #next = 0;

  lookup(ids: readonly string[]): Map<string, IndexedId> {
    const known = new Map<string, IndexedId>();
    for (const id of ids) {
      const row = this.rows.get(id);
      if (row) known.set(id, row);
    }
    return known;
  }

  /** Merges `linked` into the oldest (smallest number), as store/merge.ts does. */
  #merge(linked: readonly string[]): string {
    const survivor = [...linked].sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)))[0]!;
    for (const [id, row] of this.rows) {
      if (linked.includes(row.conversationId)) this.rows.set(id, { ...row, conversationId: survivor });
    }
    return survivor;
  }

  /** Threads and records one message the way ingest does; returns the placement and its conversation. */
  deliver(input: ThreadingInput, options = OFF): { placement: Placement; conversationId: string } {
    const known = this.lookup(lookupIds(input));
    const placement = placeMessage(input, known, options);
    const conversationId = placement.kind === 'new' ? `conv${++this.#next}` : this.#merge(placement.linked);
    for (const r of indexEntries(input, known, conversationId)) {
      const row = this.rows.get(r.id);
      if (!row) this.rows.set(r.id, { conversationId: r.conversationId, stored: r.stored });
      else if (r.stored) this.rows.set(r.id, { conversationId: row.conversationId, stored: true });
    }
    return { placement, conversationId };
  }

  /** The conversation a stored message is in now. */
  conversationOf(messageId: string): string | undefined {
    return this.rows.get(messageId)?.conversationId;
  }
}

describe('parseMessageIds (RFC 5322 section 3.6.4)', () => {
  it('reads one bracketed id without its angle brackets', () => {
    expect(parseMessageIds('<1234.5678@mail.example.org>')).toEqual(['1234.5678@mail.example.org']);
  });

  it('reads a folded References header in order, whatever the whitespace between ids', () => {
    const value = '<root@example.org>\r\n <a@example.org>\t<b@example.org>   \r\n\t<c@example.org>';
    expect(parseMessageIds(value)).toEqual(['root@example.org', 'a@example.org', 'b@example.org', 'c@example.org']);
  });

  it('reads ids with nothing between them, or with commas and comments between them', () => {
    expect(parseMessageIds('<a@x.org><b@x.org>')).toEqual(['a@x.org', 'b@x.org']);
    expect(parseMessageIds('<a@x.org>, <b@x.org>')).toEqual(['a@x.org', 'b@x.org']);
    expect(parseMessageIds('<a@x.org> (Bob\'s message) <b@x.org>')).toEqual(['a@x.org', 'b@x.org']);
  });

  it('drops whitespace that folding left inside an id', () => {
    expect(parseMessageIds('<part1.part2\r\n @example.org>')).toEqual(['part1.part2@example.org']);
  });

  it('finds the id in an old-style In-Reply-To phrase', () => {
    expect(parseMessageIds('Your message of "Mon, 16 Nov 2009 10:00:00 +0000" <old@example.org>')).toEqual(['old@example.org']);
  });

  it('drops repeated ids and keeps the first occurrence order', () => {
    expect(parseMessageIds('<a@x.org> <b@x.org> <a@x.org> <c@x.org> <b@x.org>')).toEqual(['a@x.org', 'b@x.org', 'c@x.org']);
  });

  it('reads bare ids separated by whitespace or commas when no id is bracketed', () => {
    expect(parseMessageIds('a@x.org b@x.org,c@x.org ,  d@x.org')).toEqual(['a@x.org', 'b@x.org', 'c@x.org', 'd@x.org']);
    expect(parseMessageIds('a@x.org junk b@x.org')).toEqual(['a@x.org', 'b@x.org']);
  });

  it('never keeps a stray angle bracket of a half-bracketed id', () => {
    expect(parseMessageIds('<truncated@example.org')).toEqual(['truncated@example.org']);
    expect(parseMessageIds('only-close@example.org>')).toEqual(['only-close@example.org']);
  });

  it('returns nothing for empty or garbage values', () => {
    for (const v of [null, undefined, '', '   ', '\r\n\t', 'no ids here', '<>', '< >', '<<>>', ',,,']) {
      expect(parseMessageIds(v)).toEqual([]);
    }
  });

  it('property: any list of ids, written with any separators and repeats, reads back as the unique ids in order', () => {
    const idPart = fc.stringMatching(/^[A-Za-z0-9.$%+_=-]{1,16}$/);
    const id = fc.tuple(idPart, idPart).map(([l, r]) => `${l}@${r}`);
    const sep = fc.constantFrom(' ', '\r\n ', '\r\n\t', '\t', ', ', '', '  (comment) ');
    fc.assert(fc.property(fc.array(fc.tuple(id, sep), { minLength: 1, maxLength: 20 }), (items) => {
      const value = items.map(([i, s]) => `<${i}>${s}`).join('');
      const expected: string[] = [];
      for (const [i] of items) if (!expected.includes(i)) expected.push(i);
      expect(parseMessageIds(value)).toEqual(expected);
    }));
  });

  it('property: whatever the input, ids are non-empty and hold no angle brackets or whitespace, without repeats', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (value) => {
      const ids = parseMessageIds(value);
      expect(new Set(ids).size).toBe(ids.length);
      for (const i of ids) expect(i).toMatch(/^[^<>\s]+$/);
    }));
  });
});

describe('parseInReplyTo (RFC 5322 section 3.6.4, and the phrase forms older clients write)', () => {
  it('reads every id of the RFC 5322 list form, comments skipped', () => {
    expect(parseInReplyTo('<a@x.org>')).toEqual(['a@x.org']);
    expect(parseInReplyTo('<a@x.org> <b@x.org>')).toEqual(['a@x.org', 'b@x.org']);
    // Gnus puts the quoted author in a comment after the id.
    expect(parseInReplyTo('<87k7@gnus.example> (Tom Smith\'s message of "Mon, 05 Aug 2002 21:39:59 EDT")')).toEqual(['87k7@gnus.example']);
  });

  it('drops the quoted author\'s address of an exmh/nmh "Message from NAME <address> of DATE <id>" phrase', () => {
    expect(parseInReplyTo('Message from Tom <tom@example.org> of "Mon, 05 Aug 2002 21:39:59 EDT." <20020806014000.48D429E@example.org>'))
      .toEqual(['20020806014000.48D429E@example.org']);
    expect(parseInReplyTo('Message from "Craig R.Hughes"\r\n    <craig@deersoft.example> of\r\n    "Thu, 22 Aug 2002 10:45:04 PDT." <B624EDE6@deersoft.example>'))
      .toEqual(['B624EDE6@deersoft.example']);
    // Two ids after the author (the parent's own In-Reply-To carried along): both are parents.
    expect(parseInReplyTo('Message from Rick <rick@lab.example> of Mon, 09 Sep 2002 12:21:42 PDT <p1@a.example> <p2@b.example>'))
      .toEqual(['p1@a.example', 'p2@b.example']);
    // No id at all: the address is still not one.
    expect(parseInReplyTo('Message from Tom <tom@example.org> of "Mon, 05 Aug 2002"')).toEqual([]);
  });

  it('keeps the id when the author\'s address is written bare', () => {
    expect(parseInReplyTo('Message from Valdis.Kletnieks@vt.example of\r\n    "Mon, 26 Aug 2002 14:22:46 EDT."\r\n    <200208261822.g7QIMk7P005756@vt.example>'))
      .toEqual(['200208261822.g7QIMk7P005756@vt.example']);
  });

  it('reads the id of nmh\'s, elm\'s and old mutt\'s phrases', () => {
    expect(parseInReplyTo('Your message of "Thu, 22 Aug 2002 14:43:03 EDT." <20020822184303.2E5BCF5B3@tater>')).toEqual(['20020822184303.2E5BCF5B3@tater']);
    expect(parseInReplyTo('<id1@host.example> from "Tom Smith" at Aug 5, 2002 09:39:59 pm')).toEqual(['id1@host.example']);
    expect(parseInReplyTo('<20020721091108.085bee34.kilroy@k.example>; from kilroy@k.example on Sun, Jul 21, 2002 at 09:11:08AM -0500'))
      .toEqual(['20020721091108.085bee34.kilroy@k.example']);
  });

  it('finds no id in text without angle brackets (Gnus: "tom@example.org\'s message of …")', () => {
    expect(parseInReplyTo('yyyy@spamassassin.example\'s message of "Wed, 09 Oct 2002 13:21:11 +0100"')).toEqual([]);
    expect(parseInReplyTo('Craig R.Hughes\'s message of "Tue, 20 Aug 2002 18:46:56 -0700"')).toEqual([]);
  });

  it('reads an id folded over two lines as the same id written on one', () => {
    expect(parseInReplyTo('<20020806014000.48D429E\r\n @example.org>')).toEqual(parseInReplyTo('<20020806014000.48D429E@example.org>'));
    expect(normalizeMessageId('<abc.def\r\n\t@example.org>')).toBe('abc.def@example.org');
  });

  it('property: whatever the input, it returns ids that parseMessageIds would read too, without repeats', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (value) => {
      const ids = parseInReplyTo(value);
      expect(new Set(ids).size).toBe(ids.length);
      const all = new Set(parseMessageIds(value));
      for (const i of ids) expect(all.has(i)).toBe(true);
    }));
  });

  it('property: an address quoted as "Message from NAME <address> of" never comes back, whatever the ids around it', () => {
    const part = fc.stringMatching(/^[A-Za-z0-9.]{1,12}$/);
    const address = fc.tuple(part, part).map(([l, d]) => `${l}@${d}.example`);
    const name = fc.constantFrom('Tom', 'Tom Reingold', '"Craig R.Hughes"', '"Smith, J."');
    fc.assert(fc.property(address, name, fc.array(fc.tuple(part, part).map(([l, d]) => `${l}.${d}@ids.example`), { maxLength: 3 }), (addr, who, ids) => {
      const value = `Message from ${who} <${addr}> of "Mon, 05 Aug 2002 21:39:59 EDT." ${ids.map((i) => `<${i}>`).join(' ')}`;
      expect(parseInReplyTo(value)).toEqual([...new Set(ids)].filter((i) => i !== addr));
    }));
  });
});

describe('normalizeMessageId', () => {
  it('strips angle brackets and surrounding space', () => {
    expect(normalizeMessageId('<abc@example.org>')).toBe('abc@example.org');
    expect(normalizeMessageId('  <abc@example.org>\r\n')).toBe('abc@example.org');
    expect(normalizeMessageId('abc@example.org')).toBe('abc@example.org');
  });

  it('keeps an id without a domain part', () => {
    expect(normalizeMessageId('<local-only>')).toBe('local-only');
  });

  it('takes the first id of a value holding several', () => {
    expect(normalizeMessageId('<first@x.org> <second@x.org>')).toBe('first@x.org');
  });

  it('is null for empty values', () => {
    for (const v of [null, undefined, '', '   ', '<>', ' < > ']) expect(normalizeMessageId(v)).toBeNull();
  });
});

describe('referencedIds and lookupIds', () => {
  it('lists In-Reply-To first, then References newest to oldest, without repeats', () => {
    const input = msg({ messageId: 'me@x', inReplyTo: ['parent@x'], references: ['root@x', 'mid@x', 'parent@x'] });
    expect(referencedIds(input)).toEqual(['parent@x', 'mid@x', 'root@x']);
  });

  it('leaves out the message\'s own id (a References loop must not make it its own parent)', () => {
    const input = msg({ messageId: 'me@x', inReplyTo: ['me@x'], references: ['root@x', 'me@x'] });
    expect(referencedIds(input)).toEqual(['root@x']);
  });

  it('asks the index about the own id as well as every referenced id', () => {
    const input = msg({ messageId: 'me@x', inReplyTo: ['p@x'], references: ['r@x', 'p@x'] });
    expect(new Set(lookupIds(input))).toEqual(new Set(['me@x', 'p@x', 'r@x']));
    expect(lookupIds(msg({ messageId: null, references: ['r@x'] }))).toEqual(['r@x']);
  });

  it('keeps the root and the newest ids of an over-long References header (RFC 5322 3.6.4)', () => {
    const refs = Array.from({ length: MAX_REFERENCES + 50 }, (_, i) => `r${i}@x`);
    const ids = referencedIds(msg({ messageId: 'me@x', references: refs }));
    expect(ids).toHaveLength(MAX_REFERENCES);
    expect(ids[0]).toBe(refs[refs.length - 1]);
    expect(ids).toContain('r0@x');
    expect(ids).not.toContain('r1@x');
    expect(ids).toContain(`r${refs.length - MAX_REFERENCES + 1}@x`);
  });
});

describe('placeMessage', () => {
  const stored = (conversationId: string): IndexedId => ({ conversationId, stored: true });
  const ghost = (conversationId: string): IndexedId => ({ conversationId, stored: false });

  it('starts a new conversation for a message that names no known id', () => {
    expect(placeMessage(msg({ messageId: 'new@x' }), new Map(), OFF)).toEqual({ kind: 'new' });
    const unknownRefs = msg({ messageId: 'new@x', inReplyTo: ['nobody@x'], references: ['nobody@x'] });
    expect(placeMessage(unknownRefs, new Map(), OFF)).toEqual({ kind: 'new' });
  });

  it('joins the parent\'s conversation through In-Reply-To', () => {
    const known = new Map([['parent@x', stored('c1')]]);
    expect(placeMessage(msg({ messageId: 'reply@x', inReplyTo: ['parent@x'] }), known, OFF))
      .toEqual({ kind: 'join', conversationId: 'c1', linked: ['c1'], reason: 'reference' });
  });

  it('threads a reply that only has References', () => {
    const known = new Map([['parent@x', stored('c1')]]);
    const p = placeMessage(msg({ messageId: 'reply@x', references: ['parent@x'] }), known, OFF);
    expect(p).toMatchObject({ kind: 'join', conversationId: 'c1' });
  });

  it('joins through any referenced id of the thread, not only the direct parent', () => {
    // Only the root is known: the parent was never received.
    const known = new Map([['root@x', stored('c1')]]);
    const input = msg({ messageId: 'reply@x', inReplyTo: ['lost-parent@x'], references: ['root@x', 'lost-parent@x'] });
    expect(placeMessage(input, known, OFF)).toMatchObject({ kind: 'join', conversationId: 'c1' });
  });

  it('joins through a ghost id (referenced by a stored message, never stored itself)', () => {
    const known = new Map([['missing-root@x', ghost('c7')]]);
    expect(placeMessage(msg({ messageId: 'b@x', references: ['missing-root@x'] }), known, OFF))
      .toMatchObject({ kind: 'join', conversationId: 'c7' });
  });

  it('with ids of two conversations, links both, the most recent reference\'s first', () => {
    const known = new Map([['old@x', stored('c-old')], ['new@x', stored('c-new')]]);
    // References is oldest first: the last entry is the most recent.
    expect(placeMessage(msg({ messageId: 'm@x', references: ['old@x', 'new@x'] }), known, OFF))
      .toEqual({ kind: 'join', conversationId: 'c-new', linked: ['c-new', 'c-old'], reason: 'reference' });
    // In-Reply-To names the direct parent and comes first.
    expect(placeMessage(msg({ messageId: 'm@x', inReplyTo: ['old@x'], references: ['old@x', 'new@x'] }), known, OFF))
      .toMatchObject({ kind: 'join', conversationId: 'c-old', linked: ['c-old', 'c-new'] });
  });

  it('links the conversation its own id is a ghost in with the ones it references (a parent that arrives last)', () => {
    // A reply opened c-child (this id is a ghost there); this message's own parent is in c-root.
    const known = new Map([['parent@x', ghost('c-child')], ['root@x', stored('c-root')]]);
    expect(placeMessage(msg({ messageId: 'parent@x', inReplyTo: ['root@x'] }), known, OFF))
      .toEqual({ kind: 'join', conversationId: 'c-root', linked: ['c-root', 'c-child'], reason: 'reference' });
  });

  it('reports a message whose own id is stored as a duplicate (SPEC 4 rule 5)', () => {
    expect(placeMessage(msg({ messageId: 'm@x' }), new Map([['m@x', stored('c1')]]), OFF))
      .toEqual({ kind: 'duplicate', conversationId: 'c1', linked: ['c1'] });
    // A copy whose headers name another conversation's id still links the two.
    const known = new Map([['m@x', stored('c1')], ['p@x', stored('c2')]]);
    expect(placeMessage(msg({ messageId: 'm@x', inReplyTo: ['p@x'] }), known, OFF)).toEqual({ kind: 'duplicate', conversationId: 'c1', linked: ['c1', 'c2'] });
  });

  it('joins the conversation of a child that arrived first and named this message', () => {
    const known = new Map([['parent@x', ghost('c-child')]]);
    expect(placeMessage(msg({ messageId: 'parent@x' }), known, OFF))
      .toEqual({ kind: 'join', conversationId: 'c-child', linked: ['c-child'], reason: 'referenced_by' });
  });

  it('does not treat a self-reference as a known parent', () => {
    const known = new Map([['m@x', ghost('c1')]]);
    const p = placeMessage(msg({ messageId: 'm@x', references: ['m@x'] }), known, OFF);
    expect(p).toEqual({ kind: 'join', conversationId: 'c1', linked: ['c1'], reason: 'referenced_by' });
  });

  describe('subject fallback (SPEC 4 rule 3: switchable, off by default)', () => {
    const candidate = { conversationId: 'c-subject' };
    const reply = msg({ messageId: 'r@x', subject: 'Re: Quarterly report' });

    it('is not used when the policy is off, even with a candidate', () => {
      expect(placeMessage(reply, new Map(), OFF, candidate)).toEqual({ kind: 'new' });
    });

    it('joins the candidate when on, for a Re: subject without reference headers', () => {
      expect(placeMessage(reply, new Map(), ON, candidate)).toEqual({ kind: 'join', conversationId: 'c-subject', linked: ['c-subject'], reason: 'subject' });
    });

    it('does not apply to a subject that is not a reply', () => {
      const fresh = msg({ messageId: 'r@x', subject: 'Quarterly report' });
      expect(wantsSubjectFallback(fresh)).toBe(false);
      expect(placeMessage(fresh, new Map(), ON, candidate)).toEqual({ kind: 'new' });
    });

    it('does not apply to a message that has reference headers (even unknown ones)', () => {
      const withRefs = msg({ messageId: 'r@x', subject: 'Re: Quarterly report', references: ['unknown@x'] });
      const withIrt = msg({ messageId: 'r@x', subject: 'Re: Quarterly report', inReplyTo: ['unknown@x'] });
      expect(wantsSubjectFallback(withRefs)).toBe(false);
      expect(wantsSubjectFallback(withIrt)).toBe(false);
      expect(placeMessage(withRefs, new Map(), ON, candidate)).toEqual({ kind: 'new' });
    });

    it('starts a new conversation when on but nothing matched', () => {
      expect(placeMessage(reply, new Map(), ON, null)).toEqual({ kind: 'new' });
    });

    it('never overrides a reference match', () => {
      const known = new Map([['p@x', stored('c-ref')]]);
      const p = placeMessage(msg({ messageId: 'r@x', subject: 'Re: x', inReplyTo: ['p@x'] }), known, ON, candidate);
      expect(p).toMatchObject({ kind: 'join', conversationId: 'c-ref', reason: 'reference' });
    });

    it('compares subjects without reply prefixes and case', () => {
      expect(subjectKey('Re: RE: Quarterly Report')).toBe(subjectKey('quarterly report'));
      expect(subjectKey('AW: Quarterly report')).toBe(subjectKey('Quarterly report'));
      expect(subjectKey('Re: Quarterly report')).not.toBe(subjectKey('Annual report'));
      expect(subjectKey(null)).toBe('');
    });
  });
});

describe('indexEntries', () => {
  it('records the own id as stored and unknown referenced ids as ghosts of the conversation', () => {
    const input = msg({ messageId: 'm@x', inReplyTo: ['p@x'], references: ['root@x', 'p@x'] });
    const rows = indexEntries(input, new Map(), 'c1');
    expect(rows).toHaveLength(3);
    expect(rows).toEqual(expect.arrayContaining([
      { id: 'm@x', stored: true, conversationId: 'c1' },
      { id: 'p@x', stored: false, conversationId: 'c1' },
      { id: 'root@x', stored: false, conversationId: 'c1' },
    ]));
  });

  it('does not rewrite ids the index already knows', () => {
    const input = msg({ messageId: 'm@x', references: ['root@x', 'p@x'] });
    const rows = indexEntries(input, new Map([['root@x', { conversationId: 'c-other', stored: true }]]), 'c1');
    expect(rows.map((r) => r.id).sort()).toEqual(['m@x', 'p@x']);
  });

  it('writes no own row for a message without a Message-ID', () => {
    const rows = indexEntries(msg({ messageId: null, references: ['root@x'] }), new Map(), 'c1');
    expect(rows).toEqual([{ id: 'root@x', stored: false, conversationId: 'c1' }]);
  });
});

describe('threading over arrival order (in-memory index)', () => {
  it('puts a child that arrives before its parent, and then the parent, in one conversation', () => {
    const index = new MemoryIndex();
    const child = index.deliver(msg({ messageId: 'child@x', inReplyTo: ['parent@x'], references: ['parent@x'] }));
    expect(child.placement).toEqual({ kind: 'new' });
    const parent = index.deliver(msg({ messageId: 'parent@x' }));
    expect(parent.placement).toMatchObject({ kind: 'join' });
    expect(parent.conversationId).toBe(child.conversationId);
  });

  it('lets two replies to a root that never arrives meet through the ghost root', () => {
    const index = new MemoryIndex();
    const a = index.deliver(msg({ messageId: 'a@x', inReplyTo: ['root@x'], references: ['root@x'] }));
    const b = index.deliver(msg({ messageId: 'b@x', inReplyTo: ['root@x'], references: ['root@x'] }));
    expect(b.conversationId).toBe(a.conversationId);
  });

  it('stores the same Message-ID once, in its first conversation', () => {
    const index = new MemoryIndex();
    const first = index.deliver(msg({ messageId: 'm@x' }));
    const again = index.deliver(msg({ messageId: 'm@x' }));
    expect(again.placement).toEqual({ kind: 'duplicate', conversationId: first.conversationId, linked: [first.conversationId] });
  });

  it('keeps unrelated messages apart', () => {
    const index = new MemoryIndex();
    const a = index.deliver(msg({ messageId: 'a@x' }));
    const b = index.deliver(msg({ messageId: 'b@x', references: ['unrelated@x'] }));
    expect(b.conversationId).not.toBe(a.conversationId);
  });

  /**
   * A forest of reply trees. Each reply carries what RFC 5322 section 3.6.4 asks of a
   * reply: In-Reply-To the parent, References the parent's References plus the parent's
   * id. Some clients trim References to the first id and the last few (`trim`; the first
   * id is always kept), some send References without In-Reply-To, and some (old ones,
   * many list managers' digests) send only In-Reply-To (`refs: false`): then a reply links
   * to its parent alone, and replies arriving before the messages between them and the
   * root open conversations that must merge later.
   */
  interface Node { readonly parent: number | null; readonly trim: number | null; readonly irt: boolean; readonly refs: boolean }
  const forestArb = fc.array(
    fc.integer({ min: 1, max: 9 }).chain((n) => fc.tuple(
      ...Array.from({ length: n }, (_, i) => fc.record({
        parent: i === 0 ? fc.constant(null) : fc.integer({ min: 0, max: i - 1 }),
        trim: fc.option(fc.integer({ min: 1, max: 3 })),
        irt: fc.boolean(),
        refs: fc.boolean(),
      })),
    )),
    { minLength: 1, maxLength: 3 },
  );

  function buildMessages(forest: readonly (readonly Node[])[]): { input: ThreadingInput; tree: number }[] {
    const out: { input: ThreadingInput; tree: number }[] = [];
    forest.forEach((nodes, tree) => {
      const id = (i: number) => `t${tree}.m${i}@example.org`;
      const refs: string[][] = [];
      nodes.forEach((node, i) => {
        let references: string[] = [];
        // A reply names its parent somewhere: References, In-Reply-To, or both.
        const withRefs = node.refs || !node.irt;
        if (node.parent !== null && withRefs) {
          const chain = [...refs[node.parent]!, id(node.parent)];
          references = node.trim !== null && chain.length > node.trim + 1 ? [chain[0]!, ...chain.slice(-node.trim)] : chain;
        }
        refs.push(node.parent === null ? [] : [...refs[node.parent]!, id(node.parent)]);
        out.push({
          tree,
          input: {
            messageId: id(i),
            inReplyTo: node.parent !== null && node.irt ? [id(node.parent)] : [],
            references,
            subject: node.parent === null ? `Topic ${tree}` : `Re: Topic ${tree}`,
          },
        });
      });
    });
    return out;
  }

  it('merges two conversations when the message between them arrives last', () => {
    const index = new MemoryIndex();
    const root = index.deliver(msg({ messageId: 'root@x' }));
    const grandchild = index.deliver(msg({ messageId: 'grandchild@x', inReplyTo: ['child@x'] }));
    expect(grandchild.conversationId).not.toBe(root.conversationId);
    const child = index.deliver(msg({ messageId: 'child@x', inReplyTo: ['root@x'] }));
    expect(child.placement).toMatchObject({ kind: 'join', linked: [root.conversationId, grandchild.conversationId] });
    expect(child.conversationId).toBe(root.conversationId);
    expect(index.conversationOf('grandchild@x')).toBe(root.conversationId);
  });

  it('property: every arrival order (with redeliveries) ends with each reply tree in exactly one conversation of its own', () => {
    const scenario = forestArb.chain((forest) => {
      const messages = buildMessages(forest);
      const deliveries = fc.array(fc.integer({ min: 0, max: messages.length - 1 }), { maxLength: 4 })
        .map((extra) => [...messages.map((_, i) => i), ...extra]);
      return fc.tuple(fc.constant(messages), deliveries.chain((d) => fc.shuffledSubarray(d, { minLength: d.length, maxLength: d.length })));
    });
    fc.assert(fc.property(scenario, ([messages, order]) => {
      const index = new MemoryIndex();
      const seen = new Set<string>();
      for (const i of order) {
        const { input } = messages[i]!;
        const { placement } = index.deliver(input);
        expect(placement.kind === 'duplicate').toBe(seen.has(input.messageId!));
        seen.add(input.messageId!);
      }
      const convOfTree = new Map<number, string>();
      for (const { input, tree } of messages) {
        const conv = index.conversationOf(input.messageId!)!;
        if (!convOfTree.has(tree)) convOfTree.set(tree, conv);
        expect(conv).toBe(convOfTree.get(tree));
      }
      // Distinct trees never share a conversation.
      expect(new Set(convOfTree.values()).size).toBe(convOfTree.size);
    }), { numRuns: 500 });
  });

  it('property: direct replies to one root (In-Reply-To only) meet in one conversation in any order', () => {
    const scenario = fc.integer({ min: 1, max: 8 }).chain((n) => {
      const ids = ['root@x', ...Array.from({ length: n }, (_, i) => `reply${i}@x`)];
      return fc.shuffledSubarray(ids, { minLength: ids.length, maxLength: ids.length });
    });
    fc.assert(fc.property(scenario, (order) => {
      const index = new MemoryIndex();
      const convs = order.map((id) => index.deliver(msg({ messageId: id, inReplyTo: id === 'root@x' ? [] : ['root@x'] })).conversationId);
      expect(new Set(convs).size).toBe(1);
    }));
  });
});
