"""Hostile input at the HTTP edge: text PostgreSQL cannot store, deep JSON, and malformed multipart forms.

Every service reads requests through these helpers (``create_base_app`` installs the middleware, ``read_json``
and ``read_upload`` use the rest), so a NUL byte, a lone surrogate or a broken form becomes one clear 400
naming the field, in one place, instead of a 500 deep in a repository.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.helpers import parse_mimetype
from aiohttp.http_exceptions import HttpProcessingError

from libs.core.errors import Invalid
from libs.core.validation import UNSTORABLE, check_text, json_text_problem, may_hold_unstorable, text_problem

__all__ = ["UNSTORABLE", "check_text", "json_text_problem", "text_problem"]

MAX_FORM_PARTS = 16
UPLOAD_CHUNK = 64 * 1024


def loads_json(raw: bytes, field: str = "body", *, storable: bool = True) -> Any:
    """Decode a JSON body whose every key and string PostgreSQL can store (``storable=False``: the caller checks
    the text of each part it keeps, as a webhook batch does per item).

    Raises:
        Invalid: empty, malformed or too deeply nested JSON, or text that cannot be stored; the error names the
            field (the path inside the document for text).
    """
    if not raw:
        raise Invalid("request body is empty; JSON expected", field=field)
    try:
        # Strict UTF-8 (RFC 8259), not json.loads' own decoding of bytes, which lets a surrogate's UTF-8 bytes
        # through ("surrogatepass") as a lone surrogate no text column can store and no check would look for.
        value = json.loads(raw.decode("utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Invalid(f"malformed JSON: {exc}", field=field) from exc
    except RecursionError:
        raise Invalid("JSON nested too deeply", field=field) from None
    if storable and may_hold_unstorable(raw) and (found := json_text_problem(value, field)) is not None:
        path, problem = found
        raise Invalid(f"{path} {problem}", field=path)
    return value


@web.middleware
async def input_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Refuse a request whose decoded path or query string holds text no service can store."""
    if text_problem(request.path) is not None:
        raise Invalid(f"the path {text_problem(request.path)}", field="path")
    if UNSTORABLE.search(request.query_string):
        for name, value in request.query.items():
            check_text(name, "query")
            check_text(value, name)
    return await handler(request)


@dataclass
class Upload:
    """An uploaded file: its name as the client gave it, its media type, and its bytes as they arrive."""

    filename: str
    media_type: str
    chunks: AsyncIterator[bytes]


async def read_upload(request: web.Request, field: str = "file") -> Upload:
    """The uploaded file of a request: the ``field`` part of a multipart form, or the raw body with
    ``?filename=``.

    Raises:
        Invalid: the form is malformed (no boundary, broken part headers, a name or file name that is not text,
            more than ``MAX_FORM_PARTS`` parts before the file, or no such part).
    """
    if not request.content_type.startswith("multipart/"):
        filename = check_text(request.query.get("filename", "").strip(), "filename")

        async def from_body() -> AsyncIterator[bytes]:
            async for chunk in request.content.iter_chunked(UPLOAD_CHUNK):
                yield chunk

        return Upload(filename, request.content_type or "application/octet-stream", from_body())
    if not parse_mimetype(request.headers.get("Content-Type", "")).parameters.get("boundary"):
        raise Invalid("a multipart form needs a boundary parameter in its Content-Type", field="Content-Type")
    part = await _form_part(request, field)
    filename = part.filename or request.query.get("filename", "")
    check_text(filename, "filename")
    media = check_text(part.headers.get("Content-Type", "application/octet-stream"), f"{field}.Content-Type")

    async def from_part() -> AsyncIterator[bytes]:
        while True:
            try:
                chunk = await part.read_chunk(UPLOAD_CHUNK)
            except (ValueError, AssertionError, LookupError, HttpProcessingError) as exc:
                raise Invalid(f"the form's {field!r} part is malformed: {exc}", field=field) from None
            if not chunk:
                return
            yield chunk

    return Upload(filename.strip(), media, from_part())


async def _form_part(request: web.Request, field: str) -> BodyPartReader:
    try:
        reader = await request.multipart()
        for _ in range(MAX_FORM_PARTS):
            part = await reader.next()
            if part is None:
                raise Invalid(f"the form has no {field!r} part", field=field)
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name
            if name is not None and text_problem(name) is not None:
                raise Invalid(f"a form part's name {text_problem(name)}", field=field)
            if name == field:
                return part
            await part.release()
    except Invalid:
        raise
    # aiohttp's parser reports hostile forms with these (a missing or broken boundary, header lines, charsets).
    except (ValueError, AssertionError, LookupError, HttpProcessingError) as exc:
        raise Invalid(f"malformed multipart form: {exc}", field=field) from None
    raise Invalid(f"the form has more than {MAX_FORM_PARTS} parts before {field!r}", field=field)
