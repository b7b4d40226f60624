// Drives the real apify-client (JavaScript) against openkvs; exits non-zero on the first failure.
// Usage: OPENKVS_URL=http://127.0.0.1:PORT OPENKVS_TOKEN=... node client_compat.mjs
import assert from 'node:assert/strict';
import { ApifyClient } from 'apify-client';

const url = process.env.OPENKVS_URL;
const token = process.env.OPENKVS_TOKEN;
const client = new ApifyClient({ token, baseUrl: url, publicBaseUrl: url, maxRetries: 0 });
const name = `js-${Date.now()}`;
const checks = [];

async function check(label, fn) {
    await fn();
    checks.push(label);
}

const created = await client.keyValueStores().getOrCreate(name);
const again = await client.keyValueStores().getOrCreate(name);
await check('getOrCreate returns the same store for the same name', () => assert.equal(again.id, created.id));
const kvs = client.keyValueStore(created.id);

await check('setRecord/getRecord of an object (brotli-compressed when >= 1 KiB)', async () => {
    const value = { text: 'x'.repeat(5000), n: 1, nested: { ok: true } };
    await kvs.setRecord({ key: 'obj', value });
    const record = await kvs.getRecord('obj');
    assert.deepEqual(record.value, value);
    assert.match(record.contentType, /^application\/json/);
});

await check('setRecord/getRecord of a Buffer keeps every byte', async () => {
    const value = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await kvs.setRecord({ key: 'bin', value, contentType: 'application/octet-stream' });
    const record = await kvs.getRecord('bin', { buffer: true });
    assert.ok(Buffer.compare(record.value, value) === 0);
});

await check('setRecord/getRecord of a string', async () => {
    await kvs.setRecord({ key: 'txt', value: 'hello ž' });
    const record = await kvs.getRecord('txt');
    assert.equal(record.value, 'hello ž');
    assert.equal(record.contentType, 'text/plain; charset=utf-8');
});

await check('recordExists is true for a record and false for a missing one', async () => {
    assert.equal(await kvs.recordExists('txt'), true);
    assert.equal(await kvs.recordExists('missing'), false);
});

await check('getRecord of a missing key is undefined (404 record-not-found)', async () => {
    assert.equal(await kvs.getRecord('missing'), undefined);
});

await check('listKeys pages follow nextExclusiveStartKey to null', async () => {
    const first = await kvs.listKeys({ limit: 2 });
    assert.deepEqual(first.items.map((i) => i.key), ['bin', 'obj']);
    assert.equal(first.isTruncated, true);
    assert.equal(first.nextExclusiveStartKey, 'obj');
    const rest = await kvs.listKeys({ exclusiveStartKey: first.nextExclusiveStartKey });
    assert.deepEqual(rest.items.map((i) => i.key), ['txt']);
    assert.equal(rest.nextExclusiveStartKey, null);
});

await check('getRecordPublicUrl works without a token', async () => {
    const publicUrl = await kvs.getRecordPublicUrl('txt');
    const response = await fetch(publicUrl);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'hello ž');
});

await check('createKeysPublicUrl (unpadded signature) works without a token', async () => {
    const keysUrl = await kvs.createKeysPublicUrl({ expiresInSecs: 600 });
    const response = await fetch(keysUrl);
    assert.equal(response.status, 200);
    const body = await response.json();
    assert.deepEqual(body.data.items.map((i) => i.key), ['bin', 'obj', 'txt']);
});

await check('update renames and un-names a store ({"name": null})', async () => {
    const renamed = await kvs.update({ name: `${name}-b` });
    assert.equal(renamed.name, `${name}-b`);
    const unnamed = await kvs.update({ name: null });
    assert.equal(unnamed.name, null);
});

await check('keyValueStores().list sees the store only with unnamed', async () => {
    const named = await client.keyValueStores().list({ desc: true });
    assert.ok(!named.items.some((s) => s.id === created.id));
    const all = await client.keyValueStores().list({ unnamed: true, desc: true });
    assert.ok(all.items.some((s) => s.id === created.id));
});

await check('deleteRecord then get is undefined; delete store then get is undefined', async () => {
    await kvs.deleteRecord('txt');
    assert.equal(await kvs.getRecord('txt'), undefined);
    await kvs.delete();
    assert.equal(await kvs.get(), undefined);
});

console.log(JSON.stringify({ passed: checks }));
