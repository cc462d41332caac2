"""Public URLs through a CDN or an R2 custom domain (never for private, presigned-only data)."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from storage_runtime.errors import SettingsError
from storage_runtime.keys import thumbnail_key, validate_key

_HOST = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_PATH = re.compile(r"^(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*/?$")
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def base_url(domain_or_url: object) -> str:
    """`d111.cloudfront.net` or `https://cdn.example.com/` -> `https://...` without a slash.
    Accepted: https://host[:port][/path] (http:// only for localhost); no credentials, query,
    fragment, spaces or other schemes (`javascript:`...)."""
    accepted = "accepted: https://host[/path] (http:// only for localhost)"
    if not isinstance(domain_or_url, str) or not domain_or_url.strip():
        raise SettingsError(
            f"public base URL {domain_or_url!r} is empty (STORAGE_PUBLIC_BASE_URL / "
            f"R2_PUBLIC_URL); {accepted}"
        )
    text = domain_or_url.strip()
    if "://" not in text:
        text = f"https://{text}"
    bad = SettingsError(f"{domain_or_url!r} is not a base URL; {accepted}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise bad from None
    host = (parts.hostname or "").lower()
    if (
        parts.scheme not in ("https", "http")
        or parts.username is not None
        or parts.password is not None
        or parts.query
        or parts.fragment
        or "?" in text
        or "#" in text
        or not (_HOST.match(host) or host == "::1")
        or (port is not None and not 0 < port < 65536)
        or not _PATH.match(parts.path)
    ):
        raise bad
    if parts.scheme == "http" and host not in LOCAL_HOSTS:
        raise SettingsError(f"{domain_or_url!r} is plain http; {accepted}")
    return text.rstrip("/")


def public_url(base: str, key: str) -> str:
    """`https://cdn.example.com/videos/V-1/a%20b.mp4`: the key percent-encoded, '/' kept."""
    return f"{base_url(base)}/{quote(validate_key(key), safe='/~')}"


def image_url(cdn: str, key: str) -> str:
    """Seed 003's `get_image_url`."""
    return public_url(cdn, key)


def thumbnail_url(cdn: str, image: str) -> str:
    """Seed 003's `get_thumbnail_url`: the thumbnail of an image key, through the CDN."""
    return public_url(cdn, thumbnail_key(image))
