// A Crawlee for JavaScript crawler whose pages go to a key-value store on openkvs, while its
// request queue and dataset stay in the local storage folder (./storage).
//
//     npm install apify@3.7.2 crawlee@3.18.1
//     export APIFY_API_BASE_URL=http://127.0.0.1:8010 APIFY_TOKEN=<your openkvs token>
//     node crawl-to-openkvs.mjs https://example.com/
//
// Only the store opened with forceCloud talks to the server; everything else the Actor and the
// crawler open is local, since no Actor runs on the Apify platform here.
import { Actor } from 'apify';
import { CheerioCrawler } from 'crawlee';

// A record key from a URL's path: letters, digits and - only, at most 256 characters.
const keyFor = (url) => (new URL(url).pathname.replace(/^\/+|\/+$/g, '') || 'index')
    .replace(/[^a-zA-Z0-9]/g, '-')
    .slice(0, 256);

await Actor.init();
const pages = await Actor.openKeyValueStore('pages', { forceCloud: true });
const crawler = new CheerioCrawler({
    maxRequestsPerCrawl: 100,
    async requestHandler({ request, body, $, enqueueLinks, pushData }) {
        await pages.setValue(keyFor(request.url), body, { contentType: 'text/html; charset=utf-8' });
        await pushData({ url: request.url, title: $('title').text() }); // local
        await enqueueLinks();
    },
});
await crawler.run([process.argv[2]]);
await Actor.exit();
