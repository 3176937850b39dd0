"""HylaFAX through its client-server protocol (hfaxd, port 4559), with stdlib sockets.

The protocol is FTP-like: a control connection of text commands and numeric replies, and passive
data connections for documents and listings. A fax is sent as: USER, TYPE I, PASV + STOT (upload
the PDF to a server temporary file), JNEW, JPARM ... (dial string, document, tag), JSUBM. Status
is JOB <id> + JPARM STATE; cancel is JKILL. The idempotency key rides along as the job tag
(JPARM JOBINFO), so a retried submission first lists the send and done queues for its tag and
returns the job it already made (the outbox delivers at least once).
"""

from __future__ import annotations

import hashlib
import re
import socket
from types import TracebackType

from gateway.notify.fax.base import FaxError, FaxJobNotFound, FaxState

# hfaxd's job states (JPARM STATE) mapped onto the port's four.
STATES: dict[str, FaxState] = {
    "ACTIVE": "sending",
    "DONE": "delivered",
    "FAILED": "failed",
}
_PASV = re.compile(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)")
_FILE = re.compile(r"FILE: ([^\s)]+)")
_JOB = re.compile(r"[Jj]ob(?:id:)? (\d+)")


class HylaFaxError(FaxError):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"hfaxd {code}: {text}")
        self.code = code


def job_tag(job_key: str) -> str:
    # A hash, not the key itself: the tag is shown in the server's queue listings.
    return "gw-" + hashlib.sha256(job_key.encode()).hexdigest()[:24]


class _Control:
    """One logged-in control connection."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host = host
        self.timeout = timeout
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise FaxError(f"cannot reach hfaxd at {host}:{port}: {exc}") from exc
        self.file = self.sock.makefile("rb")
        self.expect(self.reply(), 220)

    def close(self) -> None:
        try:
            self.sock.sendall(b"QUIT\r\n")
        except OSError:
            pass
        self.file.close()
        self.sock.close()

    def __enter__(self) -> _Control:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def reply(self) -> tuple[int, str]:
        """One reply, multi-line ones (`123-` ... `123 `) joined."""
        lines = []
        first = self._line()
        lines.append(first)
        if first[3:4] == "-":
            while True:
                line = self._line()
                lines.append(line)
                if line[:3] == first[:3] and line[3:4] == " ":
                    break
        try:
            code = int(first[:3])
        except ValueError as exc:
            raise FaxError(f"hfaxd sent a malformed reply: {first[:60]!r}") from exc
        return code, "\n".join(lines)

    def _line(self) -> str:
        try:
            raw = self.file.readline(8192)
        except OSError as exc:
            raise FaxError(f"hfaxd connection failed: {exc}") from exc
        if not raw:
            raise FaxError("hfaxd closed the connection")
        return raw.decode("latin-1").rstrip("\r\n")

    def send(self, command: str) -> tuple[int, str]:
        if "\r" in command or "\n" in command:
            raise ValueError("a protocol command is one line")
        try:
            self.sock.sendall(command.encode("latin-1") + b"\r\n")
        except OSError as exc:
            raise FaxError(f"hfaxd connection failed: {exc}") from exc
        return self.reply()

    @staticmethod
    def expect(reply: tuple[int, str], *codes: int) -> str:
        code, text = reply
        if code not in codes:
            raise HylaFaxError(code, text)
        return text

    def command(self, command: str, *codes: int) -> str:
        return self.expect(self.send(command), *(codes or (200,)))

    def passive(self) -> socket.socket:
        text = self.command("PASV", 227)
        match = _PASV.search(text)
        if not match:
            raise FaxError("hfaxd sent no passive address")
        numbers = [int(n) for n in match.groups()]
        # Connect to the host we reached, not the address the server reports (NAT, 0.0.0.0).
        try:
            return socket.create_connection(
                (self.host, numbers[4] * 256 + numbers[5]), timeout=self.timeout
            )
        except OSError as exc:
            raise FaxError(f"hfaxd data connection failed: {exc}") from exc

    def upload(self, data: bytes) -> str:
        """STOT: store `data` in a server temporary file; its name."""
        channel = self.passive()
        with channel:
            preliminary = self.expect(self.send("STOT"), 150, 125)
            channel.sendall(data)
        final = self.expect(self.reply(), 226, 250)
        match = _FILE.search(final) or _FILE.search(preliminary)
        if not match:
            raise FaxError("hfaxd did not name the stored document")
        return match.group(1)

    def listing(self, directory: str) -> list[str]:
        channel = self.passive()
        chunks = []
        with channel:
            self.expect(self.send(f"LIST {directory}"), 150, 125)
            while chunk := channel.recv(65536):
                chunks.append(chunk)
        self.expect(self.reply(), 226, 250)
        return b"".join(chunks).decode("latin-1").splitlines()


def _quote(value: str) -> str:
    return '"' + value.replace('"', "") + '"'


class HylaFaxGateway:
    name = "hylafax"

    def __init__(
        self,
        host: str,
        port: int = 4559,
        user: str = "gateway",
        password: str | None = None,
        *,
        timeout: float = 30.0,
        max_tries: int = 3,
        kill_time: str = "000259",  # JPARM LASTTIME, DDHHMM: give up after 2 h 59 min
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.timeout = timeout
        self.max_tries = max_tries
        self.kill_time = kill_time

    def _login(self) -> _Control:
        control = _Control(self.host, self.port, self.timeout)
        try:
            code, text = control.send(f"USER {self.user}")
            if code == 331:
                code, text = control.send(f"PASS {self.password or ''}")
            control.expect((code, text), 230)
            control.command("TYPE I")
        except BaseException:
            control.close()
            raise
        return control

    def find(self, job_key: str) -> str | None:
        """The server job already made for `job_key`, if it is still queued or done."""
        with self._login() as control:
            return self._find(control, job_tag(job_key))

    def _find(self, control: _Control, tag: str) -> str | None:
        control.command('JOBFMT "%j|%J"')
        for queue in ("sendq", "doneq"):
            for line in control.listing(queue):
                job_id, _, info = line.strip().partition("|")
                if info.strip() == tag:
                    return job_id.strip()
        return None

    def submit(self, job_key: str, number: str, pdf: bytes) -> str:
        tag = job_tag(job_key)
        with self._login() as control:
            existing = self._find(control, tag)
            if existing:
                return existing
            document = control.upload(pdf)
            job_id = _JOB.search(control.command("JNEW"))
            if not job_id:
                raise FaxError("hfaxd did not name the new job")
            for parameter, value in (
                ("FROMUSER", _quote(self.user)),
                ("DIALSTRING", _quote(number)),
                ("JOBINFO", _quote(tag)),
                ("MAXTRIES", str(self.max_tries)),
                ("LASTTIME", _quote(self.kill_time)),
                ("SENDTIME", _quote("NOW")),
                ("NOTIFY", _quote("none")),
                ("DOCUMENT", _quote(document)),
            ):
                control.command(f"JPARM {parameter} {value}", 200, 213)
            control.command("JSUBM")
            return job_id.group(1)

    def status(self, fax_id: str) -> FaxState:
        with self._login() as control:
            self._select(control, fax_id)
            text = control.command("JPARM STATE", 213)
            word = text[4:].strip().upper()
            return STATES.get(word, "queued")

    def cancel(self, fax_id: str) -> None:
        with self._login() as control:
            self._select(control, fax_id)
            code, text = control.send(f"JKILL {fax_id}")
            # 504: the job is already done or failed; nothing left to cancel.
            if code not in (200, 504):
                raise HylaFaxError(code, text)

    @staticmethod
    def _select(control: _Control, fax_id: str) -> None:
        if not fax_id.isdigit():
            raise FaxJobNotFound(fax_id)
        code, text = control.send(f"JOB {fax_id}")
        if code == 500:
            raise FaxJobNotFound(fax_id)
        control.expect((code, text), 200)
