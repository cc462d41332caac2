"""Public URLs through a CDN or an R2 custom domain (never for private, presigned-only data)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from storage_runtime.errors import SettingsError
from storage_runtime.keys import thumbnail_key, validate_key


def base_url(domain_or_url: str) -> str:
    """`d111.cloudfront.net` or `https://cdn.example.com/` -> `https://...` without a slash."""
    text = domain_or_url.strip()
    if not text:
        raise SettingsError("public base URL is empty (STORAGE_PUBLIC_BASE_URL / R2_PUBLIC_URL)")
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query:
        raise SettingsError(f"{domain_or_url!r} is not a base URL; accepted: https://host[/path]")
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
