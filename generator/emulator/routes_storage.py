"""The local workspace's blob storage: the calls of a local-file upload (HEAD, GET, list, PUT, metadata).

A mixin of the workspace's request handler (generator/emulator/workspace.py).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs

from generator.emulator.routes_arm import UPLOAD_PREFIX


class StorageRoutes:
    """Blobs of the workspace's storage account, kept in the Emulator's memory."""

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
            stored = e.blobs.get(key)
            if stored is None:
                self._send(404, b"", {"x-ms-error-code": "BlobNotFound"})
            else:
                self._send(200, stored[0] if self.command == "GET" else b"",
                           {f"x-ms-meta-{k}": v for k, v in stored[1].items()}
                           | {"Content-Type": "application/octet-stream"})
        elif self.command == "GET" and query.get("comp") == ["list"]:
            prefix = query.get("prefix", [""])[0]
            container = "/" + key.strip("/").split("/")[0] + "/"
            names = [k[len(container):] for k in e.blobs if k.startswith(container + prefix)]
            items = "".join(f"<Blob><Name>{n}</Name><Properties><Content-Length>{len(e.blobs[container + n][0])}"
                            f"</Content-Length></Properties></Blob>" for n in names)
            xml = (f'<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Prefix>{prefix}</Prefix>'
                   f"<Blobs>{items}</Blobs><NextMarker /></EnumerationResults>")
            self._send(200, xml.encode(), {"Content-Type": "application/xml"})
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
