"""The local workspace's blob storage: the calls of a local-file upload (HEAD, GET, list, PUT, metadata) and of a
download (list, ranged GET).

A finished job's named outputs are blobs too (`azureml/<job>/<output>/…` in the datastore's container), read from the
backend when asked (routes_data.py), never copied into the store.

A mixin of the workspace's request handler (generator/emulator/workspace.py).
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from generator.emulator.routes_arm import UPLOAD_PREFIX
from generator.emulator.routes_data import CONTAINER, output_blob, output_blobs

# A blob's answers to a download, as recorded in microsoft/promptflow
# src/promptflow/tests/test_configs/recordings/test_run_operations_TestFlowRun_test_download_run.yaml @0280f6a4
# (fixture tests/contract/fixtures/job_outputs_blobs.json): azure-storage-blob asks for `x-ms-range: bytes=0-33554431`
# and gets 206 with `Content-Range: bytes 0-<size-1>/<size>`, `Accept-Ranges: bytes` and `x-ms-blob-type`; a list
# answers <EnumerationResults> with each blob's Name and Properties. azure-storage-blob 12.x `_download.py` requires
# the Content-Range, and asks again without a range when a range GET answers 416 (an empty blob): Azure Storage's
# InvalidRange (its REST reference, "Blob service error codes").
RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
LAST_MODIFIED = "Mon, 01 Jan 2024 00:00:00 GMT"  # the emulator keeps no blob times


class StorageRoutes:
    """Blobs of the workspace's storage account, kept in the Emulator's memory (and jobs' outputs, the backend's)."""

    owner: Any
    headers: Any
    command: str
    _send: Any

    def _blob(self, host: str, url: Any, body: bytes) -> None:
        e, key = self.owner, url.path
        query = parse_qs(url.query)
        bearer = (self.headers.get("Authorization") or "").startswith("Bearer ")
        # A code upload goes to the SAS URI startPendingUpload handed out (routes_arm.py): a SAS needs no role.
        sas = "sig" in query and key.startswith(UPLOAD_PREFIX)
        if not sas and (e.settings.datastore_auth != "key" and not bearer
                        or e.settings.datastore_auth == "identity-no-role"):
            # Azure Storage's answer to a token without a data role on the account: code, header and message as in a
            # recorded storage answer (an azure-sdk nock recording, 2019-09-11; the search index names no path for it)
            # and as quoted in Microsoft's Python docs on authenticating to Blob storage.
            self._send(403, b'<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthorizationPermissionMismatch'
                            b"</Code><Message>This request is not authorized to perform this operation using this "
                            b"permission.</Message></Error>",
                       {"x-ms-error-code": "AuthorizationPermissionMismatch", "Content-Type": "application/xml"})
            return
        if self.command == "HEAD" or (self.command == "GET" and "comp" not in query):
            self._read(key)
        elif self.command == "GET" and query.get("comp") == ["list"]:
            self._list(key, query)
        elif self.command == "PUT" and query.get("comp") == ["metadata"]:
            data, _ = e.blobs.get(key, (b"", {}))
            meta = {k[len("x-ms-meta-"):]: v for k, v in self.headers.items() if k.lower().startswith("x-ms-meta-")}
            e.blobs[key] = (data, meta)
            self._send(200, b"")
        elif self.command == "PUT":
            meta = {k[len("x-ms-meta-"):]: v for k, v in self.headers.items() if k.lower().startswith("x-ms-meta-")}
            e.blobs[key] = (body, meta)
            self._send(201, b"", {"ETag": '"0x1"', "Last-Modified": time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                                                                    time.gmtime())})
        else:
            self._send(400, b"")

    def _read(self, key: str) -> None:
        """HEAD or GET of one blob: the whole of it, or the range `x-ms-range` (or `Range`) asks for."""
        e = self.owner
        stored = e.blobs.get(key)
        if stored is None:
            output = output_blob(e, key)
            stored = (output, {}) if output is not None else None
        if stored is None:
            self._send(404, b"", {"x-ms-error-code": "BlobNotFound"})
            return
        data, meta = stored
        headers = {f"x-ms-meta-{k}": v for k, v in meta.items()} | {
            "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes", "x-ms-blob-type": "BlockBlob",
            "Last-Modified": LAST_MODIFIED}
        asked = RANGE.match(self.headers.get("x-ms-range") or self.headers.get("Range") or "")
        if asked is None:
            self._send(200, data if self.command == "GET" else b"", headers)
            return
        start = int(asked.group(1))
        end = min(int(asked.group(2)) if asked.group(2) else len(data) - 1, len(data) - 1)
        if start >= len(data):
            self._send(416, b"", {"x-ms-error-code": "InvalidRange", "Content-Range": f"bytes */{len(data)}"})
            return
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        self._send(206, data[start:end + 1] if self.command == "GET" else b"", headers)

    def _list(self, key: str, query: dict[str, list[str]]) -> None:
        """A container's blobs under `prefix` (one page), folded into <BlobPrefix> at the next `delimiter`."""
        e = self.owner
        prefix, delimiter = query.get("prefix", [""])[0], query.get("delimiter", [""])[0]
        container = "/" + key.strip("/").split("/")[0] + "/"
        sizes = {k[len(container):]: len(v[0]) for k, v in list(e.blobs.items()) if k.startswith(container + prefix)}
        if container == f"/{CONTAINER}/":
            sizes.update({name: len(content) for name, content in output_blobs(e, prefix).items()})
        items, folders = [], set()
        for name in sorted(sizes):
            cut = name.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                folders.add(name[:cut + len(delimiter)])
                continue
            items.append(f"<Blob><Name>{escape(name)}</Name><Properties><Last-Modified>{LAST_MODIFIED}</Last-Modified>"
                         f"<Content-Length>{sizes[name]}</Content-Length><Content-Type>application/octet-stream"
                         "</Content-Type><BlobType>BlockBlob</BlobType></Properties><Metadata /></Blob>")
        items += [f"<BlobPrefix><Name>{escape(folder)}</Name></BlobPrefix>" for folder in sorted(folders)]
        xml = (f'<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Prefix>{escape(prefix)}</Prefix>'
               f"<Blobs>{''.join(items)}</Blobs><NextMarker /></EnumerationResults>")
        self._send(200, xml.encode(), {"Content-Type": "application/xml"})

