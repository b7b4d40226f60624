// Crawlee for JavaScript's own local storage (@crawlee/memory-storage), for the tests of
// `openkvs import` and `openkvs export`:
//   node local_storage.mjs write DIR STORE WRITE_METADATA(0|1) RECORDS.json
//     RECORDS.json: [{key, base64, contentType}]; each record set as the library sets it.
//   node local_storage.mjs read DIR STORE
//     prints [{key, base64, contentType}] of every record, read as the library reads it.
import { readFileSync } from 'node:fs';
import { MemoryStorage } from '@crawlee/memory-storage';

const [mode, dir, name, writeMetadata, recordsFile] = process.argv.slice(2);
const storage = new MemoryStorage({
    localDataDirectory: dir,
    writeMetadata: writeMetadata === '1',
    persistStorage: mode === 'write',
});
const info = await storage.keyValueStores().getOrCreate(name);
const store = storage.keyValueStore(info.id);
if (mode === 'write') {
    for (const record of JSON.parse(readFileSync(recordsFile, 'utf8'))) {
        await store.setRecord({
            key: record.key,
            value: Buffer.from(record.base64, 'base64'),
            contentType: record.contentType,
        });
    }
} else {
    const out = [];
    let exclusiveStartKey;
    for (;;) {
        const page = await store.listKeys({ exclusiveStartKey, limit: 1000 });
        for (const item of page.items) {
            const record = await store.getRecord(item.key, { buffer: true });
            out.push({
                key: record.key,
                base64: Buffer.from(record.value).toString('base64'),
                contentType: record.contentType,
            });
        }
        if (!page.isTruncated) break;
        exclusiveStartKey = page.nextExclusiveStartKey;
    }
    console.log(JSON.stringify(out));
}
