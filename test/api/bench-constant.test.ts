/**
 * The benchmark's baseline route (`BENCH_CONSTANT_ROUTE`): off by default; when on, the
 * list's first page, byte for byte, without a key and without reading the store again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

describe('GET /bench/constant', () => {
  let h: Harness;
  let off: Harness;
  beforeAll(async () => {
    h = await harness({ benchConstantRoute: true });
    off = await harness();
    await identityWithMailbox(h, 'help@shop.test', 'help');
    for (let i = 0; i < 55; i++) {
      const res = await inbound(h, rawEmail({ from: `c${i}@buyer.test`, to: 'help@shop.test', subject: `Order ${i}`, messageId: `o${i}@buyer.test` }));
      expect(res.status).toBe(201);
    }
  });
  afterAll(async () => {
    await h.close();
    await off.close();
  });

  it('is not registered unless the flag is on', async () => {
    expect(loadConfig({}, {}).benchConstantRoute).toBe(false);
    expect(loadConfig({}, { BENCH_CONSTANT_ROUTE: '1' }).benchConstantRoute).toBe(true);
    expect((await off.app.inject({ method: 'GET', url: '/bench/constant' })).statusCode).toBe(404);
  });

  it('answers without a key with the bytes of the first list page, then from memory', async () => {
    const list = await h.app.inject({ method: 'GET', url: '/v1/conversations', headers: { authorization: `Bearer ${h.key}` } });
    expect(list.statusCode).toBe(200);
    expect(JSON.parse(list.body).data).toHaveLength(50);
    const constant = await h.app.inject({ method: 'GET', url: '/bench/constant' });
    expect(constant.statusCode).toBe(200);
    expect(constant.headers['content-type']).toBe(list.headers['content-type']);
    expect(constant.body).toBe(list.body);

    // New mail changes the list but not the captured page.
    await inbound(h, rawEmail({ from: 'late@buyer.test', to: 'help@shop.test', subject: 'Late', messageId: 'late@buyer.test' }));
    const again = await h.app.inject({ method: 'GET', url: '/bench/constant' });
    expect(again.body).toBe(list.body);
    const relisted = await h.app.inject({ method: 'GET', url: '/v1/conversations', headers: { authorization: `Bearer ${h.key}` } });
    expect(relisted.body).not.toBe(list.body);
  });

  it('is not in the OpenAPI document', async () => {
    const doc = JSON.parse((await h.app.inject({ method: 'GET', url: '/openapi.json' })).body);
    expect(Object.keys(doc.paths)).not.toContain('/bench/constant');
  });
});
