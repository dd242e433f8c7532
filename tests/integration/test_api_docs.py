"""The API's documentation works without the internet: every asset comes from the app itself."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from tests.integration.test_api_support import api

BASE = "http://api"
# Where a stylesheet loads more from: url(…) and @import.
CSS_LOADS = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def _links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


def _elsewhere(url: str, page: str) -> bool:
    """Whether ``url`` (as found on ``page``) names another host than the app's."""
    absolute = urljoin(page, url)
    return urlsplit(absolute).scheme not in ("", "http", "https", "data") or (
        urlsplit(absolute).scheme in ("http", "https")
        and urlsplit(absolute).netloc != urlsplit(BASE).netloc
    )


@pytest.mark.asyncio
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_load_everything_from_the_app(migrated_url: str, page: str) -> None:
    async with api(migrated_url, token=None) as client:
        html = await client.get(page)
        assert html.status_code == 200, html.text
        urls = _links(html.text)
        assert urls, "the page loads no script or stylesheet"
        # The page fetches its OpenAPI document from the app too.
        assert "/openapi.json" in html.text
        assert (await client.get("/openapi.json")).status_code == 200
        for url in urls:
            assert not _elsewhere(url, BASE + page), f"{page} loads {url} from another host"
            asset = await client.get(urljoin(BASE + page, url))
            assert asset.status_code == 200, f"{page}: {url} answers {asset.status_code}"
            if url.endswith(".css"):
                for loaded in CSS_LOADS.findall(asset.text):
                    assert not _elsewhere(loaded, urljoin(BASE + page, url)), (
                        f"{url} loads {loaded} from another host"
                    )
    # Swagger UI would ask validator.swagger.io about the document: it is told not to.
    if page == "/docs":
        assert '"validatorUrl": null' in html.text


@pytest.mark.asyncio
async def test_the_root_leads_to_the_docs(migrated_url: str) -> None:
    async with api(migrated_url, token=None) as client:
        root = await client.get("/")
    assert root.status_code == 307
    assert root.headers["location"] == "/docs"
