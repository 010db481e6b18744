"""A multipart form read as it arrives (issue 14 part 2): the file part goes chunk by chunk into
a sink in the haven (``jobs.uploads.receiving``), never whole into memory and never into the
system's temporary folder (Starlette's ``UploadFile`` spools there). The other fields are
small text, each capped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from carehaven.errors import UsageError

MAX_FIELD = 4096
MAX_FIELDS = 20


class Sink(Protocol):
    def write(self, chunk: bytes) -> None: ...


class StreamedForm:
    """The text fields, and the file part's name as the client gave it (to be sanitised: it is
    only ever shown, never used as a path)."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.file_name: str | None = None
        self.file_parts = 0


async def read_form(content_type: str, body: AsyncIterator[bytes], sink: Sink, *,
                    file_field: str = "file") -> StreamedForm:
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UsageError("Send the form as multipart/form-data.")
    form = StreamedForm()
    state: dict[str, Any] = {"field": b"", "value": b"", "headers": {}, "name": None,
                             "is_file": False}
    buffer = bytearray()

    def on_part_begin() -> None:
        state.update(headers={}, name=None, is_file=False, field=b"", value=b"")
        buffer.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] = bytes(state["field"]) + data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] = bytes(state["value"]) + data[start:end]

    def on_header_end() -> None:
        headers = state["headers"]
        assert isinstance(headers, dict)
        headers[bytes(state["field"]).lower()] = bytes(state["value"])
        state.update(field=b"", value=b"")

    def on_headers_finished() -> None:
        headers = state["headers"]
        assert isinstance(headers, dict)
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        state["name"] = name
        if name == file_field and b"filename" in disposition:
            form.file_parts += 1
            if form.file_parts > 1:
                raise UsageError("Send one file at a time.")
            state["is_file"] = True
            form.file_name = disposition[b"filename"].decode("utf-8", "replace")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["is_file"]:
            sink.write(data[start:end])
            return
        buffer.extend(data[start:end])
        if len(buffer) > MAX_FIELD:
            raise UsageError("A field of the form is too long.")

    def on_part_end() -> None:
        if not state["is_file"] and state["name"]:
            if len(form.fields) >= MAX_FIELDS:
                raise UsageError("The form has too many fields.")
            form.fields[str(state["name"])] = buffer.decode("utf-8", "replace")

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    })
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:  # a header too long, a broken boundary: the client's fault
        raise UsageError("The form could not be read as multipart/form-data; send it again "
                         "from the upload page.") from exc
    return form
