"""A small HTTP server on 127.0.0.1 answering like S3 Control for S3 Batch Operations jobs:
`CreateJob` (POST /v20180820/jobs, a REST-XML body) and `DescribeJob` (GET
/v20180820/jobs/<id>). It keeps what it was sent, checks what S3 Control requires of every
request (the account as the host's first label and in `x-amz-account-id`, a SigV4 signature
for the `s3` service in the request's region), and answers with S3 Control's XML, or with its
error XML when told to refuse.

Clients reach it as their HTTP proxy (`HTTP_PROXY`), with an endpoint such as
`http://s3-control.test`: botocore sends `<account>.s3-control.test`, which no resolver
needs to know, and the server sees the whole URL."""

from __future__ import annotations

import contextlib
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.support.local_http import serving

NS = "http://awss3control.amazonaws.com/doc/2018-08-20/"
JOBS = "/v20180820/jobs"


def _plain(element: ET.Element) -> Any:
    """An XML element as dict/list/str, namespaces dropped (lists: repeated `member`s)."""
    children = list(element)
    if not children:
        return element.text or ""
    tags = [c.tag.split("}")[-1] for c in children]
    if (len(set(tags)) == 1 and len(tags) > 1) or tags == ["member"]:
        return [_plain(c) for c in children]
    return {tag: _plain(c) for tag, c in zip(tags, children, strict=True)}


@dataclass
class S3ControlServer:
    endpoint: str
    region: str
    account: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Every request: method, path, headers, and the parsed body of a CreateJob."""
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    refuse: tuple[int, str, str] | None = None
    """(HTTP status, error code, message) to answer every request with."""
    status: str = "Active"
    progress: tuple[int, int, int] = (10_000, 1_234, 3)
    """(total, succeeded, failed) tasks DescribeJob reports."""


def _handler(server: S3ControlServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _answer(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amz-request-id", uuid.uuid4().hex)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, code: str, message: str) -> None:
            self._answer(
                status,
                f"<ErrorResponse><Error><Code>{code}</Code><Message>{message}</Message>"
                "</Error></ErrorResponse>",
            )

        def _path(self) -> str:
            return urlsplit(self.path).path

        def _checked(self, body: bytes) -> bool:
            record = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode() if body else "",
            }
            server.requests.append(record)
            auth = self.headers.get("Authorization", "")
            if (
                not auth.startswith("AWS4-HMAC-SHA256 ")
                or f"/{server.region}/s3/aws4_request" not in auth
            ):
                self._error(403, "SignatureDoesNotMatch", f"not signed for s3 in {server.region}")
                return False
            host = urlsplit(self.path).hostname or self.headers.get("Host") or ""
            if (
                host.split(".")[0] != server.account
                or self.headers.get("x-amz-account-id") != server.account
            ):
                self._error(403, "AccessDenied", "x-amz-account-id is not this account")
                return False
            if server.refuse is not None:
                self._error(*server.refuse)
                return False
            return True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self._checked(body):
                return
            if self._path() != JOBS:
                self._error(404, "NotFound", self.path)
                return
            root = ET.fromstring(body)
            if root.tag != f"{{{NS}}}CreateJobRequest":
                self._error(400, "MalformedXML", root.tag)
                return
            request = _plain(root)
            server.requests[-1]["job"] = request
            token = request.get("ClientRequestToken")
            job_id = next(
                (j for j, job in server.jobs.items() if job.get("ClientRequestToken") == token),
                None,
            ) or str(uuid.uuid4())
            server.jobs[job_id] = request
            self._answer(
                200,
                f'<CreateJobResult xmlns="{NS}"><JobId>{job_id}</JobId></CreateJobResult>',
            )

        def do_GET(self) -> None:
            if not self._checked(b""):
                return
            path = self._path()
            job_id = path.removeprefix(f"{JOBS}/")
            job = server.jobs.get(job_id)
            if not path.startswith(f"{JOBS}/") or job is None:
                self._error(404, "NoSuchJob", f"The specified job does not exist: {job_id}")
                return
            total, done, failed = server.progress
            report = job.get("Report") or {}
            report_xml = "".join(f"<{k}>{v}</{k}>" for k, v in report.items())
            failures = (
                "<FailureReasons><JobFailure><FailureCode>InternalError</FailureCode>"
                "<FailureReason>Job failed</FailureReason></JobFailure></FailureReasons>"
                if server.status == "Failed"
                else ""
            )
            self._answer(
                200,
                f'<DescribeJobResult xmlns="{NS}"><Job><JobId>{job_id}</JobId>'
                f"<Description>{job.get('Description', '')}</Description>"
                f"<Status>{server.status}</Status><Priority>{job.get('Priority')}</Priority>"
                f"<RoleArn>{job.get('RoleArn')}</RoleArn>"
                f"<ProgressSummary><TotalNumberOfTasks>{total}</TotalNumberOfTasks>"
                f"<NumberOfTasksSucceeded>{done}</NumberOfTasksSucceeded>"
                f"<NumberOfTasksFailed>{failed}</NumberOfTasksFailed>"
                "<Timers><ElapsedTimeInActiveSeconds>3720</ElapsedTimeInActiveSeconds></Timers>"
                f"</ProgressSummary><Report>{report_xml}</Report>{failures}</Job>"
                "</DescribeJobResult>",
            )

    return Handler


@contextlib.contextmanager
def s3control_server(region: str, account: str) -> Iterator[S3ControlServer]:
    """The server on a free port of 127.0.0.1 for the duration of the block."""
    state = S3ControlServer(endpoint="", region=region, account=account)
    with serving(_handler(state)) as url:
        state.endpoint = url
        yield state
