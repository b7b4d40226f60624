"""A Crawlee for Python crawler whose pages go to a key-value store on openkvs, while its request
queue and dataset stay in the local storage folder (./storage).

    pip install 'apify==4.1.0' 'crawlee[parsel]==1.11.0'
    export APIFY_API_BASE_URL=http://127.0.0.1:8010 APIFY_TOKEN=<your openkvs token>
    python crawl_to_openkvs.py https://example.com/

Only the store opened with force_cloud=True talks to the server; everything else the Actor and
the crawler open is local, since no Actor runs on the Apify platform here.
"""

import asyncio
import sys
from urllib.parse import urlsplit

from apify import Actor
from crawlee.crawlers import ParselCrawler, ParselCrawlingContext


def key_for(url: str) -> str:
    """A record key from a URL's path: letters, digits and - only, at most 256 characters."""
    path = urlsplit(url).path.strip("/") or "index"
    return "".join(c if c.isalnum() else "-" for c in path)[:256]


async def main(start_url: str) -> None:
    async with Actor:
        pages = await Actor.open_key_value_store(name="pages", force_cloud=True)
        crawler = ParselCrawler(max_requests_per_crawl=100)

        @crawler.router.default_handler
        async def store_page(context: ParselCrawlingContext) -> None:
            html = await context.http_response.read()
            await pages.set_value(key_for(context.request.url), html, "text/html; charset=utf-8")
            title = context.selector.css("title::text").get()
            await context.push_data({"url": context.request.url, "title": title})  # local
            await context.enqueue_links()

        await crawler.run([start_url])


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
